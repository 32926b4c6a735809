package batch

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/parquet-go/parquet-go"
)

// Names of a shard's files in the output folder.
func partName(shard int, f Format) string { return fmt.Sprintf("part-%05d.%s", shard, f) }
func errorsName(shard int) string         { return fmt.Sprintf("errors-%05d.jsonl", shard) }

// SummaryName is the shard's summary: its Result as JSON, written last.
func SummaryName(shard int) string { return fmt.Sprintf("part-%05d.json", shard) }

// shardOutput writes a shard's rows and bad rows to scratch files in the
// output folder and renames them into place at the end, so a shard's file
// is complete or absent, and a rerun replaces it.
type shardOutput struct {
	job     Job
	rows    *os.File
	bad     *os.File
	w, bw   *bufio.Writer
	pw      *parquet.Writer
	carried []string
	result  Result
	write   time.Duration
}

func newShardOutput(j Job) (*shardOutput, error) {
	if err := os.MkdirAll(j.OutputDir, 0o755); err != nil {
		return nil, fmt.Errorf("output folder: %w", err)
	}
	o := &shardOutput{job: j}
	var err error
	if o.rows, err = os.CreateTemp(j.OutputDir, "."+partName(j.Shard, j.OutputFormat)+".tmp-*"); err != nil {
		return nil, fmt.Errorf("output folder: %w", err)
	}
	if o.bad, err = os.CreateTemp(j.OutputDir, "."+errorsName(j.Shard)+".tmp-*"); err != nil {
		o.abort()
		return nil, fmt.Errorf("output folder: %w", err)
	}
	o.w, o.bw = bufio.NewWriterSize(o.rows, 1<<20), bufio.NewWriter(o.bad)
	return o, nil
}

// start writes the header, once the first input's columns are known.
func (o *shardOutput) start(l *layout) error {
	for _, i := range l.carry {
		o.carried = append(o.carried, l.columns[i])
	}
	if o.job.OutputFormat == Parquet {
		schema, _ := parquetSchema(o.carried, o.job.Model.Info())
		o.pw = parquet.NewWriter(o.w, schema)
		return nil
	}
	if o.job.OutputFormat != CSV {
		return nil
	}
	var line []byte
	for _, c := range o.carried {
		line = append(appendCSVField(line, c), ',')
	}
	for k, c := range predictionColumns(o.job.Model.Info()) {
		if k > 0 {
			line = append(line, ',')
		}
		line = appendCSVField(line, c)
	}
	_, err := o.w.Write(append(line, '\n'))
	return err
}

// collect writes the blocks in input order as they come back.
func (o *shardOutput) collect(ctx context.Context, results <-chan encoded, cancel context.CancelCauseFunc) error {
	pending := map[int]encoded{}
	next := 0
	for e := range results {
		if e.err != nil {
			cancel(e.err)
			return e.err
		}
		pending[e.seq] = e
		for {
			e, ok := pending[next]
			if !ok {
				break
			}
			delete(pending, next)
			next++
			if err := o.writeBlock(e); err != nil {
				cancel(err)
				return err
			}
		}
	}
	if err := context.Cause(ctx); err != nil {
		return err
	}
	return nil
}

func (o *shardOutput) writeBlock(e encoded) error {
	t0 := time.Now()
	defer func() { o.write += time.Since(t0) }()
	o.result.RowsIn += int64(e.rows)
	o.result.RowsOut += int64(e.good)
	o.result.BadRows += int64(len(e.bad))
	if o.pw != nil && len(e.prows) > 0 {
		if _, err := o.pw.WriteRows(e.prows); err != nil {
			return fmt.Errorf("writing %s: %w", partName(o.job.Shard, o.job.OutputFormat), err)
		}
	}
	if _, err := o.w.Write(e.out); err != nil {
		return fmt.Errorf("writing %s: %w", partName(o.job.Shard, o.job.OutputFormat), err)
	}
	enc := json.NewEncoder(o.bw)
	for _, b := range e.bad {
		if err := enc.Encode(b); err != nil {
			return err
		}
	}
	if o.result.BadRows > int64(o.job.MaxBadRows) {
		last := e.bad[len(e.bad)-1]
		return fmt.Errorf("%w: %d rows could not be read, more than the %d allowed; the last, %s line %d: %s",
			ErrTooManyBadRows, o.result.BadRows, o.job.MaxBadRows, last.File, last.Line, last.Reason)
	}
	return nil
}

// commit renames the files into place, the summary last: a shard with a
// summary is complete.
func (o *shardOutput) commit(res *Result) error {
	res.Write = Duration(o.write)
	dir := o.job.OutputDir
	res.Output = filepath.Join(dir, partName(o.job.Shard, o.job.OutputFormat))
	if o.pw == nil && o.job.OutputFormat == Parquet {
		// No input rows: an empty file of the output's columns.
		schema, _ := parquetSchema(o.carried, o.job.Model.Info())
		o.pw = parquet.NewWriter(o.w, schema)
	}
	if o.pw != nil {
		if err := o.pw.Close(); err != nil {
			return fmt.Errorf("writing %s: %w", res.Output, err)
		}
	}
	if err := finish(o.rows, o.w, res.Output); err != nil {
		return err
	}
	o.rows = nil
	errPath := filepath.Join(dir, errorsName(o.job.Shard))
	if res.BadRows > 0 {
		res.Errors = errPath
		if err := finish(o.bad, o.bw, errPath); err != nil {
			return err
		}
		o.bad = nil
	} else if err := os.Remove(errPath); err != nil && !os.IsNotExist(err) {
		return err // a rerun must not leave an earlier run's bad rows
	}
	summary, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, "."+SummaryName(o.job.Shard)+".tmp-*")
	if err != nil {
		return err
	}
	if _, err := tmp.Write(append(summary, '\n')); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	return finish(tmp, nil, filepath.Join(dir, SummaryName(o.job.Shard)))
}

// finish flushes, syncs and renames a scratch file to its name.
func finish(f *os.File, w *bufio.Writer, name string) error {
	var err error
	if w != nil {
		err = w.Flush()
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), name)
	}
	if err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("writing %s: %w", name, err)
	}
	return nil
}

// abort removes the scratch files of a shard that did not finish.
func (o *shardOutput) abort() {
	for _, f := range []*os.File{o.rows, o.bad} {
		if f != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}
}
