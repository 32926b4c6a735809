package suggest

import (
	"errors"
	"math"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestValidate(t *testing.T) {
	tests := []struct {
		name  string
		space Space
		want  string
	}{
		{"fine", Space{{Name: "lr", Kind: Double, Min: 1e-4, Max: 0.1, Log: true}, {Name: "opt", Kind: Categorical, List: []string{"sgd", "adam"}}}, ""},
		{"twice", Space{{Name: "a", Kind: Int, Min: 1, Max: 2}, {Name: "a", Kind: Int, Min: 1, Max: 2}}, `parameter "a" appears twice`},
		{"empty range", Space{{Name: "a", Kind: Double, Min: 1, Max: 1}}, `parameter "a": min 1 must be less than max 1`},
		{"log of zero", Space{{Name: "a", Kind: Double, Min: 0, Max: 1, Log: true}}, "needs min > 0"},
		{"no list", Space{{Name: "a", Kind: Categorical}}, "needs a list"},
		{"discrete words", Space{{Name: "a", Kind: Discrete, List: []string{"1", "x"}}}, `discrete value "x" is not a number`},
	}
	for _, tt := range tests {
		err := tt.space.Validate()
		if (err == nil) != (tt.want == "") || err != nil && !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: Validate() = %v, want %q", tt.name, err, tt.want)
		}
	}
}

func mustNew(t *testing.T, algorithm string, space Space, settings Settings) Sampler {
	t.Helper()
	s, err := New(algorithm, space, settings, 42)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestGridEnumeratesEveryPointOnce(t *testing.T) {
	space := Space{
		{Name: "lr", Kind: Double, Min: 0.1, Max: 0.3, Step: 0.1},
		{Name: "depth", Kind: Int, Min: 2, Max: 3},
		{Name: "opt", Kind: Categorical, List: []string{"sgd", "adam"}},
	}
	g := mustNew(t, "grid", space, nil)
	var got []string
	for n := 0; ; n++ {
		a, err := g.Sample(n, nil)
		if errors.Is(err, ErrExhausted) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, a["lr"]+" "+a["depth"]+" "+a["opt"])
	}
	want := []string{
		"0.1 2 sgd", "0.1 2 adam", "0.1 3 sgd", "0.1 3 adam",
		"0.2 2 sgd", "0.2 2 adam", "0.2 3 sgd", "0.2 3 adam",
		"0.3 2 sgd", "0.3 2 adam", "0.3 3 sgd", "0.3 3 adam",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("grid (-want +got):\n%s", diff)
	}
	if _, err := New("grid", Space{{Name: "x", Kind: Double, Min: 0, Max: 1}}, nil, 1); err == nil || !strings.Contains(err.Error(), `grid needs a step for double parameter "x"`) {
		t.Errorf("a continuous double in a grid: %v", err)
	}
}

func TestSamplersAreReproducibleAndInRange(t *testing.T) {
	space := Space{
		{Name: "lr", Kind: Double, Min: 1e-4, Max: 1e-1, Log: true},
		{Name: "depth", Kind: Int, Min: 2, Max: 8},
		{Name: "units", Kind: Discrete, List: []string{"16", "32", "64"}},
		{Name: "opt", Kind: Categorical, List: []string{"sgd", "adam"}},
	}
	for _, algorithm := range []string{"random", "sobol", "tpe", "asha"} {
		t.Run(algorithm, func(t *testing.T) {
			s := mustNew(t, algorithm, space, nil)
			var history []Trial
			seen := map[string]bool{}
			for n := range 30 {
				a, err := s.Sample(n, history)
				if err != nil {
					t.Fatal(err)
				}
				again, _ := s.Sample(n, history)
				if diff := cmp.Diff(a, again); diff != "" {
					t.Fatalf("trial %d sampled twice differs:\n%s", n, diff)
				}
				lr, _ := strconv.ParseFloat(a["lr"], 64)
				depth, err := strconv.Atoi(a["depth"])
				if lr < 1e-4 || lr > 1e-1 || err != nil || depth < 2 || depth > 8 || !contains(space[2].List, a["units"]) || !contains(space[3].List, a["opt"]) {
					t.Fatalf("trial %d out of the space: %v", n, a)
				}
				seen[a["lr"]] = true
				history = append(history, Trial{Number: n, Assignment: a, State: Complete, Value: math.Abs(math.Log10(lr) + 2)})
			}
			if len(seen) < 25 {
				t.Errorf("only %d distinct learning rates in 30 trials", len(seen))
			}
		})
	}
}

