package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mlv1 "github.com/skiff-dev/skiff/apis/ml/v1alpha1"
	"github.com/skiff-dev/skiff/internal/model"
)

// ModelsOptions are the flags every skiff models verb shares.
type ModelsOptions struct {
	g          *globals
	ctx        context.Context
	Namespace  string
	Kubeconfig string
	Output     string
}

func (o *ModelsOptions) bind(cmd *cobra.Command, output bool) {
	f := cmd.Flags()
	f.StringVarP(&o.Namespace, "namespace", "n", "", "namespace (default: the kubeconfig context's)")
	f.StringVar(&o.Kubeconfig, "kubeconfig", "", "kubeconfig of the cluster (default: $KUBECONFIG or ~/.kube/config)")
	if output {
		f.StringVarP(&o.Output, "output", "o", "", "json or yaml (default: a table)")
	}
}

func (o *ModelsOptions) client() (client.Client, string, error) {
	cfg, ns, err := clusterConfig(o.Kubeconfig, o.Namespace)
	if err != nil {
		return nil, "", err
	}
	c, err := mlClient(cfg)
	return c, ns, err
}

// ModelsRunners replace the verbs' run functions (tests read the parsed
// options); nil, or a nil field, runs the real one.
type ModelsRunners struct {
	Push  func(*ModelsPushOptions) error
	Alias func(*ModelsAliasOptions) error
	// Show runs list, versions and history, named by verb.
	Show func(verb string, opts *ModelsShowOptions) error
}

func (r *ModelsRunners) push() func(*ModelsPushOptions) error {
	if r == nil || r.Push == nil {
		return modelsPushRun
	}
	return r.Push
}

func (r *ModelsRunners) alias() func(*ModelsAliasOptions) error {
	if r == nil || r.Alias == nil {
		return modelsAliasRun
	}
	return r.Alias
}

func (r *ModelsRunners) show(verb string, run func(*ModelsShowOptions) error) func(*ModelsShowOptions) error {
	if r == nil || r.Show == nil {
		return run
	}
	return func(o *ModelsShowOptions) error { return r.Show(verb, o) }
}

// NewCmdModels builds skiff models and its verbs; runners, if not nil,
// replace their run functions.
func NewCmdModels(g *globals, runners *ModelsRunners) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "models",
		Short: "Register model versions, move aliases, and read a model's history",
		Long: `The model registry is Kubernetes objects: a Model (with aliases such as champion: 3)
and its ModelVersions, numbered 1, 2, ... in the order they were registered. A
ModelService with storageUri models:/<model>@<alias> serves what the alias points at, so
moving an alias releases a version (and moving it back rolls back).`,
	}
	cmd.AddCommand(newCmdModelsPush(g, runners), newCmdModelsAlias(g, runners), newCmdModelsList(g, runners),
		newCmdModelsVersions(g, runners), newCmdModelsHistory(g, runners))
	return cmd
}

// ModelsPushOptions are skiff models push's flags and argument.
type ModelsPushOptions struct {
	ModelsOptions
	Path        string
	Name        string
	Alias       string
	Format      string
	Description string
	Python      string
	DryRun      bool
	Timeout     time.Duration
}

func newCmdModelsPush(g *globals, runners *ModelsRunners) *cobra.Command {
	opts := &ModelsPushOptions{ModelsOptions: ModelsOptions{g: g}, Python: "python3", Timeout: 5 * time.Minute}
	cmd := &cobra.Command{
		Use:   "push FILE|DIR --name MODEL [--alias ALIAS]",
		Short: "Register a model file as the next version of a model",
		Long: `Registers FILE (an XGBoost save_model JSON, skiff's scikit-learn export, or a pickled
or joblib scikit-learn estimator, which is exported first as export-sklearn does) or DIR
(holding model.json) as a new ModelVersion, creating the Model if need be, and waits
until the registry has copied, loaded and numbered it. --alias then points the alias at
it. The registry reads the file from where it is: on skiff's node for skiff up.`,
		Example: `  skiff models push model.json --name housing
  skiff models push forest.pkl --name housing --alias challenger
  skiff models push model.json --name housing --dry-run -o yaml`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.ctx, opts.Path = cmd.Context(), args[0]
			return runners.push()(opts)
		},
	}
	opts.bind(cmd, true)
	f := cmd.Flags()
	f.StringVar(&opts.Name, "name", "", "the model's name (required)")
	f.StringVar(&opts.Alias, "alias", "", "point this alias at the new version once it is registered")
	f.StringVar(&opts.Format, "format", "", "xgboost or sklearn (default: read from the file)")
	f.StringVar(&opts.Description, "description", "", "the version's description")
	f.StringVar(&opts.Python, "python", opts.Python, "the Python with the scikit-learn that fitted a pickled model")
	f.BoolVar(&opts.DryRun, "dry-run", false, "print the ModelVersion (with -o yaml|json) instead of creating it")
	f.DurationVar(&opts.Timeout, "timeout", opts.Timeout, "how long to wait for the registry")
	_ = cmd.MarkFlagRequired("name")
	return cmd
}

