package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/skiff-dev/skiff/internal/batch"
	"github.com/skiff-dev/skiff/internal/model"
)

// BatchPredictOptions are skiff batch-predict's flags.
type BatchPredictOptions struct {
	g            *globals
	ctx          context.Context
	ModelPath    string
	ModelFormat  string
	Inputs       []string
	Format       string
	OutputDir    string
	OutputFormat string
	IDColumns    []string
	Shard        int
	Shards       int
	MaxBadRows   int
	Workers      int
	// TerminationLog gets the shard's summary, for its pod's status.
	TerminationLog string
}

// NewCmdBatchPredict builds skiff batch-predict, a BatchInference run's
// worker; runF, if not nil, runs instead of batchPredictRun.
func NewCmdBatchPredict(g *globals, runF func(*BatchPredictOptions) error) *cobra.Command {
	opts := &BatchPredictOptions{g: g, Format: "csv", Shard: -1, Shards: 1}
	cmd := &cobra.Command{
		Use:   "batch-predict --model-path FILE --model-format F --input FILE|GLOB... --output DIR",
		Short: "Predict a file of rows with a native model: one shard of a batch run",
		Long: `Reads rows from CSV (with a header) or JSON-lines files, evaluates the model on them
with every core it is given, and writes DIR/part-<shard>.<format> (the id columns, or
every input column, then the prediction), DIR/errors-<shard>.jsonl (rows that could not
be read, with their line and reason) and DIR/part-<shard>.json (rows, inputs with their
sha256, and the time each stage took). Each file appears complete or not at all, so a
rerun of a shard never duplicates rows. The shard is --shard, or $JOB_COMPLETION_INDEX in
an Indexed Job.`,
		Example: `  skiff batch-predict --model-path model.json --model-format xgboost --input 'in/*.csv' --output out/ --id-column id`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts.ctx = cmd.Context()
			if runF != nil {
				return runF(opts)
			}
			return batchPredictRun(opts)
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.ModelPath, "model-path", "", "the model file (required)")
	f.StringVar(&opts.ModelFormat, "model-format", "", "xgboost or sklearn (default: read from the file)")
	f.StringArrayVar(&opts.Inputs, "input", nil, "an input file or glob, repeated (required)")
	f.StringVar(&opts.Format, "format", opts.Format, "the inputs' format: csv, jsonl or parquet")
	f.StringVar(&opts.OutputDir, "output", "", "the output folder (required)")
	f.StringVar(&opts.OutputFormat, "output-format", "", "csv, jsonl or parquet (default: the inputs')")
	f.StringSliceVar(&opts.IDColumns, "id-column", nil, "input columns copied to the output (default: every column)")
	f.IntVar(&opts.Shard, "shard", opts.Shard, "this shard's index (default: $JOB_COMPLETION_INDEX, else 0)")
	f.IntVar(&opts.Shards, "shards", opts.Shards, "how many shards the run has")
	f.IntVar(&opts.MaxBadRows, "max-bad-rows", 0, "rows that cannot be read before the shard fails (they go to the error file)")
	f.IntVar(&opts.Workers, "workers", 0, "blocks evaluated at once (default: one per core)")
	f.StringVar(&opts.TerminationLog, "termination-log", "", "also write the shard's summary (JSON, at most 4 KiB) or its error here: a pod's terminationMessagePath")
	_ = cmd.MarkFlagRequired("model-path")
	_ = cmd.MarkFlagRequired("input")
	_ = cmd.MarkFlagRequired("output")
	return cmd
}

