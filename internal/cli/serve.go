package cli

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mlv1 "github.com/skiff-dev/skiff/apis/ml/v1alpha1"
	"github.com/skiff-dev/skiff/internal/serve"
)

// ServeOptions are skiff serve's flags and argument.
type ServeOptions struct {
	g          *globals
	ctx        context.Context
	Model      serve.Model
	Name       string
	Namespace  string
	Kubeconfig string
	Scale      serve.Scale
	ModelsDir  string
	DryRun     bool
	Output     string
	Timeout    time.Duration
}

// NewCmdServe builds skiff serve; runF, if not nil, runs instead of
// serveRun.
func NewCmdServe(g *globals, runF func(*ServeOptions) error) *cobra.Command {
	opts := &ServeOptions{g: g, Model: serve.Model{Python: "python3"}, Scale: serve.Scale{MinReplicas: 1}, Timeout: 3 * time.Minute}
	cmd := &cobra.Command{
		Use:   "serve MODEL [--name NAME] [--replicas N] [--max-replicas M]",
		Short: "Serve a model file as a REST and gRPC API (a ModelService), and wait until it answers",
		Long: `Serve an XGBoost model (Booster.save_model JSON), a scikit-learn estimator (pickled
or joblib, exported on the way, or a 'skiff export-sklearn' JSON) or a folder holding
model.json. The model is copied where skiff's node reads it (--models-dir, one folder
per content, so serving a changed file makes a new revision), a ModelService is created
or updated, and skiff waits until its new revision serves, then prints its URL and a
request to paste. --dry-run -o yaml prints the ModelService instead.`,
		Example: `  skiff serve model.json --name housing
  skiff serve forest.pkl --replicas 2 --max-replicas 5
  skiff serve model.json --dry-run -o yaml > housing.yaml`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.ctx, opts.Model.Path = cmd.Context(), args[0]
			if runF != nil {
				return runF(opts)
			}
			return serveRun(opts)
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.Name, "name", "", "the ModelService's name (default: from the file name)")
	f.StringVarP(&opts.Namespace, "namespace", "n", "", "namespace (default: the kubeconfig context's)")
	f.StringVar(&opts.Kubeconfig, "kubeconfig", "", "kubeconfig of the cluster (default: $KUBECONFIG or ~/.kube/config)")
	f.StringVar(&opts.Model.Format, "format", "", "xgboost or sklearn (default: found from the file)")
	f.Int32Var(&opts.Scale.MinReplicas, "replicas", opts.Scale.MinReplicas, "pods that serve (the minimum, with --max-replicas)")
	f.Int32Var(&opts.Scale.MaxReplicas, "max-replicas", 0, "let an autoscaler add pods up to this many (on CPU use)")
	f.StringVar(&opts.ModelsDir, "models-dir", "", "where served models are copied, readable by the node (default: ~/.cache/skiff/models)")
	f.StringVar(&opts.Model.Python, "python", opts.Model.Python, "the Python that exports pickled scikit-learn estimators")
	f.BoolVar(&opts.DryRun, "dry-run", false, "print the ModelService (with -o yaml|json) instead of serving")
	f.StringVarP(&opts.Output, "output", "o", "", "print the ModelService as yaml or json")
	f.DurationVar(&opts.Timeout, "timeout", opts.Timeout, "how long to wait for the model to serve")
	return cmd
}

func serveRun(opts *ServeOptions) error {
	if opts.Output != "" && opts.Output != "json" && opts.Output != "yaml" {
		return fmt.Errorf("unknown output format %q: use -o json or -o yaml, or leave -o out", opts.Output)
	}
	name := opts.Name
	if name == "" {
		name = serve.NameFor(opts.Model.Path)
	}
	cfg, ns, err := clusterConfig(opts.Kubeconfig, opts.Namespace)
	if err != nil && !opts.DryRun {
		return err
	}
	ns = cmp.Or(ns, "default")
	dir, err := opts.modelsDir()
	if err != nil {
		return err
	}
	opts.Model.Stdout, opts.Model.Stderr = opts.g.stderr, opts.g.stderr
	placed, err := opts.Model.Read(opts.ctx, dir, ns, name)
	if err != nil {
		return err
	}
	ms := serve.Object(ns, name, placed, opts.Scale)
	if opts.DryRun {
		fmt.Fprintf(opts.g.stderr, "dry run: the model is not copied to %s; skiff serve without --dry-run places it there\n", placed.File)
		if printed, err := printObject(opts.g.stdout, opts.Output, ms); printed {
			return err
		}
		_, err := fmt.Fprintf(opts.g.stdout, "modelservice.ml.skiff.dev/%s served from %s (dry run)\n", name, placed.URI)
		return err
	}
	if err := placed.Write(); err != nil {
		return err
	}
	c, err := mlClient(cfg)
	if err != nil {
		return err
	}
	if err := serve.Apply(opts.ctx, c, ms); err != nil {
		return err
	}
	report := opts.g.reporter()
	report.Info("modelservice %s/%s: serving %s (%s, %d features)", ns, name, placed.URI, placed.Format, placed.Features)
	ms, err = serve.Wait(opts.ctx, c, client.ObjectKeyFromObject(ms), opts.Timeout, func(s string) { report.Info("%s: %s", name, s) })
	if err != nil {
		return err
	}
	serve.Answering(opts.ctx, ms.Status.URL, 10*time.Second)
	if printed, err := printObject(opts.g.stdout, opts.Output, ms); printed {
		return err
	}
	return printServed(opts, ms, placed.Features)
}

// printServed says where the model answers, with requests to paste.
func printServed(opts *ServeOptions, ms *mlv1.ModelService, features int) error {
	zeros := strings.TrimSuffix(strings.Repeat("0,", max(features, 1)), ",")
	body := fmt.Sprintf(`{"inputs":[{"name":"input-0","shape":[1,%d],"datatype":"FP64","data":[%s]}]}`, max(features, 1), zeros)
	_, err := fmt.Fprintf(opts.g.stdout, "%s is ready at %s (revision %s, %d/%d replicas)\nTry it:\n  curl -s -H 'Content-Type: application/json' -d '%s' %s/v2/models/%s/infer\n  skiff predict %s --data '[[%s]]'\n",
		ms.Name, ms.Status.URL, ms.Status.LatestReadyRevision, ms.Status.ReadyReplicas, ms.Status.Replicas, body, ms.Status.URL, ms.Name, ms.Name, zeros)
	return err
}

// modelsDir is --models-dir, or the user's cache folder's skiff/models.
func (opts *ServeOptions) modelsDir() (string, error) {
	if opts.ModelsDir != "" {
		return filepath.Abs(opts.ModelsDir)
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("no folder for served models: %w (give one with --models-dir)", err)
	}
	return filepath.Join(cache, "skiff", "models"), nil
}
