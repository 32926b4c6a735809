package cli

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mlv1 "github.com/skiff-dev/skiff/apis/ml/v1alpha1"
	"github.com/skiff-dev/skiff/internal/controllers/experiment"
	"github.com/skiff-dev/skiff/internal/progress"
	"github.com/skiff-dev/skiff/internal/tune/spec"
)

// TuneOptions are skiff tune's flags and argument.
type TuneOptions struct {
	g          *globals
	ctx        context.Context
	Request    spec.Request
	Kubeconfig string
	DryRun     bool
	Output     string
	Timeout    time.Duration
}

// NewCmdTune builds skiff tune; runF, if not nil, runs instead of
// tuneRun.
func NewCmdTune(g *globals, runF func(*TuneOptions) error) *cobra.Command {
	opts := &TuneOptions{g: g, Timeout: time.Hour, Request: spec.Request{Trials: 30, Parallel: 3, MaxFailed: 3, Algorithm: "tpe", Python: "python3"}}
	cmd := &cobra.Command{
		Use:   "tune SCRIPT --param NAME=KIND:VALUES... (--maximize|--minimize) METRIC",
		Short: "Search a training script's hyperparameters as an Experiment, with live progress",
		Long: `Run a hyperparameter search of a training script as an Experiment: each trial runs
the script with --NAME=VALUE for every --param, and reads METRIC from what it prints
(name=value lines, or JSON lines such as {"accuracy": 0.93, "step": 5}). The script's
folder reaches the trial pods read-only; on another cluster, --image names an image
holding it. Progress is shown as results arrive, then the best trials and the command
that shows the best one's log. --dry-run -o yaml prints the Experiment instead.

Parameter kinds: double:MIN:MAX, logUniform:MIN:MAX, int:MIN:MAX (a range may end with
:STEP), categorical:A,B,C and discrete:1,2,4.`,
		Example: `  skiff tune train.py --param lr=logUniform:1e-4:1e-1 --param depth=int:2:8 --maximize accuracy --trials 30 --parallel 3
  skiff tune train.py --param alpha=double:0:1 --minimize loss --algorithm random --early-stopping medianstop
  skiff tune train.py --param lr=logUniform:1e-4:1e-1 --maximize accuracy --dry-run -o yaml > experiment.yaml
  skiff tune status train`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.ctx, opts.Request.Script = cmd.Context(), args[0]
			if runF != nil {
				return runF(opts)
			}
			return tuneRun(opts)
		},
	}
	f := cmd.Flags()
	r := &opts.Request
	f.StringVar(&r.Name, "name", "", "the Experiment's name (default: from the script's file name)")
	f.StringVarP(&r.Namespace, "namespace", "n", "", "namespace (default: the kubeconfig context's)")
	f.StringArrayVar(&r.Params, "param", nil, "a parameter as NAME=KIND:VALUES (repeat for each)")
	f.StringVar(&r.Maximize, "maximize", "", "the metric to maximize")
	f.StringVar(&r.Minimize, "minimize", "", "the metric to minimize")
	f.Int32Var(&r.Trials, "trials", r.Trials, "trials in all (maxTrialCount)")
	f.Int32Var(&r.Parallel, "parallel", r.Parallel, "trials at once (parallelTrialCount)")
	f.Int32Var(&r.MaxFailed, "max-failed", r.MaxFailed, "end the search once more trials than this have failed")
	f.StringVar(&r.Algorithm, "algorithm", r.Algorithm, "grid, random, sobol, tpe, hyperband or asha")
	f.StringVar(&r.EarlyStopping, "early-stopping", "", "medianstop: stop trials whose intermediate values fall behind")
	f.StringVar(&r.Seed, "seed", "", "the algorithm's random_state, for a reproducible search")
	f.StringVar(&r.Image, "image", "", "an image holding the script (default: the script's folder, on skiff's node)")
	f.StringVar(&r.Python, "python", r.Python, "the program that runs the script")
	f.StringVar(&opts.Kubeconfig, "kubeconfig", "", "kubeconfig of the cluster (default: $KUBECONFIG or ~/.kube/config)")
	f.BoolVar(&opts.DryRun, "dry-run", false, "print the Experiment (with -o yaml|json) instead of running it")
	f.StringVarP(&opts.Output, "output", "o", "", "print the Experiment as yaml or json")
	f.DurationVar(&opts.Timeout, "timeout", opts.Timeout, "how long to wait for the search to end")
	cmd.AddCommand(newCmdTuneStatus(g))
	return cmd
}

func tuneRun(opts *TuneOptions) error {
	if opts.Output != "" && opts.Output != "json" && opts.Output != "yaml" {
		return fmt.Errorf("unknown output format %q: use -o json or -o yaml, or leave -o out", opts.Output)
	}
	req := &opts.Request
	dir, err := scriptDir(req.Script)
	if err != nil && req.Image == "" {
		return err
	}
	req.Name = cmp.Or(req.Name, spec.NameFor(req.Script))
	cfg, ns, err := clusterConfig(opts.Kubeconfig, req.Namespace)
	if err != nil && !opts.DryRun {
		return err
	}
	req.Namespace = cmp.Or(ns, "default")
	exp, err := spec.Build(*req, dir)
	if err != nil {
		return err
	}
	if opts.DryRun {
		if printed, err := printObject(opts.g.stdout, opts.Output, exp); printed {
			return err
		}
		_, err := fmt.Fprintf(opts.g.stdout, "experiment.ml.skiff.dev/%s created (dry run)\n", exp.Name)
		return err
	}
	c, err := mlClient(cfg)
	if err != nil {
		return err
	}
	if err := c.Create(opts.ctx, exp); err != nil {
		if apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("experiment %s/%s exists: give another --name, or see it with skiff tune status %s (kubectl delete experiment %s removes it)", exp.Namespace, exp.Name, exp.Name, exp.Name)
		}
		return fmt.Errorf("creating experiment %s/%s: %w", exp.Namespace, exp.Name, err)
	}
	report := opts.g.reporter()
	report.Info("experiment %s/%s: %d trials, %d at a time, %s", exp.Namespace, exp.Name, req.Trials, req.Parallel, req.Algorithm)
	show := tuneProgress{opts: opts, c: c, report: report}
	if width, ok := terminal(opts.g.stderr); ok && !opts.g.quiet {
		show.live = spec.NewLive(opts.g.stderr, width)
	}
	exp, err = spec.Wait(opts.ctx, c, client.ObjectKeyFromObject(exp), opts.Timeout, show.update)
	show.done()
	if err != nil {
		return err
	}
	return printTuned(opts, c, exp)
}

