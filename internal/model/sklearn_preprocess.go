package model

import "fmt"

// sklearnStep is a pipeline's scaler, applied before the model as
// scikit-learn applies it (the same operations, in the same order).
type sklearnStep struct {
	Kind  string    `json:"kind"` // standard, minmax, maxabs
	Mean  []float64 `json:"mean"`
	Scale []float64 `json:"scale"`
	Min   []float64 `json:"min"`
}

func (s sklearnStep) check(features int) error {
	var want [][]float64
	switch s.Kind {
	case "standard":
		if s.Mean == nil && s.Scale == nil {
			return fmt.Errorf("needs mean or scale")
		}
		want = [][]float64{s.Mean, s.Scale}
	case "minmax":
		want = [][]float64{s.Scale, s.Min}
		if s.Scale == nil || s.Min == nil {
			return fmt.Errorf("needs scale and min")
		}
	case "maxabs":
		want = [][]float64{s.Scale}
		if s.Scale == nil {
			return fmt.Errorf("needs scale")
		}
	default:
		return fmt.Errorf("kind %q is not standard, minmax or maxabs", s.Kind)
	}
	for _, v := range want {
		if v != nil && len(v) != features {
			return fmt.Errorf("%d values for %d features", len(v), features)
		}
	}
	return nil
}

// apply transforms rows in place.
func (s sklearnStep) apply(x []float64, features int) {
	for i := range x {
		j := i % features
		switch s.Kind {
		case "standard":
			if s.Mean != nil {
				x[i] -= s.Mean[j]
			}
			if s.Scale != nil {
				x[i] /= s.Scale[j]
			}
		case "minmax":
			x[i] *= s.Scale[j]
			x[i] += s.Min[j]
		case "maxabs":
			x[i] /= s.Scale[j]
		}
	}
}