func modelsPushRun(opts *ModelsPushOptions) error {
	if opts.Output != "" && opts.Output != "json" && opts.Output != "yaml" {
		return fmt.Errorf("unknown output format %q: use -o json or -o yaml, or leave -o out", opts.Output)
	}
	src, format, cleanup, err := pushSource(opts)
	if err != nil {
		return err
	}
	defer cleanup()
	c, ns, err := opts.client()
	if err != nil && !opts.DryRun {
		return err
	}
	v := &mlv1.ModelVersion{
		TypeMeta:   metav1.TypeMeta{APIVersion: mlv1.GroupVersion.String(), Kind: "ModelVersion"},
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, GenerateName: opts.Name + "-"},
		Spec: mlv1.ModelVersionSpec{Model: opts.Name, ModelFormat: mlv1.ModelFormat{Name: format},
			Source: mlv1.ModelVersionSource{StorageURI: "file://" + src}, Description: opts.Description},
	}
	if opts.DryRun {
		if printed, err := printObject(opts.g.stdout, opts.Output, v); printed {
			return err
		}
		_, err := fmt.Fprintf(opts.g.stdout, "modelversion.ml.skiff.dev/%s* created (dry run)\n", v.GenerateName)
		return err
	}
	if err := ensureModel(opts.ctx, c, ns, opts.Name, opts.g); err != nil {
		return err
	}
	if err := c.Create(opts.ctx, v); err != nil {
		return fmt.Errorf("registering %s as a version of model %s/%s: %w", opts.Path, ns, opts.Name, err)
	}
	report := opts.g.reporter()
	report.Info("modelversion %s/%s: the registry is copying and loading %s", ns, v.Name, opts.Path)
	if v, err = waitRegistered(opts.ctx, c, client.ObjectKeyFromObject(v), opts.Timeout); err != nil {
		return err
	}
	fmt.Fprintf(opts.g.stdout, "modelversion/%s registered: version %d of model %s (%s, %d bytes)\n", v.Name, v.Status.Version, opts.Name, v.Status.Checksum, v.Status.Size)
	if opts.Alias == "" {
		return nil
	}
	return moveAlias(opts.ctx, c, ns, opts.Name, opts.Alias, v.Status.Version, opts.g)
}

// pushSource is the absolute path the registry reads and its format; a
// pickle is exported to JSON first, next to nothing of the user's, and
// removed once registered (the registry keeps its own copy).
func pushSource(opts *ModelsPushOptions) (string, string, func(), error) {
	noop := func() {}
	path, err := filepath.Abs(opts.Path)
	if err != nil {
		return "", "", noop, err
	}
	info, err := os.Stat(path)
	if err != nil {
		return "", "", noop, fmt.Errorf("model file: %w", err)
	}
	file := path
	if info.IsDir() {
		file = filepath.Join(path, "model.json")
	}
	if ext := strings.ToLower(filepath.Ext(file)); ext == ".pkl" || ext == ".pickle" || ext == ".joblib" {
		dir, err := os.MkdirTemp("", "skiff-push-")
		if err != nil {
			return "", "", noop, err
		}
		cleanup := func() { os.RemoveAll(dir) }
		// The registry reads it as another user, possibly: world-readable.
		if err := os.Chmod(dir, 0o755); err != nil {
			cleanup()
			return "", "", noop, err
		}
		out := filepath.Join(dir, "model.json")
		e := model.Export{Python: opts.Python, Model: file, Out: out, Stdout: opts.g.stderr, Stderr: opts.g.stderr}
		if err := e.Run(opts.ctx); err != nil {
			cleanup()
			return "", "", noop, err
		}
		return out, model.FormatSklearn, cleanup, nil
	}
	if opts.Format != "" {
		return path, opts.Format, noop, nil
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return "", "", noop, fmt.Errorf("model file: %w", err)
	}
	format, err := model.Detect(data)
	if err != nil {
		return "", "", noop, fmt.Errorf("%s: %w (or give --format)", file, err)
	}
	return path, format, noop, nil
}

