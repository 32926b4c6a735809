// Package cli holds skiff's commands, in the shape of cli/cli's: each
// command has an Options struct that its flags are bound to, a
// NewCmd<Name>(g, runF) that builds the cobra command (runF replaces the
// run function in tests of flag parsing), and a <name>Run(opts) function
// that calls into the package that does the work. No logic lives in cobra
// closures.
package cli

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/skiff-dev/skiff/internal/datadir"
	"github.com/skiff-dev/skiff/internal/node/sandbox"
	"github.com/skiff-dev/skiff/internal/progress"
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
	root := newRootCommand(&globals{stdout: stdout, stderr: stderr})
	root.SetArgs(args)
	return root.ExecuteContext(ctx)
}

// globals are what every command shares: its streams and the flags every
// command takes.
type globals struct {
	stdout    io.Writer
	stderr    io.Writer
	dataDir   string
	verbosity int  // -v: the component log's level
	quiet     bool // -q: progress shows warnings only
}

func (g *globals) layout() (datadir.Layout, error) {
	return datadir.New(g.dataDir)
}

// reporter writes progress for people to stderr, as -q says.
func (g *globals) reporter(more ...progress.Sink) *progress.Reporter {
	return progress.New(append([]progress.Sink{progress.Terminal(g.stderr, g.quiet)}, more...)...)
}

// resolveDataDir fills in the default data dir once flags are parsed.
func (g *globals) resolveDataDir() error {
	if g.dataDir != "" {
		return nil
	}
	d, err := datadir.Default()
	g.dataDir = d
	return err
}

func newRootCommand(g *globals) *cobra.Command {
	root := &cobra.Command{
		Use:               "skiff",
		Short:             "Kubernetes for machine learning, in one binary",
		Long:              "skiff runs a real single-node Kubernetes cluster in one process, with no Docker and no VM.\nRun 'skiff up' to start it, then use kubectl as usual.",
		SilenceUsage:      true,
		SilenceErrors:     true,
		PersistentPreRunE: func(*cobra.Command, []string) error { return g.resolveDataDir() },
	}
	root.SetOut(g.stdout)
	root.SetErr(g.stderr)
	pf := root.PersistentFlags()
	pf.StringVar(&g.dataDir, "data-dir", "", "data directory (default $"+datadir.EnvHome+" or ~/.skiff)")
	pf.IntVarP(&g.verbosity, "verbosity", "v", 0, "how much the component log (<data dir>/logs/kubernetes.log) says: 0 is the default, higher is chattier")
	pf.BoolVarP(&g.quiet, "quiet", "q", false, "show only warnings and errors, not progress")
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return fmt.Errorf("%w (see '%s --help')", err, cmd.CommandPath())
	})
	root.AddCommand(NewCmdUp(g, nil), NewCmdDown(g, nil), NewCmdStatus(g, nil), NewCmdVersion(g, nil), NewCmdRecommend(g, nil),
		NewCmdServeModel(g, nil), NewCmdExportSklearn(g, nil), NewCmdOperator(g, nil),
		NewCmdServe(g, nil), NewCmdPredict(g, nil), NewCmdRollout(g, nil), NewCmdGateway(g, nil), NewCmdKubeconfig(g, nil), NewCmdTune(g, nil), NewCmdModels(g, nil),
		NewCmdFetchModel(g, nil), NewCmdBatchPredict(g, nil))
	return root
}
