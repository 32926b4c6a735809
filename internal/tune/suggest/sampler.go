package suggest

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"
)

// State is where a trial is.
type State int

const (
	Running State = iota
	Complete
	Failed
	Stopped // early-stopped: its intermediate values count, not a final one
)

// Trial is what an algorithm knows of one trial.
type Trial struct {
	Number     int
	Assignment Assignment
	State      State
	// Value is the objective of a Complete trial, to be minimized (the
	// caller negates a maximized one).
	Value float64
	// Points are the intermediate objective values, by ascending step.
	Points []Point
}

// Point is an intermediate objective value.
type Point struct {
	Step  int64
	Value float64
}

// Sampler suggests the assignment of trial number n (0, 1, ...) from the
// trials so far. The same seed, n and trials give the same assignment.
type Sampler interface {
	Sample(n int, trials []Trial) (Assignment, error)
}

// ErrExhausted means the space has no point left to try (a grid).
var ErrExhausted = errors.New("every point of the search space has been suggested")

// Settings are an algorithm's settings by name, as the Experiment gives
// them.
type Settings map[string]string

// Int reads an integer setting, def when absent.
func (s Settings) Int(name string, def int64) (int64, error) {
	v, ok := s[name]
	if !ok {
		return def, nil
	}
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("algorithm setting %s=%q: not an integer", name, v)
	}
	return n, nil
}

// Float reads a number setting, def when absent.
func (s Settings) Float(name string, def float64) (float64, error) {
	v, ok := s[name]
	if !ok {
		return def, nil
	}
	x, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
	if err != nil {
		return 0, fmt.Errorf("algorithm setting %s=%q: not a number", name, v)
	}
	return x, nil
}

// check refuses settings the algorithm does not know, naming those it does.
func (s Settings) check(algorithm string, known ...string) error {
	var unknown []string
	for name := range s {
		if !contains(known, name) {
			unknown = append(unknown, name)
		}
	}
	if len(unknown) == 0 {
		return nil
	}
	sort.Strings(unknown)
	return fmt.Errorf("algorithm %s has no setting %s (it knows %s)", algorithm, strings.Join(unknown, ", "), strings.Join(known, ", "))
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// New builds the named sampler over space. seed is used unless the
// settings give random_state.
func New(algorithm string, space Space, settings Settings, seed int64) (Sampler, error) {
	if err := space.Validate(); err != nil {
		return nil, err
	}
	seed, err := settings.Int("random_state", seed)
	if err != nil {
		return nil, err
	}
	switch algorithm {
	case "grid":
		if err := settings.check(algorithm, "random_state"); err != nil {
			return nil, err
		}
		return newGrid(space)
	case "random":
		if err := settings.check(algorithm, "random_state"); err != nil {
			return nil, err
		}
		return randomSampler{space: space, seed: seed}, nil
	case "sobol":
		if err := settings.check(algorithm, "random_state"); err != nil {
			return nil, err
		}
		return newSobol(space, seed)
	case "tpe", "bayesianoptimization":
		return newTPE(space, settings, seed)
	case "hyperband", "asha":
		// Their sampling is random; their work is in stopping (Rungs).
		if err := settings.check(algorithm, "random_state", "resource_name", "eta", "r_l", "min_resource", "max_resource"); err != nil {
			return nil, err
		}
		return randomSampler{space: space, seed: seed}, nil
	}
	return nil, fmt.Errorf("unknown algorithm %q: use grid, random, sobol, tpe, hyperband or asha", algorithm)
}

// rng is trial n's own random stream: the same for the same seed and n,
// whatever ran before.
func rng(seed int64, n int) *rand.Rand {
	return rand.New(rand.NewPCG(uint64(seed), uint64(n)*0x9E3779B97F4A7C15+0x632BE59BD9B4E019))
}

// randomSampler draws every parameter uniformly (log-uniformly with Log).
type randomSampler struct {
	space Space
	seed  int64
}

func (r randomSampler) Sample(n int, _ []Trial) (Assignment, error) {
	g := rng(r.seed, n)
	a := Assignment{}
	for _, p := range r.space {
		a[p.Name] = p.at(g.Float64())
	}
	return a, nil
}

// grid enumerates every combination, the first parameter slowest.
type grid struct {
	space Space
	sizes []int
	total int
}

func newGrid(space Space) (*grid, error) {
	g := &grid{space: space, total: 1}
	for _, p := range space {
		n := p.steps()
		if n == 0 {
			return nil, fmt.Errorf("grid needs a step for double parameter %q (feasibleSpace.step), or a list", p.Name)
		}
		g.sizes = append(g.sizes, n)
		if g.total > 1<<30/n {
			return nil, fmt.Errorf("the grid has more than 2^30 points: give fewer values, or use random, sobol or tpe")
		}
		g.total *= n
	}
	return g, nil
}

// Size is the number of grid points.
func (g *grid) Size() int { return g.total }

func (g *grid) Sample(n int, _ []Trial) (Assignment, error) {
	if n >= g.total {
		return nil, ErrExhausted
	}
	a := Assignment{}
	for i := len(g.space) - 1; i >= 0; i-- {
		p, k := g.space[i], n%g.sizes[i]
		n /= g.sizes[i]
		if p.Kind == Discrete || p.Kind == Categorical {
			a[p.Name] = p.List[k]
			continue
		}
		if p.Step == 0 { // Int without a step: every integer
			a[p.Name] = p.format(math.Ceil(p.Min) + float64(k))
			continue
		}
		a[p.Name] = p.format(p.Min + float64(k)*p.Step)
	}
	return a, nil
}
