package cli

import (
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/skiff-dev/skiff/internal/instance"
	"github.com/skiff-dev/skiff/internal/server"
)

func newDownCommand(g *globals) *cobra.Command {
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "down",
		Short: "Stop a skiff started with 'skiff up --detach'; every object is kept for the next 'skiff up'",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			layout, err := g.layout()
			if err != nil {
				return err
			}
			ran, err := instance.Stop(layout, timeout, func(s string) { fmt.Fprintln(g.stderr, s) })
			if err != nil {
				return err
			}
			// A skiff that crashed (or was killed) leaves pods' processes,
			// links and rules; they go now.
			if os.Geteuid() == 0 {
				if err := server.Cleanup(layout); err != nil {
					fmt.Fprintf(g.stderr, "warning: cleaning up after skiff on %s: %v\n", layout.Root, err)
				}
			}
			if !ran {
				fmt.Fprintf(g.stdout, "skiff is not running on %s\n", layout.Root)
				return nil
			}
			fmt.Fprintf(g.stdout, "skiff stopped (%s)\n", layout.Root)
			return nil
		},
	}
	cmd.Flags().DurationVar(&timeout, "timeout", 60*time.Second, "how long to wait for a clean stop before killing skiff")
	return cmd
}
