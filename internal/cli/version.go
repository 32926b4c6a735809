package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/skiff-dev/skiff/internal/instance"
)

func newVersionCommand(g *globals) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the versions of skiff and the components it embeds",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			v := instance.CurrentVersions()
			if done, err := printObject(g.stdout, output, v); done {
				return err
			}
			_, err := fmt.Fprintf(g.stdout, "skiff %s\nkubernetes %s\netcd %s\n%s\n", v.Skiff, v.Kubernetes, v.Etcd, v.Go)
			return err
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "output format: json or yaml")
	return cmd
}
