package cli

import (
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/skiff-dev/skiff/internal/instance"
)

// StatusOptions are skiff status's flags.
type StatusOptions struct {
	g      *globals
	Output string // "" (a table), json or yaml
}

// NewCmdStatus builds skiff status; runF, if not nil, runs instead of
// statusRun.
func NewCmdStatus(g *globals, runF func(*StatusOptions) error) *cobra.Command {
	opts := &StatusOptions{g: g}
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show whether skiff runs, its API address, kubeconfig and versions",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			if runF != nil {
				return runF(opts)
			}
			return statusRun(opts)
		},
	}
	cmd.Flags().StringVarP(&opts.Output, "output", "o", "", "output format: json or yaml")
	return cmd
}

func statusRun(opts *StatusOptions) error {
	layout, err := opts.g.layout()
	if err != nil {
		return err
	}
	st, err := instance.GetStatus(layout)
	if err != nil {
		return err
	}
	if done, err := printObject(opts.g.stdout, opts.Output, st); done {
		return err
	}
	tw := tabwriter.NewWriter(opts.g.stdout, 0, 4, 2, ' ', 0)
	state := "stopped"
	switch {
	case st.Running && st.APIReady:
		state = fmt.Sprintf("running (pid %d) since %s", st.PID, st.StartedAt.Format(time.RFC3339))
	case st.Running:
		state = fmt.Sprintf("running (pid %d), API not ready: %s", st.PID, st.APIError)
	}
	fmt.Fprintf(tw, "DATA DIR\t%s\n", st.DataDir)
	fmt.Fprintf(tw, "STATE\t%s\n", state)
	if st.Running {
		fmt.Fprintf(tw, "API SERVER\t%s\n", st.APIServer)
		fmt.Fprintf(tw, "KUBECONFIG\t%s\n", st.Kubeconfig)
	}
	v := st.Versions
	fmt.Fprintf(tw, "VERSIONS\tskiff %s, kubernetes %s, etcd %s, %s\n", v.Skiff, v.Kubernetes, v.Etcd, v.Go)
	return tw.Flush()
}
