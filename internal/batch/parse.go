package batch

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unsafe"
)

// parser reads one input line: its features go into a block's matrix,
// its carried values are kept as text.
type parser interface {
	// parse reads line into x (the row's features) and returns the
	// carried values, or why the line is not a row. scratch is the
	// caller's, reused between lines (parsers are shared by workers).
	parse(b *block, i int, x []float64, scratch *[][]byte) (carried []string, err error)
}

// csvParser reads comma-separated lines; one with a quote goes through
// encoding/csv, the others are split directly (most numeric files).
type csvParser struct {
	l *layout
	// copyLine: every column is carried into a CSV output, so the line
	// is copied as it is.
	copyLine bool
}

func (p *csvParser) parse(b *block, i int, x []float64, scratch *[][]byte) ([]string, error) {
	line := bytes.TrimRight(b.line(i), "\r\n")
	var fields [][]byte
	if bytes.IndexByte(line, '"') >= 0 {
		rec, err := csv.NewReader(bytes.NewReader(line)).Read()
		if err != nil {
			return nil, fmt.Errorf("not a CSV line: %v", err)
		}
		for _, f := range rec {
			fields = append(fields, []byte(f))
		}
	} else {
		fields = (*scratch)[:0]
		for {
			i := bytes.IndexByte(line, ',')
			if i < 0 {
				fields = append(fields, line)
				break
			}
			fields = append(fields, line[:i])
			line = line[i+1:]
		}
		*scratch = fields
	}
	if len(fields) != len(p.l.columns) {
		return nil, fmt.Errorf("%d fields, the header has %d", len(fields), len(p.l.columns))
	}
	for i, f := range fields {
		fi := p.l.feature[i]
		if fi < 0 {
			continue
		}
		v, err := parseNumber(f)
		if err != nil {
			return nil, fmt.Errorf("column %s: %v", p.l.columns[i], err)
		}
		x[fi] = v
	}
	if p.copyLine {
		return nil, nil
	}
	carried := make([]string, len(p.l.carry))
	for k, i := range p.l.carry {
		carried[k] = string(fields[i])
	}
	return carried, nil
}

// parseNumber reads a feature; an empty field is a missing value (NaN),
// which the model refuses if it takes no missing values.
func parseNumber(f []byte) (float64, error) {
	f = bytes.TrimSpace(f)
	if len(f) == 0 {
		return math.NaN(), nil
	}
	// No copy: ParseFloat keeps nothing of the string, and its error
	// (which would) is dropped.
	v, err := strconv.ParseFloat(unsafe.String(&f[0], len(f)), 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a number", f)
	}
	return v, nil
}

// jsonParser reads one JSON object a line.
type jsonParser struct{ l *layout }

func (p *jsonParser) parse(b *block, i int, x []float64, _ *[][]byte) ([]string, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(b.line(i), &obj); err != nil {
		return nil, fmt.Errorf("not a JSON object: %v", err)
	}
	for i, c := range p.l.columns {
		fi := p.l.feature[i]
		if fi < 0 {
			continue
		}
		raw, ok := obj[c]
		if !ok {
			return nil, fmt.Errorf("no %q", c)
		}
		var v *float64
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil, fmt.Errorf("%s: %s is not a number", c, raw)
		}
		x[fi] = math.NaN()
		if v != nil {
			x[fi] = *v
		}
	}
	carried := make([]string, len(p.l.carry))
	for k, i := range p.l.carry {
		carried[k] = jsonText(obj[p.l.columns[i]])
	}
	return carried, nil
}

// jsonText is a JSON value as a CSV field: a string unquoted, anything
// else as written.
func jsonText(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	return strings.TrimSpace(string(raw))
}

// jsonColumns are the keys of a JSON-lines file's first object, in order.
func jsonColumns(line []byte) ([]string, error) {
	dec := json.NewDecoder(bytes.NewReader(line))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, fmt.Errorf("the first line is not a JSON object")
	}
	var cols []string
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, err
		}
		cols = append(cols, t.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return nil, err
		}
	}
	return cols, nil
}

// csvColumns reads a header line.
func csvColumns(line []byte) ([]string, error) {
	rec, err := csv.NewReader(bytes.NewReader(bytes.TrimRight(line, "\r\n"))).Read()
	if err != nil {
		return nil, fmt.Errorf("the header is not a CSV line: %v", err)
	}
	for i := range rec {
		rec[i] = strings.TrimSpace(rec[i])
	}
	return rec, nil
}
