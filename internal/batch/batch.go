package batch

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/skiff-dev/skiff/internal/model"
)

// Job is one shard of a batch run.
type Job struct {
	Model model.Model
	// Inputs are all the run's input files, in the same order in every
	// shard; the shard takes its own part of them.
	Inputs []string
	Format Format
	// OutputDir gets part-<shard>.<format>, its bad rows in
	// errors-<shard>.jsonl and its summary in part-<shard>.json.
	OutputDir    string
	OutputFormat Format
	// IDColumns are copied to the output before the prediction; none
	// copies every input column.
	IDColumns []string
	// Shard of Shards: with as many files as shards or more, shard i
	// takes files i, i+Shards, ...; else every shard reads every file
	// and takes blocks of rows i, i+Shards, ...
	Shard, Shards int
	// MaxBadRows more rows that cannot be read fail the shard; fewer go
	// to the error file and the shard succeeds.
	MaxBadRows int
	// Workers evaluate blocks at once (0: one per core).
	Workers int
	// BlockRows is rows per block (0: 4096).
	BlockRows int
}

// Result is what a shard did.
type Result struct {
	Shard   int         `json:"shard"`
	Output  string      `json:"output"`
	Errors  string      `json:"errors,omitempty"`
	Inputs  []InputFile `json:"inputs"`
	RowsIn  int64       `json:"rowsIn"`
	RowsOut int64       `json:"rowsOut"`
	BadRows int64       `json:"badRows"`
	// Busy time of each stage, summed over workers: reading lines,
	// parsing them, evaluating the model, encoding and writing output.
	Read     Duration `json:"read"`
	Parse    Duration `json:"parse"`
	Evaluate Duration `json:"evaluate"`
	Write    Duration `json:"write"`
	Wall     Duration `json:"wall"`
}

// InputFile is an input the shard read, with its sha256.
type InputFile struct {
	Path   string `json:"path"`
	SHA256 string `json:"sha256"`
	Rows   int64  `json:"rows"`
}

// Duration is a time.Duration written as seconds.
type Duration time.Duration

func (d Duration) MarshalJSON() ([]byte, error) {
	return []byte(fmt.Sprintf("%.6f", time.Duration(d).Seconds())), nil
}

// ErrTooManyBadRows fails a shard with more bad rows than allowed.
var ErrTooManyBadRows = errors.New("too many bad rows")

// block is rows of one file, as read: lines of text, or Parquet rows.
type block struct {
	seq       int
	file      string
	firstLine int64
	data      []byte
	ends      []int // end of each line in data
	rows      []parquet.Row
	parser    parser
	// carried names the columns copied to the output.
	carried []string
}

func (b *block) len() int {
	if b.rows != nil {
		return len(b.rows)
	}
	return len(b.ends)
}

// line is line i of a text block.
func (b *block) line(i int) []byte {
	start := 0
	if i > 0 {
		start = b.ends[i-1]
	}
	return b.data[start:b.ends[i]]
}

// encoded is a block evaluated: its output (bytes, or Parquet rows) and
// bad rows.
type encoded struct {
	seq   int
	out   []byte
	prows []parquet.Row
	bad   []BadRow
	rows  int
	good  int
	err   error
	parse time.Duration
	eval  time.Duration
}

// BadRow is a line that could not be read, and why.
type BadRow struct {
	File   string `json:"file"`
	Line   int64  `json:"line"`
	Reason string `json:"reason"`
}

// Run runs the shard. Its output files appear complete or not at all: a
// rerun after a failure rewrites them, never appends.
func (j Job) Run(ctx context.Context) (*Result, error) {
	start := time.Now()
	j = j.withDefaults()
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	out, err := newShardOutput(j)
	if err != nil {
		return nil, err
	}
	defer out.abort()

	r := &reader{job: j, info: j.Model.Info()}
	blocks := make(chan *block, 2*j.Workers)
	results := make(chan encoded, 2*j.Workers)
	go func() {
		defer close(blocks)
		if err := r.run(ctx, blocks, out); err != nil {
			cancel(err)
		}
	}()
	var wg sync.WaitGroup
	var busyParse, busyEval atomic.Int64
	for range j.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range blocks {
				e := evaluate(j.Model, r.info, b, &encoder{format: j.OutputFormat, info: r.info, columns: b.carried})
				busyParse.Add(int64(e.parse))
				busyEval.Add(int64(e.eval))
				select {
				case results <- e:
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	go func() { wg.Wait(); close(results) }()

	// collect returns the first failure of any stage (the context's cause).
	if err := out.collect(ctx, results, cancel); err != nil {
		return nil, err
	}
	res := out.result
	res.Shard, res.Inputs = j.Shard, r.inputs
	res.Read, res.Parse, res.Evaluate = Duration(r.busy), Duration(busyParse.Load()), Duration(busyEval.Load())
	res.Wall = Duration(time.Since(start))
	if err := out.commit(&res); err != nil {
		return nil, err
	}
	return &res, nil
}

func (j Job) withDefaults() Job {
	if j.Workers <= 0 {
		j.Workers = runtime.GOMAXPROCS(0)
	}
	if j.BlockRows <= 0 {
		j.BlockRows = 4096
	}
	if j.Shards <= 0 {
		j.Shards = 1
	}
	if j.OutputFormat == "" {
		j.OutputFormat = j.Format
	}
	return j
}

// evaluate parses a block, predicts its good rows and encodes them.
func evaluate(m model.Model, info model.Info, b *block, enc *encoder) encoded {
	n := b.len()
	e := encoded{seq: b.seq, rows: n}
	t0 := time.Now()
	x := make([]float64, n*info.Features)
	carried := make([][]string, 0, n)
	var lines [][]byte
	var scratch [][]byte
	for i := range n {
		row := x[e.good*info.Features : (e.good+1)*info.Features]
		c, err := b.parser.parse(b, i, row, &scratch)
		if err == nil {
			err = checkValues(row, info)
		}
		if err != nil {
			e.bad = append(e.bad, BadRow{File: b.file, Line: b.firstLine + int64(i), Reason: err.Error()})
			continue
		}
		carried = append(carried, c)
		if b.rows == nil {
			lines = append(lines, b.line(i))
		}
		e.good++
	}
	e.parse = time.Since(t0)
	if e.good == 0 {
		return e
	}
	t1 := time.Now()
	outputs, err := m.Predict(x[:e.good*info.Features], e.good)
	e.eval = time.Since(t1)
	if err != nil {
		e.err = fmt.Errorf("%s, rows %d-%d: %w", b.file, b.firstLine, b.firstLine+int64(n)-1, err)
		return e
	}
	if enc.format == Parquet {
		e.prows = enc.parquetRows(carried, outputs)
	} else {
		e.out = enc.rows(lines, carried, outputs)
	}
	return e
}
