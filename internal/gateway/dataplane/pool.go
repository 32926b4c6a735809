package dataplane

import (
	"container/list"
	"context"
	"errors"
	"sync"
	"time"
)

// defaultHold bounds the requests waiting for a free endpoint of a
// backend with a concurrency limit and no Hold of its own.
var defaultHold = Hold{Timeout: 5 * time.Minute, MaxHeld: 1000}

// Why a request got no endpoint.
var (
	errNoEndpoints = errors.New("no ready endpoints")
	errTooManyHeld = errors.New("too many requests held")
	errHoldTimeout = errors.New("no endpoint became ready in time")
)

// pool is one backend's endpoints as the gateway keeps them from one
// Config to the next: the requests in flight on each endpoint (for a
// concurrency limit), the requests held while there is no ready endpoint
// or none below the limit, and the counts an autoscaler reads.
type pool struct {
	name string
	hub  *statsHub
	m    *poolMetrics

	mu      sync.Mutex
	eps     []string
	load    map[string]int // requests in flight by endpoint, with a limit
	limit   int
	hold    *Hold
	next    uint64
	waiting list.List // of *waiter, oldest first
	retired bool

	requests  uint64
	inFlight  int // held ones included: they are load the backend must take
	held      int
	busy      float64 // the integral of inFlight over time, in seconds
	mark      time.Time
	coldSince time.Time // the first request held while there was no endpoint
}

// waiter is one held request; addr gets its endpoint, or err why none.
type waiter struct {
	addr chan string
	err  error
}

// ticket is one request's claim on a pool: the endpoint it goes to, and
// the endpoints a retry walks.
type ticket struct {
	addr  string
	eps   []string
	start int
	held  bool
}

// endpoint is try n's address: the first is the one acquired.
func (t *ticket) endpoint(n int) string {
	if n == 0 || len(t.eps) == 0 {
		return t.addr
	}
	return t.eps[(t.start+n)%len(t.eps)]
}

// set takes a new Config's view of the backend, and sends held requests
// to endpoints that became ready.
func (p *pool) set(b *Backend) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	if len(p.eps) == 0 && len(b.Endpoints) > 0 && !p.coldSince.IsZero() {
		p.m.coldStart.WithLabelValues(p.name).Observe(now.Sub(p.coldSince).Seconds())
		p.coldSince = time.Time{}
	}
	p.eps, p.limit, p.hold = b.Endpoints, b.ContainerConcurrency, b.Hold
	if p.limit > 0 && p.load == nil {
		p.load = map[string]int{}
	}
	if len(p.eps) == 0 && p.hold == nil {
		p.failWaiting(errNoEndpoints)
		return
	}
	p.dispatch()
}

// retire ends a pool no Config names any more: its held requests get an
// answer now rather than at their timeout.
func (p *pool) retire() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.retired = true
	p.failWaiting(errNoEndpoints)
}

// acquire counts a request in and gives it an endpoint: at once when one
// is ready (below the limit), else, if the backend holds requests, once
// one is, within the hold's timeout and ctx.
func (p *pool) acquire(ctx context.Context) (*ticket, error) {
	p.mu.Lock()
	now := time.Now()
	p.account(now)
	p.requests++
	if t := p.pick(); t != nil {
		p.inFlight++
		p.mu.Unlock()
		return t, nil
	}
	hold := p.holding()
	switch {
	case hold == nil || p.retired:
		p.mu.Unlock()
		return nil, errNoEndpoints
	case p.held >= hold.MaxHeld:
		p.mu.Unlock()
		p.m.outcomes.WithLabelValues(p.name, "rejected").Inc()
		return nil, errTooManyHeld
	}
	w := &waiter{addr: make(chan string, 1)}
	el := p.waiting.PushBack(w)
	p.inFlight++
	p.held++
	p.m.held.WithLabelValues(p.name).Inc()
	wake := len(p.eps) == 0 && p.coldSince.IsZero()
	if wake {
		p.coldSince = now
	}
	p.mu.Unlock()
	if wake {
		p.hub.wake(p.name)
	}
	return p.wait(ctx, w, el, hold.Timeout, now)
}

// holding is how requests without an endpoint wait, or nil if they do
// not: a Hold, or a concurrency limit's queue when endpoints exist.
func (p *pool) holding() *Hold {
	if p.hold != nil {
		return p.hold
	}
	if p.limit > 0 && len(p.eps) > 0 {
		return &defaultHold
	}
	return nil
}

