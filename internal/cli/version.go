package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/skiff-dev/skiff/internal/instance"
)

// VersionOptions are skiff version's flags.
type VersionOptions struct {
	g      *globals
	Output string // "" (text), json or yaml
}

// NewCmdVersion builds skiff version; runF, if not nil, runs instead of
// versionRun.
func NewCmdVersion(g *globals, runF func(*VersionOptions) error) *cobra.Command {
	opts := &VersionOptions{g: g}
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the versions of skiff and the components it embeds",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			if runF != nil {
				return runF(opts)
			}
			return versionRun(opts)
		},
	}
	cmd.Flags().StringVarP(&opts.Output, "output", "o", "", "output format: json or yaml")
	return cmd
}

func versionRun(opts *VersionOptions) error {
	v := instance.CurrentVersions()
	if done, err := printObject(opts.g.stdout, opts.Output, v); done {
		return err
	}
	_, err := fmt.Fprintf(opts.g.stdout, "skiff %s\nkubernetes %s\netcd %s\n%s\n", v.Skiff, v.Kubernetes, v.Etcd, v.Go)
	return err
}
