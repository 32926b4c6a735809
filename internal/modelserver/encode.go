package modelserver

import (
	"encoding/json"
	"math"
	"strconv"

	"github.com/skiff-dev/skiff/internal/model"
)

// appendNumber writes a value as JSON: FP32 with float32 precision (0.1,
// not 0.10000000149011612), NaN and infinities as null.
func appendNumber(b []byte, v float64, datatype string) []byte {
	switch {
	case math.IsNaN(v) || math.IsInf(v, 0):
		return append(b, "null"...)
	case datatype == model.INT64:
		return strconv.AppendInt(b, int64(v), 10)
	case datatype == model.FP32:
		return strconv.AppendFloat(b, v, 'g', -1, 32)
	}
	return strconv.AppendFloat(b, v, 'g', -1, 64)
}

func appendString(b []byte, s string) []byte {
	data, _ := json.Marshal(s)
	return append(b, data...)
}

// appendValues writes an output's values flat: [v, v, ...].
func appendValues(b []byte, o model.Output) []byte {
	b = append(b, '[')
	if o.Datatype == model.BYTES {
		for i, s := range o.Strings {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, s)
		}
	} else {
		for i, v := range o.Numbers {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendNumber(b, v, o.Datatype)
		}
	}
	return append(b, ']')
}

// appendRows writes an output as one JSON value per row: a scalar, or an
// array for outputs with more than one value a row.
func appendRows(b []byte, o model.Output) []byte {
	rows := int(o.Shape[0])
	per := 1
	for _, d := range o.Shape[1:] {
		per *= int(d)
	}
	b = append(b, '[')
	for r := 0; r < rows; r++ {
		if r > 0 {
			b = append(b, ',')
		}
		b = appendRow(b, o, r, per)
	}
	return append(b, ']')
}

func appendRow(b []byte, o model.Output, r, per int) []byte {
	if per != 1 {
		b = append(b, '[')
	}
	for i := r * per; i < (r+1)*per; i++ {
		if i > r*per {
			b = append(b, ',')
		}
		if o.Datatype == model.BYTES {
			b = appendString(b, o.Strings[i])
		} else {
			b = appendNumber(b, o.Numbers[i], o.Datatype)
		}
	}
	if per != 1 {
		b = append(b, ']')
	}
	return b
}
