package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	"github.com/spf13/cobra"

	"github.com/skiff-dev/skiff/internal/instance"
	"github.com/skiff-dev/skiff/internal/model"
	"github.com/skiff-dev/skiff/internal/modelserver"
)

func newServeModelCommand(g *globals) *cobra.Command {
	opts := modelserver.Options{}
	var logFormat string
	cmd := &cobra.Command{
		Use:   "serve-model --model-repository DIR",
		Short: "Serve models (XGBoost, scikit-learn) over the Open Inference Protocol, KServe v1 and POST /predict",
		Long: `Serve every model in a model repository folder:

  DIR/<model>/model.yaml        format: xgboost | sklearn, features, batching, versions
  DIR/<model>/<version>/model.json

REST (--http-port): /v2/health/live|ready, /v2/models/<model>[/versions/<v>][/ready|/infer],
/v1/models/<model>:predict, POST /predict (a JSON object of named features) and /metrics.
gRPC (--grpc-port): inference.GRPCInferenceService. The folder is watched: a changed
version is swapped in without failing a request; a broken file is refused and the old
version keeps serving. SIGTERM drains in-flight requests before exiting.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if opts.Repository == "" {
				return fmt.Errorf("--model-repository is required: the folder that holds one folder per model")
			}
			var handler slog.Handler
			switch logFormat {
			case "text":
				handler = slog.NewTextHandler(g.stderr, nil)
			case "json":
				handler = slog.NewJSONHandler(g.stderr, nil)
			default:
				return fmt.Errorf("--log-format %q: use text or json", logFormat)
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			ctx = logr.NewContext(ctx, logr.FromSlogHandler(handler))
			opts.Version = instance.Version
			srv, err := modelserver.New(ctx, opts)
			if err != nil {
				return err
			}
			return srv.Run(ctx)
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.Repository, "model-repository", "", "the model repository folder (one folder per model)")
	f.StringVar(&opts.HTTPAddress, "http-address", ":8080", "where REST and /metrics listen")
	f.StringVar(&opts.GRPCAddress, "grpc-address", ":8081", "where gRPC listens (empty turns it off)")
	f.DurationVar(&opts.PollInterval, "poll-interval", modelserver.DefaultPollInterval, "how often the repository is checked for changed models")
	f.Int64Var(&opts.MaxRequestBytes, "max-request-bytes", modelserver.DefaultMaxRequestBytes, "largest request body; larger ones get 413")
	f.StringVar(&opts.DefaultModel, "default-model", "", "the model POST /predict uses (default: the only model)")
	f.DurationVar(&opts.ShutdownTimeout, "shutdown-timeout", modelserver.DefaultShutdownTimeout, "how long a stop waits for in-flight requests")
	f.StringVar(&logFormat, "log-format", "text", "log format on stderr: text or json")
	return cmd
}

func newExportSklearnCommand(g *globals) *cobra.Command {
	var python, features string
	var printScript bool
	cmd := &cobra.Command{
		Use:   "export-sklearn MODEL.pkl|MODEL.joblib OUT.json",
		Short: "Convert a fitted scikit-learn estimator to the JSON format 'skiff serve-model' evaluates",
		Long: `Runs skiff's exporter (Python, with the scikit-learn that fitted the model) on a
pickled or joblib estimator, or on a pickled dict holding "model" (and "features").
--print-script writes the exporter itself, to import it in training code.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if printScript {
				return cobra.NoArgs(cmd, args)
			}
			return cobra.ExactArgs(2)(cmd, args)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if printScript {
				_, err := g.stdout.Write(model.ExporterScript)
				return err
			}
			dir, err := os.MkdirTemp("", "skiff-export-")
			if err != nil {
				return err
			}
			defer os.RemoveAll(dir)
			script := filepath.Join(dir, "skiff_sklearn_export.py")
			if err := os.WriteFile(script, model.ExporterScript, 0o644); err != nil {
				return err
			}
			pyArgs := []string{script, args[0], args[1]}
			if features != "" {
				pyArgs = append(pyArgs, "--features", features)
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), 10*time.Minute)
			defer cancel()
			run := exec.CommandContext(ctx, python, pyArgs...)
			run.Stdout, run.Stderr = g.stdout, g.stderr
			if err := run.Run(); err != nil {
				var exit *exec.ExitError
				if errors.As(err, &exit) {
					return fmt.Errorf("exporting %s failed (see above)", args[0])
				}
				return fmt.Errorf("running %s: %w (install python3 and python3-sklearn, or pass --python)", python, err)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&python, "python", "python3", "the Python with the scikit-learn that fitted the model")
	cmd.Flags().StringVar(&features, "features", "", "comma-separated feature names in column order (default: the model's own, if it has them)")
	cmd.Flags().BoolVar(&printScript, "print-script", false, "print the exporter script instead of running it")
	return cmd
}