// tuneProgress shows a running search: on a terminal a bar and the best
// trials redrawn in place, otherwise a line each time the counts change.
type tuneProgress struct {
	opts   *TuneOptions
	c      client.Client
	report *progress.Reporter
	live   *spec.Live
}

func (p *tuneProgress) update(exp *mlv1.Experiment) {
	if p.live == nil {
		p.report.Info("%s", spec.Progress(exp))
		return
	}
	trials, err := listTrials(p.opts.ctx, p.c, exp)
	if err != nil {
		_ = p.live.Clear() // the warning must not land inside the frame
		p.report.Warn("listing the trials of %s: %v", exp.Name, err)
	}
	_ = p.live.Draw(exp, spec.Best(exp, trials, 5))
}

// done takes the live frame away: the summary printed next replaces it.
func (p *tuneProgress) done() {
	if p.live != nil {
		_ = p.live.Clear()
	}
}

// terminal says whether w is a terminal, where redrawing in place works,
// and how wide it is (0 when it does not say).
func terminal(w io.Writer) (width int, ok bool) {
	f, isFile := w.(*os.File)
	if !isFile || !term.IsTerminal(int(f.Fd())) {
		return 0, false
	}
	width, _, err := term.GetSize(int(f.Fd()))
	if err != nil {
		width = 0
	}
	return width, true
}

func listTrials(ctx context.Context, c client.Client, exp *mlv1.Experiment) ([]mlv1.Trial, error) {
	var trials mlv1.TrialList
	err := c.List(ctx, &trials, client.InNamespace(exp.Namespace), client.MatchingLabels{experiment.LabelExperiment: exp.Name})
	return trials.Items, err
}

// scriptDir is the folder of a script that exists.
func scriptDir(script string) (string, error) {
	abs, err := filepath.Abs(script)
	if err != nil {
		return "", err
	}
	if fi, err := os.Stat(abs); err != nil || fi.IsDir() {
		return "", fmt.Errorf("training script %s: not a file (give the script skiff tune runs, or --image with one that holds it)", script)
	}
	return filepath.Dir(abs), nil
}

// printTuned shows how the search ended, its best trials and where the
// best one's log is.
func printTuned(opts *TuneOptions, c client.Client, exp *mlv1.Experiment) error {
	if printed, err := printObject(opts.g.stdout, opts.Output, exp); printed {
		return err
	}
	trials, err := listTrials(opts.ctx, c, exp)
	if err != nil {
		return err
	}
	end := spec.Ended(exp)
	w := opts.g.stdout
	if end != nil {
		fmt.Fprintf(w, "%s %s: %s\n", exp.Name, end.Reason, end.Message)
	}
	best := spec.Best(exp, trials, 5)
	if len(best) == 0 {
		fmt.Fprintf(w, "no trial succeeded: kubectl describe trials -l %s=%s says why\n", experiment.LabelExperiment, exp.Name)
		if end != nil && end.Type == "Failed" {
			return fmt.Errorf("experiment %s failed: %s", exp.Name, end.Message)
		}
		return nil
	}
	if err := spec.Table(w, exp, best); err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "best: %s (%s)\nits log: kubectl logs -n %s job/%s\n", best[0].Name, best[0].Status.ParametersSummary, exp.Namespace, best[0].Name)
	return err
}

// newCmdTuneStatus builds skiff tune status.
func newCmdTuneStatus(g *globals) *cobra.Command {
	opts := &TuneOptions{g: g}
	cmd := &cobra.Command{
		Use:   "status NAME",
		Short: "Show an Experiment's progress and its best trials",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.ctx, opts.Request.Name = cmd.Context(), args[0]
			return tuneStatusRun(opts)
		},
	}
	cmd.Flags().StringVarP(&opts.Request.Namespace, "namespace", "n", "", "namespace (default: the kubeconfig context's)")
	cmd.Flags().StringVar(&opts.Kubeconfig, "kubeconfig", "", "kubeconfig of the cluster (default: $KUBECONFIG or ~/.kube/config)")
	cmd.Flags().StringVarP(&opts.Output, "output", "o", "", "print the Experiment as yaml or json")
	return cmd
}

func tuneStatusRun(opts *TuneOptions) error {
	cfg, ns, err := clusterConfig(opts.Kubeconfig, opts.Request.Namespace)
	if err != nil {
		return err
	}
	c, err := mlClient(cfg)
	if err != nil {
		return err
	}
	var exp mlv1.Experiment
	key := client.ObjectKey{Namespace: cmp.Or(ns, "default"), Name: opts.Request.Name}
	if err := c.Get(opts.ctx, key, &exp); err != nil {
		return fmt.Errorf("experiment %s: %w", key, err)
	}
	if opts.Output == "" {
		fmt.Fprintln(opts.g.stdout, spec.Progress(&exp))
	}
	return printTuned(opts, c, &exp)
}
