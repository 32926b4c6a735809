package dataplane

import (
	"encoding/json"
	"net/http"
	"sync"
	"time"
)

// BackendStats are one backend's counts since the gateway started: what
// an autoscaler turns into requests a second and average concurrency by
// taking the difference of two snapshots.
type BackendStats struct {
	// Requests is the requests routed to it, held ones included.
	Requests uint64 `json:"requests"`
	// InFlight is the requests being served or held now.
	InFlight int `json:"inFlight"`
	// Held is the requests waiting for an endpoint now.
	Held int `json:"held"`
	// ConcurrencySeconds is the integral of InFlight over time.
	ConcurrencySeconds float64 `json:"concurrencySeconds"`
	// Endpoints is the ready endpoints it has.
	Endpoints int `json:"endpoints"`
}

// Snapshot is every backend's counts at one time.
type Snapshot struct {
	Time     time.Time               `json:"time"`
	Backends map[string]BackendStats `json:"backends"`
}

// StatsEvent is one line of the stats stream: a snapshot, or a wake (a
// request held for a backend with no endpoint, which wants one now).
type StatsEvent struct {
	Type     string    `json:"type"`
	Snapshot *Snapshot `json:"snapshot,omitempty"`
	Backend  string    `json:"backend,omitempty"`
}

// The types of StatsEvent.
const (
	EventSnapshot = "snapshot"
	EventWake     = "wake"
)

// statsHub keeps the pools by backend name and tells watchers of wakes.
type statsHub struct {
	m *poolMetrics

	mu       sync.Mutex
	pools    map[string]*pool
	watchers map[chan StatsEvent]struct{}
}

func newStatsHub(m *poolMetrics) *statsHub {
	return &statsHub{m: m, pools: map[string]*pool{}, watchers: map[chan StatsEvent]struct{}{}}
}

// pool is the pool of a backend name, made on first use.
func (h *statsHub) pool(name string) *pool {
	h.mu.Lock()
	defer h.mu.Unlock()
	p := h.pools[name]
	if p == nil {
		p = &pool{name: name, hub: h, m: h.m}
		h.pools[name] = p
	}
	return p
}

// keepOnly retires the pools whose names are not in keep.
func (h *statsHub) keepOnly(keep map[string]bool) {
	h.mu.Lock()
	var gone []*pool
	for name, p := range h.pools {
		if !keep[name] {
			gone = append(gone, p)
			delete(h.pools, name)
		}
	}
	h.mu.Unlock()
	for _, p := range gone {
		p.retire()
	}
}

func (h *statsHub) snapshot() *Snapshot {
	h.mu.Lock()
	pools := make([]*pool, 0, len(h.pools))
	for _, p := range h.pools {
		pools = append(pools, p)
	}
	h.mu.Unlock()
	s := &Snapshot{Time: time.Now(), Backends: make(map[string]BackendStats, len(pools))}
	for _, p := range pools {
		s.Backends[p.name] = p.stats()
	}
	return s
}

// wake tells every watcher that backend wants an endpoint. A watcher
// too slow to take it misses it, and sees the held request in its next
// snapshot.
func (h *statsHub) wake(backend string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for w := range h.watchers {
		select {
		case w <- StatsEvent{Type: EventWake, Backend: backend}:
		default:
		}
	}
}

func (h *statsHub) watch() (<-chan StatsEvent, func()) {
	ch := make(chan StatsEvent, 64)
	h.mu.Lock()
	h.watchers[ch] = struct{}{}
	h.mu.Unlock()
	return ch, func() {
		h.mu.Lock()
		delete(h.watchers, ch)
		h.mu.Unlock()
	}
}

// maxStatsInterval bounds a watcher's interval between snapshots.
const maxStatsInterval = time.Minute

// Stats serves the backends' counts: GET gives one Snapshot as JSON;
// with ?watch=true it streams StatsEvents, one JSON object a line: a
// snapshot at once and every interval (?interval=, 1s by default), and a
// wake the moment one happens.
func (g *Gateway) Stats() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Query().Get("watch") != "true" {
			_ = json.NewEncoder(w).Encode(g.hub.snapshot())
			return
		}
		interval := time.Second
		if v := r.URL.Query().Get("interval"); v != "" {
			d, err := time.ParseDuration(v)
			if err != nil || d <= 0 || d > maxStatsInterval {
				http.Error(w, "interval must be a duration above 0 and at most 1m, such as 1s", http.StatusBadRequest)
				return
			}
			interval = d
		}
		g.streamStats(w, r, interval)
	})
}

func (g *Gateway) streamStats(w http.ResponseWriter, r *http.Request, interval time.Duration) {
	events, stop := g.hub.watch()
	defer stop()
	enc := json.NewEncoder(w)
	flusher, _ := w.(http.Flusher)
	send := func(e StatsEvent) bool {
		if enc.Encode(e) != nil {
			return false
		}
		if flusher != nil {
			flusher.Flush()
		}
		return true
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	if !send(StatsEvent{Type: EventSnapshot, Snapshot: g.hub.snapshot()}) {
		return
	}
	for {
		select {
		case <-r.Context().Done():
			return
		case e := <-events:
			if !send(e) {
				return
			}
		case <-tick.C:
			if !send(StatsEvent{Type: EventSnapshot, Snapshot: g.hub.snapshot()}) {
				return
			}
		}
	}
}
