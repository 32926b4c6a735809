// Package predict turns rows a person types or keeps in a file (JSON or
// CSV) into model requests (Open Inference Protocol v2, or the seeds'
// one-object POST /predict), and answers into tables.
package predict

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// Rows are the rows to predict: positional (Numbers) or by feature name
// (Named, with the names in the order first seen).
type Rows struct {
	Numbers [][]float64
	Named   []map[string]float64
	Names   []string
}

// Len is the number of rows.
func (r Rows) Len() int { return len(r.Numbers) + len(r.Named) }

// Read reads --data: JSON text, @file.json, @file.csv, or - for JSON on
// stdin.
func Read(arg string, stdin io.Reader) (Rows, error) {
	switch {
	case arg == "-":
		data, err := io.ReadAll(stdin)
		if err != nil {
			return Rows{}, err
		}
		return ParseJSON(data)
	case strings.HasPrefix(arg, "@"):
		path := arg[1:]
		data, err := os.ReadFile(path)
		if err != nil {
			return Rows{}, fmt.Errorf("--data %s: %w", arg, err)
		}
		var rows Rows
		if strings.HasSuffix(strings.ToLower(path), ".csv") {
			rows, err = ParseCSV(data)
		} else {
			rows, err = ParseJSON(data)
		}
		if err != nil {
			return Rows{}, fmt.Errorf("%s: %w", path, err)
		}
		return rows, nil
	}
	rows, err := ParseJSON([]byte(arg))
	if err != nil {
		return Rows{}, fmt.Errorf("--data: %w", err)
	}
	return rows, nil
}

// ParseJSON reads a row ([1, 2]), rows ([[1, 2], [3, 4]]), a named row
// ({"a": 1}) or named rows ([{"a": 1}, {"a": 2}]).
func ParseJSON(data []byte) (Rows, error) {
	data = bytes.TrimSpace(data)
	var one []float64
	if json.Unmarshal(data, &one) == nil && len(one) > 0 {
		return Rows{Numbers: [][]float64{one}}, nil
	}
	var many [][]float64
	if json.Unmarshal(data, &many) == nil && len(many) > 0 {
		return Rows{Numbers: many}, checkWidths(many)
	}
	var obj map[string]float64
	if json.Unmarshal(data, &obj) == nil && len(obj) > 0 {
		return named([]map[string]float64{obj}, data), nil
	}
	var objs []map[string]float64
	if json.Unmarshal(data, &objs) == nil && len(objs) > 0 {
		return named(objs, data), nil
	}
	return Rows{}, errors.New(`give numbers as a row [1, 2.5], rows [[1, 2.5], [3, 4]], or features by name {"age": 52} / [{"age": 52}, {"age": 31}]`)
}

func checkWidths(rows [][]float64) error {
	for i, r := range rows {
		if len(r) != len(rows[0]) {
			return fmt.Errorf("row %d has %d values, row 1 has %d: every row needs the same number", i+1, len(r), len(rows[0]))
		}
	}
	return nil
}

// named keeps the rows with their names in the order the text has them
// (the values are numbers, so every string in it is a name).
func named(objs []map[string]float64, text []byte) Rows {
	var names []string
	seen := map[string]bool{}
	dec := json.NewDecoder(bytes.NewReader(text))
	for {
		tok, err := dec.Token()
		if err != nil {
			break
		}
		if key, ok := tok.(string); ok && !seen[key] {
			seen[key] = true
			names = append(names, key)
		}
	}
	return Rows{Named: objs, Names: names}
}

// ParseCSV reads rows of numbers; a first line that is not all numbers
// names the features.
func ParseCSV(data []byte) (Rows, error) {
	records, err := csv.NewReader(bytes.NewReader(data)).ReadAll()
	if err != nil {
		return Rows{}, err
	}
	if len(records) == 0 {
		return Rows{}, errors.New("no rows")
	}
	var header []string
	if _, err := numbers(records[0]); err != nil {
		header, records = records[0], records[1:]
	}
	var rows Rows
	for i, rec := range records {
		nums, err := numbers(rec)
		if err != nil {
			return Rows{}, fmt.Errorf("line %d: %w", i+1+min(len(header), 1), err)
		}
		if header == nil {
			rows.Numbers = append(rows.Numbers, nums)
			continue
		}
		if len(nums) != len(header) {
			return Rows{}, fmt.Errorf("line %d has %d values for %d columns", i+2, len(nums), len(header))
		}
		obj := map[string]float64{}
		for j, h := range header {
			obj[h] = nums[j]
		}
		rows.Named = append(rows.Named, obj)
	}
	rows.Names = header
	if header == nil {
		return rows, checkWidths(rows.Numbers)
	}
	return rows, nil
}

func numbers(rec []string) ([]float64, error) {
	out := make([]float64, len(rec))
	for i, s := range rec {
		v, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil {
			return nil, fmt.Errorf("%q is not a number", s)
		}
		out[i] = v
	}
	return out, nil
}
