package suggest

import (
	"cmp"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
)

// tpe is the Tree-structured Parzen Estimator as Optuna's TPESampler
// implements it (univariate, its defaults): after n_startup_trials random
// trials, the finished trials are split into the best gamma(n) ("below")
// and the rest ("above"); each parameter gets a Parzen estimator of each
// group (truncated normals around the observations plus a prior over the
// whole range, later trials weighing more once there are 25), and the
// value among n_ei_candidates draws from the below estimator with the
// highest l(x)/g(x) is suggested. Running trials count as the worst
// (Optuna's constant_liar), so parallel trials spread out.
type tpe struct {
	space        Space
	seed         int64
	startup      int
	candidates   int
	priorWeight  float64
	constantLiar bool
}

func newTPE(space Space, settings Settings, seed int64) (*tpe, error) {
	if err := settings.check("tpe", "random_state", "n_startup_trials", "n_ei_candidates", "prior_weight", "constant_liar"); err != nil {
		return nil, err
	}
	startup, err := settings.Int("n_startup_trials", 10)
	if err != nil {
		return nil, err
	}
	candidates, err := settings.Int("n_ei_candidates", 24)
	if err != nil {
		return nil, err
	}
	prior, err := settings.Float("prior_weight", 1)
	if err != nil {
		return nil, err
	}
	liar, err := settings.Int("constant_liar", 1)
	if err != nil {
		return nil, err
	}
	return &tpe{space: space, seed: seed, startup: int(startup), candidates: int(max(candidates, 1)), priorWeight: prior, constantLiar: liar != 0}, nil
}

func (t *tpe) Sample(n int, trials []Trial) (Assignment, error) {
	below, above, finished := t.split(trials)
	g := rng(t.seed, n)
	a := Assignment{}
	for _, p := range t.space {
		if finished < t.startup {
			a[p.Name] = p.at(g.Float64())
			continue
		}
		a[p.Name] = t.sampleParam(g, p, below, above)
	}
	return a, nil
}

// gamma is Optuna's default: the best 10%, at most 25.
func gamma(n int) int { return min(int(math.Ceil(0.1*float64(n))), 25) }

// split ranks the trials as Optuna does (complete by value, then stopped
// ones by how far they got and their last value), takes the best gamma(n)
// as below, and puts the rest and the running ones above; each group is
// in trial-number order, for the weights.
func (t *tpe) split(trials []Trial) (below, above []Trial, finished int) {
	var complete, stopped, running []Trial
	for _, tr := range trials {
		switch {
		case tr.State == Complete && !math.IsNaN(tr.Value):
			complete = append(complete, tr)
		case tr.State == Stopped && len(tr.Points) > 0:
			stopped = append(stopped, tr)
		case tr.State == Running && t.constantLiar:
			running = append(running, tr)
		}
	}
	finished = len(complete) + len(stopped)
	slices.SortStableFunc(complete, func(a, b Trial) int { return cmp.Compare(a.Value, b.Value) })
	slices.SortStableFunc(stopped, func(a, b Trial) int {
		pa, pb := a.Points[len(a.Points)-1], b.Points[len(b.Points)-1]
		if pa.Step != pb.Step {
			return cmp.Compare(pb.Step, pa.Step)
		}
		return cmp.Compare(pa.Value, pb.Value)
	})
	ranked := append(complete, stopped...)
	nBelow := min(gamma(finished+len(running)), len(ranked))
	below = append(below, ranked[:nBelow]...)
	above = append(append(above, ranked[nBelow:]...), running...)
	byNumber := func(ts []Trial) {
		slices.SortStableFunc(ts, func(a, b Trial) int { return cmp.Compare(a.Number, b.Number) })
	}
	byNumber(below)
	byNumber(above)
	return below, above, finished
}

// weights is Optuna's default: flat for up to 25 observations, then a
// ramp from 1/n for the oldest to 1 for the 25 newest.
func weights(n int) []float64 {
	w := make([]float64, n)
	for i := range w {
		w[i] = 1
	}
	if n < 25 {
		return w
	}
	ramp := n - 25
	for i := 0; i < ramp; i++ {
		if ramp == 1 {
			w[i] = 1 / float64(n)
			continue
		}
		w[i] = 1/float64(n) + (1-1/float64(n))*float64(i)/float64(ramp-1)
	}
	return w
}

// sampleParam draws the candidates from below's estimator and returns
// the one with the best log l(x) - log g(x).
func (t *tpe) sampleParam(g *rand.Rand, p Param, below, above []Trial) string {
	if p.Kind == Categorical || p.Kind == Discrete {
		l := t.categorical(p, below)
		gg := t.categorical(p, above)
		best, bestScore := 0, math.Inf(-1)
		for range t.candidates {
			k := drawIndex(g, l)
			if s := math.Log(l[k]) - math.Log(gg[k]); s > bestScore {
				best, bestScore = k, s
			}
		}
		return p.List[best]
	}
	lo, hi := t.bounds(p)
	l := t.parzen(p, below, lo, hi)
	gg := t.parzen(p, above, lo, hi)
	best, bestScore := lo, math.Inf(-1)
	for range t.candidates {
		x := l.draw(g, lo, hi)
		if s := l.logPDF(x) - gg.logPDF(x); s > bestScore {
			best, bestScore = x, s
		}
	}
	if p.Log {
		best = math.Exp(best)
	}
	return p.format(best)
}

