// Package experiment is the Experiment and Trial controllers: an
// Experiment's trials are created a few at a time with parameters from
// internal/tune/suggest, each Trial runs its Job, and its metrics are
// read from the primary container's log through the API (no sidecar).
package experiment

import (
	"fmt"
	"strconv"

	mlv1 "github.com/skiff-dev/skiff/apis/ml/v1alpha1"
	"github.com/skiff-dev/skiff/internal/tune/suggest"
)

// space is the Experiment's search space for the algorithms; errors name
// the field.
func space(params []mlv1.ParameterSpec) (suggest.Space, error) {
	var out suggest.Space
	for i, p := range params {
		field := fmt.Sprintf("spec.parameters[%d] (%s)", i, p.Name)
		sp := suggest.Param{Name: p.Name, Log: p.FeasibleSpace.Distribution == mlv1.DistributionLogUniform, List: p.FeasibleSpace.List}
		switch p.ParameterType {
		case mlv1.ParameterDouble:
			sp.Kind = suggest.Double
		case mlv1.ParameterInt:
			sp.Kind = suggest.Int
		case mlv1.ParameterDiscrete:
			sp.Kind = suggest.Discrete
		case mlv1.ParameterCategorical:
			sp.Kind = suggest.Categorical
		default:
			return nil, fmt.Errorf("%s: parameterType %q: use double, int, discrete or categorical", field, p.ParameterType)
		}
		if sp.Kind == suggest.Double || sp.Kind == suggest.Int {
			var err error
			if sp.Min, err = parseNumber(field+".feasibleSpace.min", p.FeasibleSpace.Min); err != nil {
				return nil, err
			}
			if sp.Max, err = parseNumber(field+".feasibleSpace.max", p.FeasibleSpace.Max); err != nil {
				return nil, err
			}
			if p.FeasibleSpace.Step != "" {
				if sp.Step, err = parseNumber(field+".feasibleSpace.step", p.FeasibleSpace.Step); err != nil {
					return nil, err
				}
			}
		}
		out = append(out, sp)
	}
	if err := out.Validate(); err != nil {
		return nil, fmt.Errorf("spec.parameters: %w", err)
	}
	return out, nil
}

func parseNumber(field, v string) (float64, error) {
	if v == "" {
		return 0, fmt.Errorf("%s is required", field)
	}
	x, err := strconv.ParseFloat(v, 64)
	if err != nil {
		return 0, fmt.Errorf("%s %q is not a number", field, v)
	}
	return x, nil
}

// settings are an algorithm's settings by name.
func settings(list []mlv1.AlgorithmSetting) suggest.Settings {
	s := suggest.Settings{}
	for _, x := range list {
		s[x.Name] = x.Value
	}
	return s
}
