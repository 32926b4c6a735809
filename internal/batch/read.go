package batch

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"time"

	"github.com/skiff-dev/skiff/internal/model"
)

// reader splits the shard's files into blocks of lines; the workers parse
// them.
type reader struct {
	job    Job
	info   model.Info
	inputs []InputFile
	busy   time.Duration
	header []string
}

// files are the shard's files, and whether it takes every block of them.
func (r *reader) files() ([]string, bool) {
	j := r.job
	if len(j.Inputs) < j.Shards {
		return j.Inputs, false
	}
	var own []string
	for i := j.Shard; i < len(j.Inputs); i += j.Shards {
		own = append(own, j.Inputs[i])
	}
	return own, true
}

func (r *reader) run(ctx context.Context, blocks chan<- *block, out *shardOutput) error {
	files, whole := r.files()
	seq, index := 0, 0
	for _, path := range files {
		if r.job.Format == Parquet {
			if err := r.readParquet(ctx, path, whole, blocks, out, &seq, &index); err != nil {
				return err
			}
			continue
		}
		t0 := time.Now()
		f, err := os.Open(path)
		if err != nil {
			return fmt.Errorf("input: %w", err)
		}
		h := sha256.New()
		br := bufio.NewReaderSize(io.TeeReader(f, h), 1<<20)
		p, line, err := r.start(path, br, out)
		if err != nil {
			f.Close()
			return err
		}
		in := InputFile{Path: path}
		var b *block
		var buf []byte
		for {
			buf, err = readLine(br, buf[:0])
			if len(buf) > 0 {
				line++
				if len(bytes.TrimSpace(buf)) > 0 {
					in.Rows++
					if b == nil {
						mine := whole || index%r.job.Shards == r.job.Shard
						b = &block{seq: seq, file: path, firstLine: line, parser: p, carried: out.carried}
						if !mine {
							b.seq = -1
						}
					}
					if b.seq >= 0 {
						b.data = append(b.data, buf...)
						b.ends = append(b.ends, len(b.data))
					} else {
						b.ends = append(b.ends, 0) // counted, not kept
					}
					if len(b.ends) == r.job.BlockRows {
						if err := r.send(ctx, blocks, b, &t0, &seq); err != nil {
							f.Close()
							return err
						}
						b, index = nil, index+1
					}
				}
			}
			if err != nil {
				break
			}
		}
		f.Close()
		if !errors.Is(err, io.EOF) {
			return fmt.Errorf("reading %s: %w", path, err)
		}
		if b != nil {
			if err := r.send(ctx, blocks, b, &t0, &seq); err != nil {
				return err
			}
			index++
		}
		r.busy += time.Since(t0)
		in.SHA256 = hex.EncodeToString(h.Sum(nil))
		r.inputs = append(r.inputs, in)
	}
	return nil
}

// send hands a block of the shard's to the workers (others are dropped),
// not counting the wait as reading.
func (r *reader) send(ctx context.Context, blocks chan<- *block, b *block, t0 *time.Time, seq *int) error {
	if b.seq < 0 {
		return nil
	}
	r.busy += time.Since(*t0)
	select {
	case blocks <- b:
	case <-ctx.Done():
		return context.Cause(ctx)
	}
	*t0 = time.Now()
	*seq++
	return nil
}

// start reads a file's header (a CSV header line, or the first JSON
// object's keys) and returns its parser and the lines read. Every file of
// a run has the same columns.
func (r *reader) start(path string, br *bufio.Reader, out *shardOutput) (parser, int64, error) {
	var columns []string
	var err error
	switch r.job.Format {
	case CSV:
		var line []byte
		if line, err = readLine(br, nil); len(bytes.TrimSpace(line)) == 0 {
			return nil, 0, fmt.Errorf("%s: empty, not even a header line", path)
		}
		columns, err = csvColumns(line)
	case JSONL:
		// The first object names the columns; it stays in the buffer,
		// to be read as the first row.
		first, _ := br.Peek(1 << 20)
		if len(bytes.TrimSpace(first)) == 0 {
			return nil, 0, fmt.Errorf("%s: empty", path)
		}
		if i := bytes.IndexByte(first, '\n'); i >= 0 {
			first = first[:i]
		}
		columns, err = jsonColumns(first)
	default:
		return nil, 0, fmt.Errorf("input format %q: want csv or jsonl", r.job.Format)
	}
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, 0, fmt.Errorf("%s: %w", path, err)
	}
	l, err := r.layoutOf(path, columns, out)
	if err != nil {
		return nil, 0, err
	}
	if r.job.Format == JSONL {
		// JSON-lines files have no header line: line 1 is a row.
		return &jsonParser{l: l}, 0, nil
	}
	return &csvParser{l: l, copyLine: l.allCarried && r.job.OutputFormat == CSV}, 1, nil
}

// layoutOf maps a file's columns; the first file's start the output, and
// every later file must have the same columns.
func (r *reader) layoutOf(path string, columns []string, out *shardOutput) (*layout, error) {
	l, err := newLayout(path, columns, r.info, r.job.IDColumns)
	if err != nil {
		return nil, err
	}
	if r.header == nil {
		r.header = columns
		if err := out.start(l); err != nil {
			return nil, err
		}
	} else if !slices.Equal(r.header, columns) {
		return nil, fmt.Errorf("%s: its columns (%v) differ from the first input's (%v): the files of one run share their columns", path, columns, r.header)
	}
	return l, nil
}

// readLine appends the next line (with its newline) to buf.
func readLine(br *bufio.Reader, buf []byte) ([]byte, error) {
	for {
		chunk, err := br.ReadSlice('\n')
		buf = append(buf, chunk...)
		if !errors.Is(err, bufio.ErrBufferFull) {
			return buf, err
		}
	}
}

// checkValues refuses what the model cannot take, so a bad row is named
// instead of failing its block.
func checkValues(row []float64, info model.Info) error {
	for f, v := range row {
		switch {
		case math.IsNaN(v) && !info.AllowsMissing:
			return fmt.Errorf("feature %s is empty (missing) and the model takes no missing values", featureName(info, f))
		case math.IsInf(v, 0):
			return fmt.Errorf("feature %s is infinite", featureName(info, f))
		}
	}
	return nil
}

func featureName(info model.Info, f int) string {
	if f < len(info.FeatureNames) {
		return info.FeatureNames[f]
	}
	return fmt.Sprintf("%d", f)
}