// wait blocks a held request until it has an endpoint, its hold times
// out or its caller goes away.
func (p *pool) wait(ctx context.Context, w *waiter, el *list.Element, timeout time.Duration, since time.Time) (*ticket, error) {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	var err error
	select {
	case addr := <-w.addr:
		p.m.holdDuration.WithLabelValues(p.name).Observe(time.Since(since).Seconds())
		if addr == "" {
			p.m.outcomes.WithLabelValues(p.name, "failed").Inc()
			p.done(nil)
			return nil, w.err
		}
		p.m.outcomes.WithLabelValues(p.name, "proxied").Inc()
		p.mu.Lock()
		eps := p.eps
		p.mu.Unlock()
		return &ticket{addr: addr, eps: eps, held: true}, nil
	case <-timer.C:
		err = errHoldTimeout
	case <-ctx.Done():
		err = ctx.Err()
	}
	p.mu.Lock()
	if w.err == nil && len(w.addr) == 0 {
		// Still waiting: leave the queue uncounted by any endpoint.
		p.waiting.Remove(el)
		p.held--
		p.m.held.WithLabelValues(p.name).Dec()
		p.mu.Unlock()
		p.m.outcomes.WithLabelValues(p.name, outcome(err)).Inc()
		p.done(nil)
		return nil, err
	}
	p.mu.Unlock()
	// An endpoint came at the last moment: give it back.
	if addr := <-w.addr; addr != "" {
		p.done(&ticket{addr: addr})
	} else {
		p.done(nil)
	}
	return nil, err
}

func outcome(err error) string {
	if errors.Is(err, errHoldTimeout) {
		return "timeout"
	}
	return "canceled"
}

// release counts a request out, and gives its endpoint's slot to the
// oldest held request.
func (p *pool) release(t *ticket) { p.done(t) }

func (p *pool) done(t *ticket) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.account(time.Now())
	p.inFlight--
	if t != nil && p.limit > 0 && t.addr != "" {
		if p.load[t.addr]--; p.load[t.addr] <= 0 {
			delete(p.load, t.addr)
		}
		p.dispatch()
	}
}

// account adds the time since the last change to the busy integral.
func (p *pool) account(now time.Time) {
	if !p.mark.IsZero() {
		p.busy += float64(p.inFlight) * now.Sub(p.mark).Seconds()
	}
	p.mark = now
}

// pick claims an endpoint for a request, or nil when none is ready or
// below the limit: round-robin without a limit, the least loaded one
// (from the round-robin position) with one. The caller holds mu.
func (p *pool) pick() *ticket {
	n := len(p.eps)
	if n == 0 {
		return nil
	}
	p.next++
	start := int(p.next % uint64(n))
	if p.limit <= 0 {
		return &ticket{addr: p.eps[start], eps: p.eps, start: start}
	}
	best := -1
	for i := range n {
		j := (start + i) % n
		if l := p.load[p.eps[j]]; l < p.limit && (best < 0 || l < p.load[p.eps[best]]) {
			best = j
		}
	}
	if best < 0 {
		return nil
	}
	p.load[p.eps[best]]++
	return &ticket{addr: p.eps[best], eps: p.eps, start: best}
}

// dispatch gives free endpoints to held requests, oldest first. The
// caller holds mu.
func (p *pool) dispatch() {
	for p.waiting.Len() > 0 {
		t := p.pick()
		if t == nil {
			return
		}
		w := p.waiting.Remove(p.waiting.Front()).(*waiter)
		p.held--
		p.m.held.WithLabelValues(p.name).Dec()
		w.addr <- t.addr
	}
}

// failWaiting answers every held request with err. The caller holds mu.
func (p *pool) failWaiting(err error) {
	for p.waiting.Len() > 0 {
		w := p.waiting.Remove(p.waiting.Front()).(*waiter)
		p.held--
		p.m.held.WithLabelValues(p.name).Dec()
		w.err = err
		w.addr <- ""
	}
}

// stats are the pool's counts now.
func (p *pool) stats() BackendStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.account(time.Now())
	return BackendStats{Requests: p.requests, InFlight: p.inFlight, Held: p.held, ConcurrencySeconds: p.busy, Endpoints: len(p.eps)}
}

// peek is an endpoint for a mirror's copy, which no limit counts.
func (p *pool) peek() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.eps) == 0 {
		return ""
	}
	p.next++
	return p.eps[p.next%uint64(len(p.eps))]
}
