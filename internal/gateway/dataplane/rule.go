package dataplane

import (
	"math/rand/v2"
	"sync/atomic"
)

// rule is a compiled Rule: backends with their running weight sums.
type rule struct {
	*Rule
	backends []*backend
	total    int64
	mirrors  []*mirror
}

// backend is a Backend with its round-robin position and its metrics.
type backend struct {
	*Backend
	upTo   int64 // the running sum of weights up to and including this one
	next   atomic.Uint64
	series *series
}

type mirror struct {
	backend *backend
	percent float64
}

func compileRule(route string, r *Rule, m *metrics) *rule {
	out := &rule{Rule: r}
	for i := range r.Backends {
		b := &r.Backends[i]
		if b.Weight <= 0 {
			continue
		}
		out.total += int64(b.Weight)
		out.backends = append(out.backends, &backend{Backend: b, upTo: out.total, series: m.series(route, b.Name, rolePrimary)})
	}
	for i := range r.Filters.Mirrors {
		mb := &r.Filters.Mirrors[i].Backend
		out.mirrors = append(out.mirrors, &mirror{backend: &backend{Backend: mb, series: m.series(route, mb.Name, roleMirror)}, percent: r.Filters.Mirrors[i].Percent})
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

// start is where this request's walk over the endpoints begins
// (round-robin); a retry takes the next one.
func (b *backend) start() uint64 { return b.next.Add(1) }

// endpoint is the address try number n of a request that started at s
// goes to; "" when there is none.
func (b *backend) endpoint(s uint64, n int) string {
	if len(b.Endpoints) == 0 {
		return ""
	}
	return b.Endpoints[(s+uint64(n))%uint64(len(b.Endpoints))]
}

// mirrored says whether this request is one of the share m copies.
func (m *mirror) mirrored() bool {
	return m.percent >= 100 || rand.Float64()*100 < m.percent
}
