// Package cli holds skiff's commands. Each command parses its flags and
// calls into the package that does the work; no logic lives here.
package cli

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/skiff-dev/skiff/internal/datadir"
	"github.com/skiff-dev/skiff/internal/node/sandbox"
)

// Main runs skiff with args and returns the process exit code.
func Main(args []string) int {
	// A re-executed skiff that is a pod's sandbox only builds the
	// container's view and becomes its command; it returns on failure.
	if spec := os.Getenv(sandbox.EnvSpec); spec != "" {
		err := sandbox.Child(spec)
		fmt.Fprintln(os.Stderr, "skiff sandbox:", err)
		return sandbox.ExitStartError
	}
	if err := Run(context.Background(), args, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		return 1
	}
	return 0
}

// Run executes the skiff command line.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	root := newRootCommand(stdout, stderr)
	root.SetArgs(args)
	return root.ExecuteContext(ctx)
}

// globals are the flags every command takes.
type globals struct {
	dataDir string
	stdout  io.Writer
	stderr  io.Writer
}

func (g *globals) layout() (datadir.Layout, error) {
	return datadir.New(g.dataDir)
}

func newRootCommand(stdout, stderr io.Writer) *cobra.Command {
	g := &globals{stdout: stdout, stderr: stderr}
	root := &cobra.Command{
		Use:           "skiff",
		Short:         "Kubernetes for machine learning, in one binary",
		Long:          "skiff runs a real single-node Kubernetes cluster in one process, with no Docker and no VM.\nRun 'skiff up' to start it, then use kubectl as usual.",
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			if g.dataDir != "" {
				return nil
			}
			d, err := datadir.Default()
			g.dataDir = d
			return err
		},
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.PersistentFlags().StringVar(&g.dataDir, "data-dir", "", "data directory (default $"+datadir.EnvHome+" or ~/.skiff)")
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return fmt.Errorf("%w (see '%s --help')", err, cmd.CommandPath())
	})
	root.AddCommand(newUpCommand(g), newDownCommand(g), newStatusCommand(g), newVersionCommand(g), newRecommendCommand(g),
		newServeModelCommand(g), newExportSklearnCommand(g))
	return root
}
