package cli

import (
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/skiff-dev/skiff/internal/instance"
	"github.com/skiff-dev/skiff/internal/server"
)

// DownOptions are skiff down's flags.
type DownOptions struct {
	g       *globals
	Timeout time.Duration // how long a clean stop may take
}

// NewCmdDown builds skiff down; runF, if not nil, runs instead of downRun.
func NewCmdDown(g *globals, runF func(*DownOptions) error) *cobra.Command {
	opts := &DownOptions{g: g, Timeout: 60 * time.Second}
	cmd := &cobra.Command{
		Use:   "down",
		Short: "Stop the skiff of the data dir, detached ('skiff up -d') or running in another terminal; every object is kept for the next 'skiff up'",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			if runF != nil {
				return runF(opts)
			}
			return downRun(opts)
		},
	}
	cmd.Flags().DurationVar(&opts.Timeout, "timeout", opts.Timeout, "how long to wait for a clean stop before killing skiff")
	return cmd
}

func downRun(opts *DownOptions) error {
	layout, err := opts.g.layout()
	if err != nil {
		return err
	}
	report := opts.g.reporter()
	ran, err := instance.Stop(layout, opts.Timeout, func(s string) { report.Info("%s", s) })
	if err != nil {
		return err
	}
	// A skiff that crashed (or was killed) leaves pods' processes, links
	// and rules; they go now.
	if os.Geteuid() == 0 {
		if err := server.Cleanup(layout); err != nil {
			report.Warn("cleaning up after skiff on %s: %v", layout.Root, err)
		}
	}
	if !ran {
		fmt.Fprintf(opts.g.stdout, "skiff is not running on %s\n", layout.Root)
		return nil
	}
	fmt.Fprintf(opts.g.stdout, "skiff stopped (%s)\n", layout.Root)
	return nil
}
