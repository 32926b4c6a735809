// Package batch is skiff's batch-predict worker: it reads rows from CSV or
// JSON-lines files, evaluates a native model on them in blocks with every
// core it is given, and writes its shard's predictions and bad rows to
// files that appear complete or not at all. It imports nothing of
// Kubernetes: the BatchInference controller runs it as an Indexed Job.
package batch

import (
	"fmt"
	"slices"
	"strings"

	"github.com/skiff-dev/skiff/internal/model"
)

// Format is a file format of rows.
type Format string

const (
	CSV     Format = "csv"
	JSONL   Format = "jsonl"
	Parquet Format = "parquet"
)

// ParseFormat reads a format's name.
func ParseFormat(s string) (Format, error) {
	switch f := Format(strings.ToLower(s)); f {
	case CSV, JSONL, Parquet:
		return f, nil
	case "json", "ndjson":
		return JSONL, nil
	}
	return "", fmt.Errorf("format %q: want csv, jsonl or parquet", s)
}

// layout maps an input's columns to the model's features and to the
// columns copied to the output.
type layout struct {
	columns []string
	// feature[i] is column i's feature index, -1 for none.
	feature []int
	// carry are the columns copied to the output, in order.
	carry []int
	// allCarried says every column is copied, in input order (a CSV line
	// can then be copied as it is).
	allCarried bool
	features   int
}

// newLayout maps columns to info's features: by name when the model
// kept its feature names, else every column not carried, in order. carry
// names the columns copied to the output; none copies all of them.
func newLayout(file string, columns []string, info model.Info, carry []string) (*layout, error) {
	l := &layout{columns: columns, feature: make([]int, len(columns)), features: info.Features}
	index := map[string]int{}
	for i, c := range columns {
		if _, dup := index[c]; dup {
			return nil, fmt.Errorf("%s: column %q appears twice", file, c)
		}
		index[c] = i
		l.feature[i] = -1
	}
	var missing []string
	for _, c := range carry {
		i, ok := index[c]
		if !ok {
			missing = append(missing, c)
			continue
		}
		l.carry = append(l.carry, i)
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("%s: the output's id columns %s are not columns of the input (it has %s)", file, strings.Join(missing, ", "), strings.Join(columns, ", "))
	}
	if len(carry) == 0 {
		l.allCarried = true
		for i := range columns {
			l.carry = append(l.carry, i)
		}
	}
	if len(info.FeatureNames) > 0 {
		for f, name := range info.FeatureNames {
			i, ok := index[name]
			if !ok {
				missing = append(missing, name)
				continue
			}
			l.feature[i] = f
		}
		if len(missing) > 0 {
			return nil, fmt.Errorf("%s: the model's features %s are not columns of the input (it has %s)", file, strings.Join(missing, ", "), strings.Join(columns, ", "))
		}
		return l, nil
	}
	// No names in the model file: the columns not copied as ids are the
	// features, in order.
	f := 0
	for i := range columns {
		if len(carry) > 0 && slices.Contains(l.carry, i) {
			continue
		}
		if f < info.Features {
			l.feature[i] = f
		}
		f++
	}
	if f != info.Features {
		return nil, fmt.Errorf("%s: %d feature columns (%s, less the id columns), but the model takes %d features and keeps no names to pick them by: give the file exactly its features, or name the id columns",
			file, f, strings.Join(columns, ", "), info.Features)
	}
	return l, nil
}
