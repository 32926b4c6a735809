// Package model evaluates trained models natively in Go: XGBoost's JSON
// model format and scikit-learn estimators exported by skiff's exporter.
// It is data plane: no Kubernetes imports, no Python at serve time.
package model

import (
	"errors"
	"fmt"
	"math"
)

// Datatypes of the Open Inference Protocol that models produce.
const (
	FP32  = "FP32"
	FP64  = "FP64"
	INT64 = "INT64"
	BYTES = "BYTES"
)

// Model is a loaded model. Predict is safe for concurrent use.
type Model interface {
	Info() Info
	// Predict evaluates rows of x, row-major, Info().Features values each.
	Predict(x []float64, rows int) ([]Output, error)
}

// Info describes a model's inputs and outputs.
type Info struct {
	Format    string // "xgboost" or "sklearn"
	Estimator string // e.g. "gbtree binary:logistic", "RandomForestClassifier"
	Features  int
	// FeatureNames come from the model file when it kept them.
	FeatureNames []string
	// AllowsMissing says NaN is a valid input (a missing value).
	AllowsMissing bool
	Outputs       []OutputInfo
}

// OutputInfo names an output and its shape; -1 is the batch dimension.
type OutputInfo struct {
	Name     string
	Datatype string
	Shape    []int64
}

// Output is one output tensor of a prediction.
type Output struct {
	Name     string
	Datatype string
	Shape    []int64
	Numbers  []float64 // FP32, FP64, INT64
	Strings  []string  // BYTES
}

// ErrInput marks a prediction refused because of its input (the client's
// fault): errors.Is(err, ErrInput).
var ErrInput = errors.New("invalid input")

// checkRows validates x against a model's feature count and its tolerance
// for missing values, so every format refuses bad input the same way.
func checkRows(x []float64, rows, features int, allowNaN bool) error {
	if rows <= 0 {
		return fmt.Errorf("%w: no rows to predict", ErrInput)
	}
	if len(x) != rows*features {
		return fmt.Errorf("%w: %d values do not make %d rows of %d features", ErrInput, len(x), rows, features)
	}
	for i, v := range x {
		if math.IsInf(v, 0) || (math.IsNaN(v) && !allowNaN) {
			what := "infinite"
			if math.IsNaN(v) {
				what = "NaN (missing)"
			}
			return fmt.Errorf("%w: row %d feature %d is %s; this model takes finite numbers only", ErrInput, i/features, i%features, what)
		}
	}
	return nil
}

func sigmoid(x float64) float64 { return 1 / (1 + math.Exp(-x)) }

// softmaxInPlace turns scores into probabilities, subtracting the max first
// as the libraries do, so large scores do not overflow.
func softmaxInPlace(v []float64) {
	m := math.Inf(-1)
	for _, s := range v {
		m = math.Max(m, s)
	}
	sum := 0.0
	for i, s := range v {
		v[i] = math.Exp(s - m)
		sum += v[i]
	}
	for i := range v {
		v[i] /= sum
	}
}

func argmax(v []float64) int {
	best := 0
	for i := range v {
		if v[i] > v[best] {
			best = i
		}
	}
	return best
}

// checkSplit checks node i of an n-node tree (both formats lay trees out
// the same way): a split's children come after it, which also rules out
// cycles, and it splits on one of the model's features. A leaf has left < 0.
func checkSplit(i, n int, left, right, feature int32, features int) error {
	if left < 0 {
		return nil
	}
	if int(left) <= i || int(left) >= n || int(right) <= i || int(right) >= n {
		return fmt.Errorf("node %d has children %d and %d outside the tree", i, left, right)
	}
	if feature < 0 || int(feature) >= features {
		return fmt.Errorf("node %d splits on feature %d, but the model has %d", i, feature, features)
	}
	return nil
}

// Validate checks rows for a model before prediction: the count of values
// and non-finite values the model cannot take. Predict checks the same;
// servers call it first so that a bad request never joins a batch.
func Validate(m Model, x []float64, rows int) error {
	info := m.Info()
	return checkRows(x, rows, info.Features, info.AllowsMissing)
}
