package batch

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/skiff-dev/skiff/internal/model"
)

// readParquet reads one Parquet file of the shard into blocks of rows.
// Its columns must be flat (no groups or lists): a table of features.
func (r *reader) readParquet(ctx context.Context, path string, whole bool, blocks chan<- *block, out *shardOutput, seq, index *int) error {
	t0 := time.Now()
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("input: %w", err)
	}
	defer f.Close()
	// The checksum first: Parquet is read from its end (the footer).
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return fmt.Errorf("reading %s: %w", path, err)
	}
	pr := parquet.NewReader(f)
	defer pr.Close()
	var columns []string
	for _, c := range pr.Schema().Columns() {
		if len(c) != 1 {
			return fmt.Errorf("%s: column %v is nested: batch inputs are flat tables of features", path, c)
		}
		columns = append(columns, c[0])
	}
	l, err := r.layoutOf(path, columns, out)
	if err != nil {
		return err
	}
	p := &parquetParser{l: l}
	in := InputFile{Path: path}
	line := int64(1)
	for {
		rows := make([]parquet.Row, r.job.BlockRows)
		n, err := pr.ReadRows(rows)
		if n > 0 {
			mine := whole || *index%r.job.Shards == r.job.Shard
			*index++
			in.Rows += int64(n)
			if mine {
				for i := range rows[:n] {
					rows[i] = rows[i].Clone() // the reader reuses its buffers
				}
				b := &block{seq: *seq, file: path, firstLine: line, rows: rows[:n], parser: p, carried: out.carried}
				if err := r.send(ctx, blocks, b, &t0, seq); err != nil {
					return err
				}
			}
			line += int64(n)
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("reading %s: %w", path, err)
		}
	}
	r.busy += time.Since(t0)
	in.SHA256 = hex.EncodeToString(h.Sum(nil))
	r.inputs = append(r.inputs, in)
	return nil
}

// parquetParser reads a Parquet row; rows are numbered from 1, as lines.
type parquetParser struct{ l *layout }

func (p *parquetParser) parse(b *block, i int, x []float64, _ *[][]byte) ([]string, error) {
	values := make([]parquet.Value, len(p.l.columns))
	for _, v := range b.rows[i] {
		if c := v.Column(); c >= 0 && c < len(values) {
			values[c] = v
		}
	}
	for c, v := range values {
		fi := p.l.feature[c]
		if fi < 0 {
			continue
		}
		f, err := parquetNumber(v)
		if err != nil {
			return nil, fmt.Errorf("column %s: %v", p.l.columns[c], err)
		}
		x[fi] = f
	}
	carried := make([]string, len(p.l.carry))
	for k, c := range p.l.carry {
		carried[k] = parquetText(values[c])
	}
	return carried, nil
}

func parquetNumber(v parquet.Value) (float64, error) {
	if v.IsNull() {
		return math.NaN(), nil
	}
	switch v.Kind() {
	case parquet.Double:
		return v.Double(), nil
	case parquet.Float:
		return float64(v.Float()), nil
	case parquet.Int32:
		return float64(v.Int32()), nil
	case parquet.Int64:
		return float64(v.Int64()), nil
	case parquet.Boolean:
		if v.Boolean() {
			return 1, nil
		}
		return 0, nil
	case parquet.ByteArray:
		f, err := strconv.ParseFloat(string(v.ByteArray()), 64)
		if err != nil {
			return 0, fmt.Errorf("%q is not a number", v.ByteArray())
		}
		return f, nil
	}
	return 0, fmt.Errorf("a %s value is not a number", v.Kind())
}

func parquetText(v parquet.Value) string {
	switch {
	case v.IsNull():
		return ""
	case v.Kind() == parquet.ByteArray:
		return string(v.ByteArray())
	}
	return v.String()
}

// parquetSchema is the output's: the carried columns as strings, then
// the prediction columns (numbers, or strings for class labels).
func parquetSchema(carried []string, info model.Info) (*parquet.Schema, map[string]int) {
	group := parquet.Group{}
	for _, c := range carried {
		group[c] = parquet.Optional(parquet.String())
	}
	labels := len(info.Outputs) > 0 && info.Outputs[0].Datatype == model.BYTES
	for _, c := range predictionColumns(info) {
		if labels {
			group[c] = parquet.String()
		} else {
			group[c] = parquet.Leaf(parquet.DoubleType)
		}
	}
	schema := parquet.NewSchema("predictions", group)
	index := map[string]int{}
	for i, c := range schema.Columns() {
		index[c[0]] = i
	}
	return schema, index
}

// parquetRows are evaluated rows in the output's schema.
func (e *encoder) parquetRows(carried [][]string, outputs []model.Output) []parquet.Row {
	if e.schemaIndex == nil {
		_, e.schemaIndex = parquetSchema(e.columns, e.info)
	}
	out := outputs[0]
	cols := predictionColumns(e.info)
	width := len(cols)
	rows := make([]parquet.Row, len(carried))
	for i := range carried {
		row := make(parquet.Row, len(e.schemaIndex))
		for k, v := range carried[i] {
			c := e.schemaIndex[e.columns[k]]
			row[c] = parquet.ValueOf(v).Level(0, 1, c)
		}
		for k, name := range cols {
			c := e.schemaIndex[name]
			if len(out.Strings) > 0 {
				row[c] = parquet.ValueOf(out.Strings[i*width+k]).Level(0, 0, c)
			} else {
				row[c] = parquet.ValueOf(out.Numbers[i*width+k]).Level(0, 0, c)
			}
		}
		rows[i] = row
	}
	return rows
}