// bounds is the range the estimator models: log space with Log, and
// widened by half a step (or half an integer) so the ends get their
// share.
func (t *tpe) bounds(p Param) (lo, hi float64) {
	lo, hi = p.Min, p.Max
	half := p.Step / 2
	if p.Kind == Int && p.Step == 0 {
		half = 0.5
	}
	lo, hi = lo-half, hi+half
	if p.Log {
		lo, hi = math.Log(math.Max(lo, p.Min/2)), math.Log(hi)
	}
	return lo, hi
}

// mixture is a Parzen estimator: weighted truncated normals; scale is
// each one's weight over its normalization (computed once: the density is
// evaluated for every candidate).
type mixture struct {
	w, mu, sigma, scale []float64
}

// parzen builds p's estimator from trials' values, with the prior (the
// middle of the range, as wide as the range) and Optuna's sigmas: the
// larger gap to a neighbour, clipped between range/min(100, n+1) and the
// range ("magic clip").
func (t *tpe) parzen(p Param, trials []Trial, lo, hi float64) mixture {
	var obs []float64
	for _, tr := range trials {
		x, err := strconv.ParseFloat(tr.Assignment[p.Name], 64)
		if err != nil {
			continue // not in this space (the space changed)
		}
		if p.Log {
			x = math.Log(math.Max(x, math.SmallestNonzeroFloat64))
		}
		obs = append(obs, x)
	}
	w := weights(len(obs))
	m := mixture{w: append(w, t.priorWeight), mu: append(obs, (lo+hi)/2)}
	n := len(m.mu)
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(m.mu[a], m.mu[b]) })
	m.sigma = make([]float64, n)
	for r, i := range order {
		left, right := lo, hi
		if r > 0 {
			left = m.mu[order[r-1]]
		}
		if r < n-1 {
			right = m.mu[order[r+1]]
		}
		m.sigma[i] = math.Max(m.mu[i]-left, right-m.mu[i])
		// Without the endpoints (Optuna's consider_endpoints=False), the
		// outermost take their inner gap.
		if n >= 2 && r == 0 {
			m.sigma[i] = m.mu[order[1]] - m.mu[i]
		}
		if n >= 2 && r == n-1 {
			m.sigma[i] = m.mu[i] - m.mu[order[n-2]]
		}
	}
	m.sigma[n-1] = hi - lo // the prior's
	minSigma := (hi - lo) / math.Min(100, float64(n)+1)
	for i := range m.sigma {
		m.sigma[i] = math.Min(math.Max(m.sigma[i], minSigma), hi-lo)
	}
	total := 0.0
	for _, x := range m.w {
		total += x
	}
	for i := range m.w {
		m.w[i] /= total
	}
	m.scale = make([]float64, n)
	for k := range m.w {
		mass := normCDF((hi-m.mu[k])/m.sigma[k]) - normCDF((lo-m.mu[k])/m.sigma[k])
		if mass > 0 {
			m.scale[k] = m.w[k] / (m.sigma[k] * math.Sqrt(2*math.Pi) * mass)
		}
	}
	return m
}

// draw samples the mixture within [lo, hi].
func (m mixture) draw(g *rand.Rand, lo, hi float64) float64 {
	k := drawIndex(g, m.w)
	// Inverse-CDF sampling of the truncated normal.
	a, b := normCDF((lo-m.mu[k])/m.sigma[k]), normCDF((hi-m.mu[k])/m.sigma[k])
	u := a + g.Float64()*(b-a)
	x := m.mu[k] + m.sigma[k]*math.Sqrt2*math.Erfinv(2*u-1)
	return math.Min(math.Max(x, lo), hi)
}

// logPDF is the mixture's log density at x in [lo, hi], each normal
// truncated to the range.
func (m mixture) logPDF(x float64) float64 {
	p := 0.0
	for k, scale := range m.scale {
		// Beyond 10 sigmas a normal adds under e^-50 of its weight: next
		// to the prior (never that far: it spans the range) it is nothing.
		if z := (x - m.mu[k]) / m.sigma[k]; z*z < 100 {
			p += scale * math.Exp(-z*z/2)
		}
	}
	return math.Log(math.Max(p, 1e-300))
}

func normCDF(z float64) float64 { return 0.5 * math.Erfc(-z/math.Sqrt2) }

// categorical is a choice's probability under trials' values: each
// observation's kernel puts weight 1 on its choice, the prior
// prior_weight spread over all (Optuna's categorical estimator).
func (t *tpe) categorical(p Param, trials []Trial) []float64 {
	var idx []int
	for _, tr := range trials {
		for i, v := range p.List {
			if tr.Assignment[p.Name] == v {
				idx = append(idx, i)
				break
			}
		}
	}
	w := weights(len(idx))
	c := len(p.List)
	probs := make([]float64, c)
	total := 0.0
	for o, i := range idx {
		// Observation o's kernel: (1 + prior/c) on its choice and prior/c
		// elsewhere, normalized, times its weight.
		norm := 1 + t.priorWeight
		for k := range probs {
			share := t.priorWeight / float64(c) / norm
			if k == i {
				share += 1 / norm
			}
			probs[k] += w[o] * share
		}
		total += w[o]
	}
	for k := range probs { // the prior component: uniform
		probs[k] += t.priorWeight / float64(c)
	}
	total += t.priorWeight
	for k := range probs {
		probs[k] /= total
	}
	return probs
}

func drawIndex(g *rand.Rand, w []float64) int {
	u := g.Float64()
	for i, x := range w {
		if u < x {
			return i
		}
		u -= x
	}
	return len(w) - 1
}
