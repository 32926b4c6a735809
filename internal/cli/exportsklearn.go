package cli

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/skiff-dev/skiff/internal/model"
)

// ExportSklearnOptions are skiff export-sklearn's flags and arguments.
type ExportSklearnOptions struct {
	g           *globals
	ctx         context.Context
	Model, Out  string // the pickled estimator and the JSON to write
	Python      string
	Features    string // comma-separated; empty: the model's own
	PrintScript bool
}

// NewCmdExportSklearn builds skiff export-sklearn; runF, if not nil, runs
// instead of exportSklearnRun.
func NewCmdExportSklearn(g *globals, runF func(*ExportSklearnOptions) error) *cobra.Command {
	opts := &ExportSklearnOptions{g: g, Python: "python3"}
	cmd := &cobra.Command{
		Use:   "export-sklearn MODEL.pkl|MODEL.joblib OUT.json",
		Short: "Convert a fitted scikit-learn estimator to the JSON format 'skiff serve-model' evaluates",
		Long: `Runs skiff's exporter (Python, with the scikit-learn that fitted the model) on a
pickled or joblib estimator, or on a pickled dict holding "model" (and "features").
--print-script writes the exporter itself, to import it in training code.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if opts.PrintScript {
				return cobra.NoArgs(cmd, args)
			}
			return cobra.ExactArgs(2)(cmd, args)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.ctx = cmd.Context()
			if len(args) == 2 {
				opts.Model, opts.Out = args[0], args[1]
			}
			if runF != nil {
				return runF(opts)
			}
			return exportSklearnRun(opts)
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.Python, "python", opts.Python, "the Python with the scikit-learn that fitted the model")
	f.StringVar(&opts.Features, "features", "", "comma-separated feature names in column order (default: the model's own, if it has them)")
	f.BoolVar(&opts.PrintScript, "print-script", false, "print the exporter script instead of running it")
	return cmd
}

func exportSklearnRun(opts *ExportSklearnOptions) error {
	if opts.PrintScript {
		_, err := opts.g.stdout.Write(model.ExporterScript)
		return err
	}
	e := model.Export{Python: opts.Python, Model: opts.Model, Out: opts.Out, Features: opts.Features, Stdout: opts.g.stdout, Stderr: opts.g.stderr}
	return e.Run(opts.ctx)
}
