package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/go-logr/logr"
	"github.com/spf13/cobra"

	"github.com/skiff-dev/skiff/internal/instance"
	"github.com/skiff-dev/skiff/internal/modelrepo"
	"github.com/skiff-dev/skiff/internal/modelserver"
)

// ServeModelOptions are skiff serve-model's flags.
type ServeModelOptions struct {
	g         *globals
	ctx       context.Context
	Server    modelserver.Options
	LogFormat string // text or json
	Single    SingleModel
}

// SingleModel is one model served without a repository: what a
// ModelService's pods run.
type SingleModel struct {
	Name   string
	Format string
	Path   string // a model file, or a folder holding model.json
	// Version is the version it is served as (a revision number).
	Version string
	// URI names the model in errors (a ModelService's storageUri).
	URI string
	// TerminationLog, when set, receives the reason the model did not
	// load, where Kubernetes reads a container's termination message.
	TerminationLog string
	link           string // the repository's link to Path, which load errors name
}

// NewCmdServeModel builds skiff serve-model; runF, if not nil, runs
// instead of serveModelRun.
func NewCmdServeModel(g *globals, runF func(*ServeModelOptions) error) *cobra.Command {
	opts := &ServeModelOptions{g: g, LogFormat: "text"}
	cmd := &cobra.Command{
		Use:   "serve-model --model-repository DIR | --model-path FILE --model-name NAME --model-format FORMAT",
		Short: "Serve models (XGBoost, scikit-learn) over the Open Inference Protocol, KServe v1 and POST /predict",
		Long: `Serve every model in a model repository folder:

  DIR/<model>/model.yaml        format: xgboost | sklearn, features, batching, versions
  DIR/<model>/<version>/model.json

REST (--http-address): /v2/health/live|ready, /v2/models/<model>[/versions/<v>][/ready|/infer],
/v1/models/<model>:predict, POST /predict (a JSON object of named features) and /metrics.
gRPC (--grpc-address): inference.GRPCInferenceService. The folder is watched: a changed
version is swapped in without failing a request; a broken file is refused and the old
version keeps serving. SIGTERM drains in-flight requests before exiting.

With --model-path, one model file (or a folder holding model.json) is served as
--model-name, and the server exits at once if it does not load.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts.ctx = cmd.Context()
			if runF != nil {
				return runF(opts)
			}
			return serveModelRun(opts)
		},
	}
	s := &opts.Server
	f := cmd.Flags()
	f.StringVar(&s.Repository, "model-repository", "", "the model repository folder (one folder per model)")
	f.StringVar(&s.HTTPAddress, "http-address", ":8080", "where REST and /metrics listen")
	f.StringVar(&s.GRPCAddress, "grpc-address", ":8081", "where gRPC listens (empty turns it off)")
	f.DurationVar(&s.PollInterval, "poll-interval", modelserver.DefaultPollInterval, "how often the repository is checked for changed models")
	f.Int64Var(&s.MaxRequestBytes, "max-request-bytes", modelserver.DefaultMaxRequestBytes, "largest request body; larger ones get 413")
	f.StringVar(&s.DefaultModel, "default-model", "", "the model POST /predict uses (default: the only model)")
	f.DurationVar(&s.ShutdownTimeout, "shutdown-timeout", modelserver.DefaultShutdownTimeout, "how long a stop waits for in-flight requests")
	m := &opts.Single
	f.StringVar(&m.Path, "model-path", "", "one model to serve: a model file, or a folder holding model.json (instead of --model-repository)")
	f.StringVar(&m.Name, "model-name", "", "the name --model-path is served as")
	f.StringVar(&m.Format, "model-format", "", "the format of --model-path: xgboost or sklearn")
	f.StringVar(&m.URI, "model-uri", "", "where --model-path came from, named in errors")
	f.StringVar(&m.Version, "model-version", "1", "the version --model-path is served as (responses' model_version; a ModelService passes its revision number)")
	f.StringVar(&m.TerminationLog, "termination-log", "", "a file that receives why --model-path did not load (a container's terminationMessagePath)")
	f.StringVar(&opts.LogFormat, "log-format", opts.LogFormat, "log format on stderr: text or json")
	return cmd
}

// logHandler is the slog handler --log-format names.
func logHandler(w io.Writer, format string) (slog.Handler, error) {
	switch format {
	case "text":
		return slog.NewTextHandler(w, nil), nil
	case "json":
		return slog.NewJSONHandler(w, nil), nil
	}
	return nil, fmt.Errorf("--log-format %q: use text or json", format)
}

func serveModelRun(opts *ServeModelOptions) error {
	single := opts.Single.Path != ""
	switch {
	case single && opts.Server.Repository != "":
		return fmt.Errorf("--model-repository and --model-path exclude each other: serve a repository or one model")
	case !single && opts.Server.Repository == "":
		return fmt.Errorf("--model-repository is required: the folder that holds one folder per model (or --model-path for one model)")
	case single && (opts.Single.Name == "" || opts.Single.Format == ""):
		return fmt.Errorf("--model-path needs --model-name and --model-format")
	}
	handler, err := logHandler(opts.g.stderr, opts.LogFormat)
	if err != nil {
		return err
	}
	if single {
		dir, err := os.MkdirTemp("", "skiff-model-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		link, err := modelrepo.LinkSingle(dir, opts.Single.Name, opts.Single.Version, opts.Single.Format, opts.Single.Path, opts.Single.URI)
		if err != nil {
			return opts.Single.refused(err)
		}
		opts.Single.link = link
		opts.Server.Repository, opts.Server.DefaultModel = dir, opts.Single.Name
	}
	ctx, stop := signal.NotifyContext(opts.ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	ctx = logr.NewContext(ctx, logr.FromSlogHandler(handler))
	opts.Server.Version = instance.Version
	srv, err := modelserver.New(ctx, opts.Server)
	if err != nil {
		return err
	}
	if single && !srv.Ready() {
		srv.Close()
		err := srv.Err()
		if err == nil {
			err = fmt.Errorf("model %s did not load", opts.Single.Name)
		}
		return opts.Single.refused(err)
	}
	return srv.Run(ctx)
}

// refused is err about the single model, named by its URI, and written to
// the termination log for whoever reads the container's status.
func (m SingleModel) refused(err error) error {
	if m.link != "" && m.URI != "" {
		err = errors.New(strings.ReplaceAll(err.Error(), m.link, m.URI))
	}
	if m.TerminationLog != "" {
		_ = os.WriteFile(m.TerminationLog, []byte(err.Error()), 0o644)
	}
	return err
}
