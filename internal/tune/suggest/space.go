// Package suggest holds the search algorithms of Experiments: what the
// next trial's parameters are (grid, random, Sobol, TPE, Hyperband and
// ASHA sampling) and which running trial to stop early (median stopping,
// ASHA's rungs). It is pure computation over the trials so far, with no
// Kubernetes imports, so that a suggestion is a function of the
// Experiment's seed, the trial's number and the history: the controller
// can recompute it after a crash and get the same trial.
package suggest

import (
	"fmt"
	"math"
	"strconv"
)

// Kind is a parameter's kind of value.
type Kind int

const (
	Double Kind = iota
	Int
	Discrete    // numbers from a list
	Categorical // strings from a list
)

// Param is one dimension of a search space.
type Param struct {
	Name string
	Kind Kind
	// Min and Max bound Double and Int (both included); Step, when not 0,
	// makes them a grid from Min.
	Min, Max, Step float64
	// Log draws Double and Int values uniformly in log space.
	Log bool
	// List holds Discrete (numbers) and Categorical values.
	List []string
}

// Space is a search space, in the Experiment's order.
type Space []Param

// Assignment is one trial's values by parameter name, written as the
// trial's template receives them.
type Assignment map[string]string

// Validate says what is wrong with the space, naming the parameter.
func (s Space) Validate() error {
	seen := map[string]bool{}
	for _, p := range s {
		if seen[p.Name] {
			return fmt.Errorf("parameter %q appears twice", p.Name)
		}
		seen[p.Name] = true
		switch p.Kind {
		case Double, Int:
			if !(p.Min < p.Max) {
				return fmt.Errorf("parameter %q: min %g must be less than max %g", p.Name, p.Min, p.Max)
			}
			if p.Log && p.Min <= 0 {
				return fmt.Errorf("parameter %q: a logUniform range needs min > 0, not %g", p.Name, p.Min)
			}
			if p.Step < 0 {
				return fmt.Errorf("parameter %q: step %g must be positive", p.Name, p.Step)
			}
		case Discrete:
			if len(p.List) == 0 {
				return fmt.Errorf("parameter %q: a discrete parameter needs a list of values", p.Name)
			}
			for _, v := range p.List {
				if _, err := strconv.ParseFloat(v, 64); err != nil {
					return fmt.Errorf("parameter %q: discrete value %q is not a number (use categorical for strings)", p.Name, v)
				}
			}
		case Categorical:
			if len(p.List) == 0 {
				return fmt.Errorf("parameter %q: a categorical parameter needs a list of values", p.Name)
			}
		}
	}
	return nil
}

// steps is the number of grid values of a stepped or listed parameter,
// 0 for a continuous one.
func (p Param) steps() int {
	switch {
	case p.Kind == Discrete || p.Kind == Categorical:
		return len(p.List)
	case p.Kind == Int && p.Step == 0:
		return int(math.Floor(p.Max)-math.Ceil(p.Min)) + 1
	case p.Step > 0:
		return int(math.Floor((p.Max-p.Min)/p.Step+1e-9)) + 1
	}
	return 0
}

// at is the value at u in [0, 1): uniform over the range (in log space
// with Log) or over the list.
func (p Param) at(u float64) string {
	u = math.Min(math.Max(u, 0), math.Nextafter(1, 0))
	switch p.Kind {
	case Discrete, Categorical:
		return p.List[int(u*float64(len(p.List)))]
	}
	if p.Step > 0 {
		return p.format(p.Min + float64(int(u*float64(p.steps())))*p.Step)
	}
	lo, hi := p.Min, p.Max
	if p.Kind == Int {
		// Each integer gets an equal share: [lo-0.5, hi+0.5).
		lo, hi = math.Ceil(lo)-0.5, math.Floor(hi)+0.5
	}
	if p.Log { // min > 0, so an Int's lo is at least 0.5
		return p.format(math.Exp(math.Log(lo) + u*(math.Log(hi)-math.Log(lo))))
	}
	return p.format(lo + u*(hi-lo))
}

// format writes a value of the parameter: integers without a point,
// stepped doubles to the step's decimals, others to six digits.
func (p Param) format(x float64) string {
	if p.Kind == Int {
		x = math.Min(math.Max(math.Round(x), math.Ceil(p.Min)), math.Floor(p.Max))
		return strconv.FormatInt(int64(x), 10)
	}
	if p.Step > 0 {
		// Round to the step's precision: 0.1+0.2 is 0.3 here.
		x = math.Round(x/p.Step) * p.Step
		x = math.Min(math.Max(x, p.Min), p.Max)
		return strconv.FormatFloat(x, 'f', decimals(p.Step), 64)
	}
	// Six significant digits: more says nothing of a hyperparameter, and
	// the trial's value is what the search learns from either way.
	return strconv.FormatFloat(x, 'g', 6, 64)
}

// decimals is how many decimal places a step needs.
func decimals(step float64) int {
	for d := 0; d < 12; d++ {
		if s := step * math.Pow10(d); math.Abs(s-math.Round(s)) < 1e-9 {
			return d
		}
	}
	return 12
}

// Number reads a numeric parameter's value.
func (p Param) Number(v string) (float64, error) {
	x, err := strconv.ParseFloat(v, 64)
	if err != nil {
		return 0, fmt.Errorf("parameter %q: value %q is not a number", p.Name, v)
	}
	return x, nil
}
