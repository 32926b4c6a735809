package batch

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/skiff-dev/skiff/internal/model"
)

// encoder writes evaluated rows: the carried columns, then the
// prediction.
type encoder struct {
	format  Format
	info    model.Info
	columns []string // carried, for JSON keys
	// schemaIndex is each output column's index in a Parquet output.
	schemaIndex map[string]int
}

// predictionColumns are the output's columns for the model's first
// output: prediction, or prediction_0.. for one value per class.
func predictionColumns(info model.Info) []string {
	if len(info.Outputs) > 0 {
		if s := info.Outputs[0].Shape; len(s) == 2 && s[1] > 1 {
			cols := make([]string, s[1])
			for i := range cols {
				cols[i] = fmt.Sprintf("prediction_%d", i)
			}
			return cols
		}
	}
	return []string{"prediction"}
}

func (e *encoder) rows(lines [][]byte, carried [][]string, outputs []model.Output) []byte {
	out := outputs[0]
	n := len(carried)
	width := max(1, len(out.Numbers)/max(1, n))
	if len(out.Strings) > 0 {
		width = max(1, len(out.Strings)/max(1, n))
	}
	cols := predictionColumns(e.info)
	buf := make([]byte, 0, n*(32+8*width))
	for i := range n {
		switch e.format {
		case JSONL:
			buf = append(buf, '{')
			for k, v := range carried[i] {
				buf = strconv.AppendQuote(buf, e.columns[k])
				buf = append(buf, ':')
				buf = appendJSONValue(buf, v)
				buf = append(buf, ',')
			}
			for k := range width {
				buf = strconv.AppendQuote(buf, cols[min(k, len(cols)-1)])
				buf = append(buf, ':')
				buf = appendValue(buf, out, i*width+k, true)
				if k < width-1 {
					buf = append(buf, ',')
				}
			}
			buf = append(buf, "}\n"...)
		default:
			if carried[i] == nil { // every column, from a CSV line
				buf = append(buf, bytes.TrimRight(lines[i], "\r\n")...)
				buf = append(buf, ',')
			} else {
				for _, v := range carried[i] {
					buf = appendCSVField(buf, v)
					buf = append(buf, ',')
				}
			}
			for k := range width {
				buf = appendValue(buf, out, i*width+k, false)
				if k < width-1 {
					buf = append(buf, ',')
				}
			}
			buf = append(buf, '\n')
		}
	}
	return buf
}

func appendValue(buf []byte, out model.Output, i int, quoteStrings bool) []byte {
	if len(out.Strings) > 0 {
		if quoteStrings {
			return strconv.AppendQuote(buf, out.Strings[i])
		}
		return appendCSVField(buf, out.Strings[i])
	}
	return strconv.AppendFloat(buf, out.Numbers[i], 'g', -1, 64)
}

func appendCSVField(buf []byte, v string) []byte {
	if !strings.ContainsAny(v, ",\"\r\n") {
		return append(buf, v...)
	}
	return append(append(append(buf, '"'), strings.ReplaceAll(v, `"`, `""`)...), '"')
}

// appendJSONValue writes a carried value: a number as a number, anything
// else as a string.
func appendJSONValue(buf []byte, v string) []byte {
	if _, err := strconv.ParseFloat(v, 64); err == nil && json.Valid([]byte(v)) {
		return append(buf, v...)
	}
	return strconv.AppendQuote(buf, v)
}