// ensureModel creates the Model if it does not exist.
func ensureModel(ctx context.Context, c client.Client, ns, name string, g *globals) error {
	m := &mlv1.Model{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	err := c.Create(ctx, m)
	switch {
	case err == nil:
		fmt.Fprintf(g.stdout, "model/%s created\n", name)
		return nil
	case apierrors.IsAlreadyExists(err):
		return nil
	default:
		return fmt.Errorf("model %s/%s: %w", ns, name, err)
	}
}

// waitRegistered waits until the registry has numbered and stored v, or
// says why it will not.
func waitRegistered(ctx context.Context, c client.Client, key client.ObjectKey, timeout time.Duration) (*mlv1.ModelVersion, error) {
	v := &mlv1.ModelVersion{}
	var last *metav1.Condition
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		if err := c.Get(ctx, key, v); err != nil {
			return false, err
		}
		last = meta.FindStatusCondition(v.Status.Conditions, mlv1.ConditionReady)
		if last == nil || last.ObservedGeneration != v.Generation {
			return false, nil
		}
		if last.Status == metav1.ConditionTrue {
			return true, nil
		}
		if last.Reason == "LoadFailed" || last.Reason == "ModelNotFound" {
			return false, fmt.Errorf("modelversion %s/%s is not registered: %s: %s", key.Namespace, key.Name, last.Reason, last.Message)
		}
		return false, nil
	})
	if err != nil && last != nil && ctx.Err() == nil && wait.Interrupted(err) {
		return nil, fmt.Errorf("modelversion %s/%s not registered after %s: %s: %s", key.Namespace, key.Name, timeout, last.Reason, last.Message)
	}
	if err != nil && wait.Interrupted(err) {
		return nil, fmt.Errorf("modelversion %s/%s not registered after %s: is the registry running (skiff up, or skiff operator --registry-dir)?", key.Namespace, key.Name, timeout)
	}
	return v, err
}

// ModelsAliasOptions are skiff models alias's flags and arguments.
type ModelsAliasOptions struct {
	ModelsOptions
	Model, Alias string
	// VersionArg is the version as given; Version is it parsed.
	VersionArg string
	Version    int64
	Delete     bool
}

func newCmdModelsAlias(g *globals, runners *ModelsRunners) *cobra.Command {
	opts := &ModelsAliasOptions{ModelsOptions: ModelsOptions{g: g}}
	cmd := &cobra.Command{
		Use:   "alias MODEL ALIAS VERSION",
		Short: "Point a model's alias at a version (a release, when a ModelService serves the alias)",
		Example: `  skiff models alias housing champion 4
  skiff models alias housing challenger --delete`,
		Args: func(cmd *cobra.Command, args []string) error {
			if opts.Delete {
				return cobra.ExactArgs(2)(cmd, args)
			}
			return cobra.ExactArgs(3)(cmd, args)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.ctx, opts.Model, opts.Alias = cmd.Context(), args[0], args[1]
			if len(args) == 3 {
				opts.VersionArg = args[2]
			}
			return runners.alias()(opts)
		},
	}
	opts.bind(cmd, false)
	cmd.Flags().BoolVar(&opts.Delete, "delete", false, "remove the alias")
	return cmd
}

func modelsAliasRun(opts *ModelsAliasOptions) error {
	if !opts.Delete {
		n, err := strconv.ParseInt(opts.VersionArg, 10, 64)
		if err != nil || n < 1 {
			return fmt.Errorf("version %q: give a version number, 1 or more (skiff models versions %s lists them)", opts.VersionArg, opts.Model)
		}
		opts.Version = n
	}
	c, ns, err := opts.client()
	if err != nil {
		return err
	}
	return moveAlias(opts.ctx, c, ns, opts.Model, opts.Alias, opts.Version, opts.g)
}

// moveAlias points alias at version n (0 removes it). The API server
// refuses a version that is not Ready, with the reason.
func moveAlias(ctx context.Context, c client.Client, ns, model, alias string, n int64, g *globals) error {
	m := &mlv1.Model{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: model}}
	value := "null"
	if n > 0 {
		value = strconv.FormatInt(n, 10)
	}
	patch := client.RawPatch("application/merge-patch+json", []byte(fmt.Sprintf(`{"spec":{"aliases":{%q:%s}}}`, alias, value)))
	if err := c.Patch(ctx, m, patch); err != nil {
		return fmt.Errorf("model %s/%s: moving alias %s: %w", ns, model, alias, err)
	}
	if n == 0 {
		fmt.Fprintf(g.stdout, "model/%s: alias %s removed\n", model, alias)
	} else {
		fmt.Fprintf(g.stdout, "model/%s: alias %s -> version %d\n", model, alias, n)
	}
	return nil
}
