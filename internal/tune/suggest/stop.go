package suggest

import (
	"fmt"
	"math"
	"sort"
)

// Stopper says whether a running trial should stop now, from its
// intermediate values and the other trials'; the reason is for people.
type Stopper interface {
	Stop(trial Trial, trials []Trial) (stop bool, reason string)
}

// NewStopper builds the early-stopping rule of an Experiment's
// earlyStopping (medianstop), or of its algorithm (hyperband and asha
// stop at their rungs); nil when neither stops trials.
func NewStopper(earlyStopping string, earlySettings Settings, algorithm string, algorithmSettings Settings) (Stopper, error) {
	var stoppers multi
	switch earlyStopping {
	case "":
	case "medianstop":
		if err := earlySettings.check(earlyStopping, "min_trials_required", "start_step"); err != nil {
			return nil, err
		}
		minTrials, err := earlySettings.Int("min_trials_required", 3)
		if err != nil {
			return nil, err
		}
		start, err := earlySettings.Int("start_step", 4)
		if err != nil {
			return nil, err
		}
		stoppers = append(stoppers, medianStop{minTrials: int(max(minTrials, 1)), startStep: start})
	default:
		return nil, fmt.Errorf("unknown early stopping algorithm %q: use medianstop", earlyStopping)
	}
	if algorithm == "asha" || algorithm == "hyperband" {
		r, err := newRungs(algorithm, algorithmSettings)
		if err != nil {
			return nil, err
		}
		stoppers = append(stoppers, r)
	}
	if len(stoppers) == 0 {
		return nil, nil
	}
	return stoppers, nil
}

type multi []Stopper

func (m multi) Stop(t Trial, trials []Trial) (bool, string) {
	for _, s := range m {
		if stop, why := s.Stop(t, trials); stop {
			return true, why
		}
	}
	return false, ""
}

// bestUpTo is the best (lowest) of t's values up to step, and whether it
// has any.
func bestUpTo(t Trial, step int64) (float64, bool) {
	best, ok := math.Inf(1), false
	for _, p := range t.Points {
		if p.Step > step {
			break
		}
		best, ok = math.Min(best, p.Value), true
	}
	return best, ok
}

// medianStop is Katib's and Optuna's median stopping rule: from
// startStep on, a trial whose best value so far is worse than the median
// of the finished trials' best values up to the same step stops, once
// minTrials finished trials reached that step.
type medianStop struct {
	minTrials int
	startStep int64
}

func (m medianStop) Stop(t Trial, trials []Trial) (bool, string) {
	if len(t.Points) == 0 {
		return false, ""
	}
	step := t.Points[len(t.Points)-1].Step
	if step < m.startStep {
		return false, ""
	}
	var others []float64
	for _, o := range trials {
		if o.Number == t.Number || o.State != Complete || len(o.Points) == 0 || o.Points[len(o.Points)-1].Step < step {
			continue
		}
		if v, ok := bestUpTo(o, step); ok {
			others = append(others, v)
		}
	}
	if len(others) < m.minTrials {
		return false, ""
	}
	sort.Float64s(others)
	median := others[len(others)/2]
	if len(others)%2 == 0 {
		median = (others[len(others)/2-1] + others[len(others)/2]) / 2
	}
	best, _ := bestUpTo(t, step)
	if best <= median {
		return false, ""
	}
	return true, fmt.Sprintf("its best objective up to step %d, %g, is worse than the median %g of %d finished trials at that step", step, best, median, len(others))
}

// rungs is asynchronous successive halving (ASHA; Hyperband's brackets
// with "hyperband"): a trial that reaches a rung (minResource·eta^k
// steps) goes on only if its value there is among the best 1/eta of the
// values trials had on reaching it, in its bracket.
type rungs struct {
	eta         float64
	minResource int64
	brackets    int
}

func newRungs(algorithm string, s Settings) (*rungs, error) {
	eta, err := s.Float("eta", 3)
	if err != nil {
		return nil, err
	}
	if eta < 2 {
		return nil, fmt.Errorf("algorithm setting eta=%g: it must be at least 2", eta)
	}
	minResource, err := s.Int("min_resource", 1)
	if err == nil {
		minResource, err = s.Int("r_l", minResource)
	}
	if err != nil {
		return nil, err
	}
	maxResource, err := s.Int("max_resource", 0)
	if err != nil {
		return nil, err
	}
	r := &rungs{eta: eta, minResource: max(minResource, 1), brackets: 1}
	if algorithm == "hyperband" && maxResource > r.minResource {
		// As many brackets as rungs fit between the resources.
		r.brackets = int(math.Floor(math.Log(float64(maxResource)/float64(r.minResource))/math.Log(eta))) + 1
	}
	return r, nil
}

// rung is the value t had on reaching step (its first point at or after
// it), and whether it got that far.
func valueAt(t Trial, step int64) (float64, bool) {
	for _, p := range t.Points {
		if p.Step >= step {
			return p.Value, true
		}
	}
	return 0, false
}

func (r *rungs) Stop(t Trial, trials []Trial) (bool, string) {
	if len(t.Points) == 0 {
		return false, ""
	}
	bracket := t.Number % r.brackets
	step := t.Points[len(t.Points)-1].Step
	// The highest rung t reached.
	rung := r.minResource * int64(math.Pow(r.eta, float64(bracket)))
	if step < rung {
		return false, ""
	}
	for next := int64(float64(rung) * r.eta); next <= step; next = int64(float64(next) * r.eta) {
		rung = next
	}
	v, _ := valueAt(t, rung)
	var competing []float64
	for _, o := range trials {
		if o.Number%r.brackets != bracket {
			continue
		}
		if x, ok := valueAt(o, rung); ok {
			competing = append(competing, x)
		}
	}
	if float64(len(competing)) < r.eta {
		return false, ""
	}
	sort.Float64s(competing)
	keep := int(math.Ceil(float64(len(competing)) / r.eta))
	if v <= competing[keep-1] {
		return false, ""
	}
	return true, fmt.Sprintf("at rung step %d its objective %g is not among the best %d of the %d trials that reached it", rung, v, keep, len(competing))
}
