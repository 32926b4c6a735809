package modelserver

import (
	"fmt"
	"math"
	"strings"

	"github.com/skiff-dev/skiff/internal/modelrepo"
)

// tensor is a decoded input tensor, from JSON or protobuf.
type tensor struct {
	name     string
	datatype string
	shape    []int64
	nums     []float64 // numeric and BOOL datatypes; NaN is a missing value
	strs     []string  // BYTES
}

// intRange bounds each integer datatype, so 300 is refused as INT8.
var intRange = map[string][2]float64{
	"INT8": {math.MinInt8, math.MaxInt8}, "INT16": {math.MinInt16, math.MaxInt16},
	"INT32": {math.MinInt32, math.MaxInt32}, "INT64": {math.MinInt64, math.MaxInt64},
	"UINT8": {0, math.MaxUint8}, "UINT16": {0, math.MaxUint16},
	"UINT32": {0, math.MaxUint32}, "UINT64": {0, math.MaxUint64},
}

// datatypeSize is every datatype a model takes, with its size in raw
// (binary) tensor contents.
var datatypeSize = map[string]int{"FP32": 4, "FP64": 8, "INT8": 1, "INT16": 2, "INT32": 4, "INT64": 8, "UINT8": 1, "UINT16": 2, "UINT32": 4, "UINT64": 8, "BOOL": 1}

const numericTypes = "FP32, FP64, INT8-64, UINT8-64 or BOOL"

// checkDatatype refuses datatypes the protocol does not have and those a
// tabular model cannot take.
func checkDatatype(t *tensor) error {
	if _, ok := datatypeSize[t.datatype]; ok {
		return nil
	}
	switch dt := t.datatype; {
	case dt == "BYTES":
		return badRequest("input %q is BYTES, but the model takes numbers: send %s", t.name, numericTypes)
	case dt == "FP16" || dt == "BF16":
		return badRequest("input %q is %s, which skiff does not decode: send FP32 or FP64", t.name, dt)
	case dt == "":
		return badRequest("input %q has no datatype: use one of %s", t.name, numericTypes)
	default:
		return badRequest("input %q has datatype %q, which the Open Inference Protocol does not define: use one of %s", t.name, dt, numericTypes)
	}
}

// checkValues ties a tensor's data to its shape and datatype.
func checkValues(t *tensor) error {
	n := int64(1)
	for _, d := range t.shape {
		if d < 0 {
			return badRequest("input %q has shape %v: dimensions cannot be negative", t.name, t.shape)
		}
		n *= d
		if n > 1<<31 {
			return badRequest("input %q has shape %v: too many values", t.name, t.shape)
		}
	}
	if len(t.shape) == 0 {
		return badRequest("input %q has no shape: give [rows, features] or [rows]", t.name)
	}
	if int64(len(t.nums)) != n {
		return badRequest("input %q has shape %v (%d values) but its data holds %d", t.name, t.shape, n, len(t.nums))
	}
	if r, ok := intRange[t.datatype]; ok {
		for i, v := range t.nums {
			if v != math.Trunc(v) || v < r[0] || v > r[1] {
				return badRequest("input %q value %d (%v) is not a valid %s", t.name, i, v, t.datatype)
			}
		}
	}
	return nil
}

// assemble turns input tensors into the rows the model takes: one tensor
// [rows, features] (or [features] for one row), or one tensor per named
// feature, each [rows] or [rows, 1].
func assemble(v *modelrepo.Version, inputs []tensor) ([]float64, int, error) {
	features := v.Info().Features
	if len(inputs) == 0 {
		return nil, 0, badRequest("the request has no inputs: send one tensor of shape [rows, %d]%s", features, namedHint(v))
	}
	for i := range inputs {
		if err := checkDatatype(&inputs[i]); err != nil {
			return nil, 0, err
		}
		if err := checkValues(&inputs[i]); err != nil {
			return nil, 0, err
		}
	}
	if t := inputs[0]; len(inputs) == 1 {
		_, named := v.FeatureIndex(t.name)
		if !named || (len(t.shape) == 2 && t.shape[1] != 1) {
			switch {
			case len(t.shape) == 2 && t.shape[1] == int64(features):
				return t.nums, int(t.shape[0]), nil
			case len(t.shape) == 1 && t.shape[0] == int64(features):
				return t.nums, 1, nil
			default:
				return nil, 0, badRequest("input %q has shape %v, but the model takes rows of %d features: use shape [rows, %d]%s", t.name, t.shape, features, features, namedHint(v))
			}
		}
	}
	return assembleNamed(v, inputs)
}

func namedHint(v *modelrepo.Version) string {
	if len(v.Features) == 0 {
		return ""
	}
	return fmt.Sprintf(", or one tensor of shape [rows] per feature (%s)", strings.Join(v.Features, ", "))
}

func assembleNamed(v *modelrepo.Version, inputs []tensor) ([]float64, int, error) {
	features := v.Info().Features
	if len(v.Features) == 0 {
		return nil, 0, badRequest("%d inputs given, but model %q has no feature names (add features to its %s): send one tensor of shape [rows, %d]", len(inputs), v.Model, modelrepo.ConfigFile, features)
	}
	rows := -1
	columns := make([]*tensor, features)
	for i := range inputs {
		t := &inputs[i]
		col, ok := v.FeatureIndex(t.name)
		if !ok {
			return nil, 0, badRequest("input %q is not a feature of model %q (features: %s)", t.name, v.Model, strings.Join(v.Features, ", "))
		}
		if columns[col] != nil {
			return nil, 0, badRequest("feature %q is given twice", t.name)
		}
		if len(t.shape) > 2 || (len(t.shape) == 2 && t.shape[1] != 1) {
			return nil, 0, badRequest("input %q has shape %v: a named feature takes shape [rows] or [rows, 1]", t.name, t.shape)
		}
		if rows >= 0 && int(t.shape[0]) != rows {
			return nil, 0, badRequest("input %q has %d rows but others have %d", t.name, t.shape[0], rows)
		}
		rows = int(t.shape[0])
		columns[col] = t
	}
	var missing []string
	for i, c := range columns {
		if c == nil {
			missing = append(missing, v.Features[i])
		}
	}
	if len(missing) > 0 {
		return nil, 0, badRequest("missing features: %s", strings.Join(missing, ", "))
	}
	x := make([]float64, rows*features)
	for j, c := range columns {
		for r := 0; r < rows; r++ {
			x[r*features+j] = c.nums[r]
		}
	}
	return x, rows, nil
}