// The first 2^k points of every dimension of a Sobol sequence fall one
// in each interval of width 2^-k, shifted or not.
func TestSobolStratifies(t *testing.T) {
	var space Space
	for d := range 21 {
		space = append(space, Param{Name: "x" + strconv.Itoa(d), Kind: Double, Min: 0, Max: 1})
	}
	s, err := newSobol(space, 7)
	if err != nil {
		t.Fatal(err)
	}
	const k = 8
	for d := range space {
		cells := map[int]bool{}
		for i := 0; i < 1<<k; i++ { // points 0 .. 2^k-1 (0 is the shifted origin)
			cells[int(s.point(i)[d]*(1<<k))] = true
		}
		if len(cells) != 1<<k {
			t.Errorf("dimension %d: the first %d points fill %d of %d cells", d, 1<<k, len(cells), 1<<k)
		}
	}
	if _, err := newSobol(append(space, space[0]), 7); err == nil {
		t.Error("22 dimensions: no error")
	}
}

// tpeRun minimizes f over [0, 1] with n sequential trials and returns the
// best value.
func tpeRun(t *testing.T, algorithm string, seed int64, n int, f func(x float64) float64) float64 {
	t.Helper()
	s, err := New(algorithm, Space{{Name: "x", Kind: Double, Min: 0, Max: 1}}, nil, seed)
	if err != nil {
		t.Fatal(err)
	}
	var history []Trial
	best := math.Inf(1)
	for i := range n {
		a, err := s.Sample(i, history)
		if err != nil {
			t.Fatal(err)
		}
		x, _ := strconv.ParseFloat(a["x"], 64)
		v := f(x)
		best = math.Min(best, v)
		history = append(history, Trial{Number: i, Assignment: a, State: Complete, Value: v})
	}
	return best
}

// TPE beats random search on a narrow valley, over seeds (the median of
// the best values found in 40 trials).
func TestTPEBeatsRandom(t *testing.T) {
	valley := func(x float64) float64 { return math.Abs(x - 0.3183) }
	var tpeBest, randomBest []float64
	for seed := range int64(15) {
		tpeBest = append(tpeBest, tpeRun(t, "tpe", seed, 40, valley))
		randomBest = append(randomBest, tpeRun(t, "random", seed, 40, valley))
	}
	sort.Float64s(tpeBest)
	sort.Float64s(randomBest)
	t.Logf("median best of 15 seeds, 40 trials: tpe %.2g, random %.2g", tpeBest[7], randomBest[7])
	if tpeBest[7] >= randomBest[7] {
		t.Errorf("median best: tpe %g, random %g", tpeBest[7], randomBest[7])
	}
	if tpeBest[7] > 0.005 {
		t.Errorf("tpe's median best %g after 40 trials, want under 0.005", tpeBest[7])
	}
}

// Running trials count as bad (constant liar): a parallel batch does not
// pile onto one point.
func TestTPESpreadsParallelTrials(t *testing.T) {
	s := mustNew(t, "tpe", Space{{Name: "x", Kind: Double, Min: 0, Max: 1}}, Settings{"n_startup_trials": "5"})
	var history []Trial
	for i := range 20 {
		x := float64(i) / 20
		history = append(history, Trial{Number: i, Assignment: Assignment{"x": strconv.FormatFloat(x, 'g', -1, 64)}, State: Complete, Value: math.Abs(x - 0.5)})
	}
	var batch []string
	for i := 20; i < 24; i++ {
		a, _ := s.Sample(i, history)
		batch = append(batch, a["x"])
		history = append(history, Trial{Number: i, Assignment: a, State: Running})
	}
	if len(map[string]bool{batch[0]: true, batch[1]: true, batch[2]: true, batch[3]: true}) < 4 {
		t.Errorf("four parallel suggestions %v are not distinct", batch)
	}
}

func TestTPECategorical(t *testing.T) {
	s := mustNew(t, "tpe", Space{{Name: "opt", Kind: Categorical, List: []string{"sgd", "adam", "rmsprop"}}}, nil)
	var history []Trial
	counts := map[string]int{}
	for i := range 60 {
		a, _ := s.Sample(i, history)
		v := 1.0
		if a["opt"] == "adam" {
			v = 0
		}
		if i >= 20 {
			counts[a["opt"]]++
		}
		history = append(history, Trial{Number: i, Assignment: a, State: Complete, Value: v})
	}
	if counts["adam"] < 25 {
		t.Errorf("after 20 trials, the best choice was taken %d times of 40: %v", counts["adam"], counts)
	}
}

func TestSettingsAreChecked(t *testing.T) {
	space := Space{{Name: "x", Kind: Double, Min: 0, Max: 1}}
	for _, tt := range []struct {
		algorithm string
		settings  Settings
		want      string
	}{
		{"tpe", Settings{"n_startup": "3"}, "algorithm tpe has no setting n_startup (it knows random_state, n_startup_trials"},
		{"random", Settings{"random_state": "x"}, `random_state="x": not an integer`},
		{"annealing", nil, `unknown algorithm "annealing"`},
	} {
		if _, err := New(tt.algorithm, space, tt.settings, 1); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s %v: %v, want %q", tt.algorithm, tt.settings, err, tt.want)
		}
	}
}
