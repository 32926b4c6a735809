package cli

import (
	"context"
	"fmt"
	"log/slog"
	"os/signal"
	"syscall"

	"github.com/go-logr/logr"
	"github.com/spf13/cobra"

	"github.com/skiff-dev/skiff/internal/instance"
	"github.com/skiff-dev/skiff/internal/modelserver"
)

// ServeModelOptions are skiff serve-model's flags.
type ServeModelOptions struct {
	g         *globals
	ctx       context.Context
	Server    modelserver.Options
	LogFormat string // text or json
}

// NewCmdServeModel builds skiff serve-model; runF, if not nil, runs
// instead of serveModelRun.
func NewCmdServeModel(g *globals, runF func(*ServeModelOptions) error) *cobra.Command {
	opts := &ServeModelOptions{g: g, LogFormat: "text"}
	cmd := &cobra.Command{
		Use:   "serve-model --model-repository DIR",
		Short: "Serve models (XGBoost, scikit-learn) over the Open Inference Protocol, KServe v1 and POST /predict",
		Long: `Serve every model in a model repository folder:

  DIR/<model>/model.yaml        format: xgboost | sklearn, features, batching, versions
  DIR/<model>/<version>/model.json

REST (--http-address): /v2/health/live|ready, /v2/models/<model>[/versions/<v>][/ready|/infer],
/v1/models/<model>:predict, POST /predict (a JSON object of named features) and /metrics.
gRPC (--grpc-address): inference.GRPCInferenceService. The folder is watched: a changed
version is swapped in without failing a request; a broken file is refused and the old
version keeps serving. SIGTERM drains in-flight requests before exiting.`,
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
	f.StringVar(&opts.LogFormat, "log-format", opts.LogFormat, "log format on stderr: text or json")
	return cmd
}

// logHandler is the slog handler --log-format names.
func (opts *ServeModelOptions) logHandler() (slog.Handler, error) {
	switch opts.LogFormat {
	case "text":
		return slog.NewTextHandler(opts.g.stderr, nil), nil
	case "json":
		return slog.NewJSONHandler(opts.g.stderr, nil), nil
	}
	return nil, fmt.Errorf("--log-format %q: use text or json", opts.LogFormat)
}

func serveModelRun(opts *ServeModelOptions) error {
	if opts.Server.Repository == "" {
		return fmt.Errorf("--model-repository is required: the folder that holds one folder per model")
	}
	handler, err := opts.logHandler()
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(opts.ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	ctx = logr.NewContext(ctx, logr.FromSlogHandler(handler))
	opts.Server.Version = instance.Version
	srv, err := modelserver.New(ctx, opts.Server)
	if err != nil {
		return err
	}
	return srv.Run(ctx)
}