func batchPredictRun(opts *BatchPredictOptions) error {
	job, err := opts.job()
	if err != nil {
		return err
	}
	res, err := job.Run(opts.ctx)
	if err != nil {
		err = fmt.Errorf("shard %d: %w", job.Shard, err)
		writeTerminationLog(opts.TerminationLog, []byte(err.Error()))
		return err
	}
	writeTerminationLog(opts.TerminationLog, terminationSummary(res))
	wall := time.Duration(res.Wall).Seconds()
	fmt.Fprintf(opts.g.stdout, "shard %d: %d rows in, %d out, %d bad, %.2fs (%.0f rows/s); busy: read %.2fs, parse %.2fs, evaluate %.2fs, write %.2fs; %s\n",
		res.Shard, res.RowsIn, res.RowsOut, res.BadRows, wall, float64(res.RowsIn)/max(wall, 1e-9),
		time.Duration(res.Read).Seconds(), time.Duration(res.Parse).Seconds(), time.Duration(res.Evaluate).Seconds(), time.Duration(res.Write).Seconds(), res.Output)
	return nil
}

// job is the options as a batch.Job: the model loaded, the globs
// expanded, the shard from the Indexed Job.
func (o *BatchPredictOptions) job() (batch.Job, error) {
	format, err := batch.ParseFormat(o.Format)
	if err != nil {
		return batch.Job{}, fmt.Errorf("--format: %w", err)
	}
	outFormat := format
	if o.OutputFormat != "" {
		if outFormat, err = batch.ParseFormat(o.OutputFormat); err != nil {
			return batch.Job{}, fmt.Errorf("--output-format: %w", err)
		}
	}
	shard := o.Shard
	if shard < 0 {
		shard = 0
		if v := os.Getenv("JOB_COMPLETION_INDEX"); v != "" {
			if shard, err = strconv.Atoi(v); err != nil {
				return batch.Job{}, fmt.Errorf("$JOB_COMPLETION_INDEX %q is not a number", v)
			}
		}
	}
	if o.Shards < 1 || shard >= o.Shards {
		return batch.Job{}, fmt.Errorf("--shard %d of --shards %d: want 0 <= shard < shards", shard, o.Shards)
	}
	inputs, err := expandInputs(o.Inputs)
	if err != nil {
		return batch.Job{}, err
	}
	m, err := loadModelFile(o.ModelPath, o.ModelFormat)
	if err != nil {
		return batch.Job{}, err
	}
	return batch.Job{Model: m, Inputs: inputs, Format: format, OutputDir: o.OutputDir, OutputFormat: outFormat, IDColumns: o.IDColumns,
		Shard: shard, Shards: o.Shards, MaxBadRows: o.MaxBadRows, Workers: o.Workers}, nil
}

// expandInputs expands globs, each sorted, in the order given.
func expandInputs(patterns []string) ([]string, error) {
	var out []string
	for _, p := range patterns {
		matches, err := filepath.Glob(p)
		if err != nil {
			return nil, fmt.Errorf("--input %q: %w", p, err)
		}
		if len(matches) == 0 {
			return nil, fmt.Errorf("--input %q: no such file", p)
		}
		slices.Sort(matches)
		out = append(out, matches...)
	}
	return out, nil
}

// loadModelFile loads a native model, its format read from the file when
// not given.
func loadModelFile(path, format string) (model.Model, error) {
	if format == "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("--model-path: %w", err)
		}
		if format, err = model.Detect(data); err != nil {
			return nil, fmt.Errorf("--model-path %s: %w (give --model-format)", path, err)
		}
	}
	m, err := model.Load(format, path)
	if err != nil {
		return nil, fmt.Errorf("--model-path %s: %w", path, err)
	}
	return m, nil
}

// terminationSummary is the result as compact JSON within the 4 KiB a
// termination message keeps: without the inputs' list when it is long.
func terminationSummary(res *batch.Result) []byte {
	data, _ := json.Marshal(res)
	if len(data) > 4096 {
		short := *res
		short.Inputs = nil
		data, _ = json.Marshal(short)
	}
	return data
}

func writeTerminationLog(path string, data []byte) {
	if path == "" {
		return
	}
	_ = os.WriteFile(path, data, 0o644) // the log says it too
}
