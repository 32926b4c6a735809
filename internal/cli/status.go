package cli

import (
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/skiff-dev/skiff/internal/instance"
)

func newStatusCommand(g *globals) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show whether skiff runs, its API address, kubeconfig and versions",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			layout, err := g.layout()
			if err != nil {
				return err
			}
			st, err := instance.GetStatus(layout)
			if err != nil {
				return err
			}
			if done, err := printObject(g.stdout, output, st); done {
				return err
			}
			tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
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
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "output format: json or yaml")
	return cmd
}
