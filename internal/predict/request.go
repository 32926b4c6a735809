package predict

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// V2Request is an Open Inference Protocol request: positional rows as one
// [rows, features] tensor, named rows as one [rows] tensor per feature.
func (r Rows) V2Request() ([]byte, error) {
	type tensor struct {
		Name     string    `json:"name"`
		Shape    []int     `json:"shape"`
		Datatype string    `json:"datatype"`
		Data     []float64 `json:"data"`
	}
	var inputs []tensor
	if len(r.Numbers) > 0 {
		var flat []float64
		for _, row := range r.Numbers {
			flat = append(flat, row...)
		}
		inputs = append(inputs, tensor{Name: "input-0", Shape: []int{len(r.Numbers), len(r.Numbers[0])}, Datatype: "FP64", Data: flat})
	}
	for _, name := range r.Names {
		col := make([]float64, len(r.Named))
		for i, row := range r.Named {
			v, ok := row[name]
			if !ok {
				return nil, fmt.Errorf("row %d has no %q: every row needs every feature", i+1, name)
			}
			col[i] = v
		}
		inputs = append(inputs, tensor{Name: name, Shape: []int{len(r.Named)}, Datatype: "FP64", Data: col})
	}
	return json.Marshal(map[string]any{"inputs": inputs})
}

// Objects are the rows as JSON objects, one request body each (the seeds'
// POST /predict takes one object of named features).
func (r Rows) Objects() ([][]byte, error) {
	if len(r.Numbers) > 0 {
		return nil, fmt.Errorf("this model's own server takes features by name: give rows as {\"feature\": value} objects or a CSV with a header")
	}
	out := make([][]byte, len(r.Named))
	for i, row := range r.Named {
		data, err := json.Marshal(row)
		if err != nil {
			return nil, err
		}
		out[i] = data
	}
	return out, nil
}

// Table is answers for people: a header and one line per row.
type Table struct {
	Header []string
	Lines  [][]string
}

// V2Table reads an Open Inference Protocol answer: one column per output,
// a row's several values joined by commas.
func V2Table(answer []byte, rows int) (Table, error) {
	var resp struct {
		Outputs []struct {
			Name  string `json:"name"`
			Shape []int  `json:"shape"`
			Data  []any  `json:"data"`
		} `json:"outputs"`
		Error string `json:"error"`
	}
	if err := json.Unmarshal(answer, &resp); err != nil {
		return Table{}, fmt.Errorf("the model answered %q: %w", answer, err)
	}
	if resp.Error != "" {
		return Table{}, fmt.Errorf("the model refused the request: %s", resp.Error)
	}
	t := Table{Header: []string{"ROW"}}
	t.Lines = make([][]string, rows)
	for i := range t.Lines {
		t.Lines[i] = []string{strconv.Itoa(i + 1)}
	}
	for _, o := range resp.Outputs {
		t.Header = append(t.Header, strings.ToUpper(o.Name))
		per := 1
		if rows > 0 && len(o.Data)%rows == 0 {
			per = len(o.Data) / rows
		}
		for i := range t.Lines {
			var cells []string
			for j := i * per; j < (i+1)*per && j < len(o.Data); j++ {
				cells = append(cells, fmt.Sprint(o.Data[j]))
			}
			t.Lines[i] = append(t.Lines[i], strings.Join(cells, ","))
		}
	}
	return t, nil
}

// ObjectTable reads the answers of POST /predict, one per row: the
// fields of each answer object become columns.
func ObjectTable(answers [][]byte) (Table, error) {
	t := Table{Header: []string{"ROW"}}
	var keys []string
	var objs []map[string]any
	for i, a := range answers {
		var obj map[string]any
		if err := json.Unmarshal(a, &obj); err != nil {
			return Table{}, fmt.Errorf("row %d: the model answered %q, not a JSON object", i+1, a)
		}
		for k := range obj {
			if !slices.Contains(keys, k) {
				keys = append(keys, k)
			}
		}
		objs = append(objs, obj)
	}
	slices.Sort(keys)
	for _, k := range keys {
		t.Header = append(t.Header, strings.ToUpper(k))
	}
	for i, obj := range objs {
		line := []string{strconv.Itoa(i + 1)}
		for _, k := range keys {
			line = append(line, fmt.Sprint(obj[k]))
		}
		t.Lines = append(t.Lines, line)
	}
	return t, nil
}
