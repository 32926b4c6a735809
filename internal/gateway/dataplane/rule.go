package dataplane

import (
	"math/rand/v2"
)

// rule is a compiled Rule: backends with their running weight sums.
type rule struct {
	*Rule
	backends []*backend
	total    int64
	mirrors  []*mirror
}

// backend is a Backend with its pool of endpoints and its metrics.
type backend struct {
	*Backend
	upTo   int64 // the running sum of weights up to and including this one
	pool   *pool
	series *series
}

type mirror struct {
	backend *backend
	percent float64
}

func compileRule(route string, r *Rule, m *metrics, hub *statsHub) *rule {
	out := &rule{Rule: r}
	for i := range r.Backends {
		b := &r.Backends[i]
		if b.Weight <= 0 {
			continue
		}
		out.total += int64(b.Weight)
		out.backends = append(out.backends, &backend{Backend: b, upTo: out.total, pool: hub.pool(b.Name), series: m.series(route, b.Name, rolePrimary)})
	}
	for i := range r.Filters.Mirrors {
		mb := &r.Filters.Mirrors[i].Backend
		out.mirrors = append(out.mirrors, &mirror{backend: &backend{Backend: mb, pool: hub.pool(mb.Name), series: m.series(route, mb.Name, roleMirror)}, percent: r.Filters.Mirrors[i].Percent})
	}
	return out
}

// pick chooses a backend by weight; nil when every weight is zero (or
// there is no backend), which the spec answers with a 500.
func (r *rule) pick() *backend {
	switch len(r.backends) {
	case 0:
		return nil
	case 1:
		return r.backends[0]
	}
	n := rand.Int64N(r.total)
	for _, b := range r.backends {
		if n < b.upTo {
			return b
		}
	}
	return r.backends[len(r.backends)-1]
}

// mirrored says whether this request is one of the share m copies.
func (m *mirror) mirrored() bool {
	return m.percent >= 100 || rand.Float64()*100 < m.percent
}
