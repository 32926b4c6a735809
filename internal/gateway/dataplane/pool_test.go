package dataplane

import (
	"bufio"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// holdingGateway serves one route to backend "ns/rev:80" on a real
// listener; apply changes what the backend is.
type holdingGateway struct {
	g    *Gateway
	url  string
	addr string
}

func newHoldingGateway(t *testing.T) *holdingGateway {
	t.Helper()
	h := &holdingGateway{g: New(logr.Discard()), addr: "127.0.0.1:0"}
	h.apply(t, Backend{})
	h.g.mu.Lock()
	h.url = "http://" + h.g.listeners[h.addr].ln.Addr().String()
	h.g.mu.Unlock()
	t.Cleanup(func() { _ = h.g.Close(t.Context()) })
	return h
}

func (h *holdingGateway) apply(t *testing.T, b Backend) {
	t.Helper()
	b.Name, b.Weight = "ns/rev:80", 1
	errs := h.g.Apply(Config{Listeners: []Listener{{Address: h.addr, Routes: []Route{{Name: "r", Rules: []Rule{{Backends: []Backend{b}}}}}}}})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
}

// slowBackend answers after delay and records the most requests it had
// at once.
func slowBackend(t *testing.T, delay time.Duration) (addr string, most func() int32) {
	t.Helper()
	var now, peak atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := now.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		time.Sleep(delay)
		now.Add(-1)
		_, _ = w.Write([]byte("ok"))
	}))
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String(), peak.Load
}

func status(t *testing.T, url string) (int, http.Header) {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Error(err)
		return 0, nil
	}
	res.Body.Close()
	return res.StatusCode, res.Header
}

func TestHeldRequestIsSentOnOnceAnEndpointIsReady(t *testing.T) {
	t.Parallel()
	h := newHoldingGateway(t)
	events, stop := h.g.hub.watch()
	defer stop()
	h.apply(t, Backend{Hold: &Hold{Timeout: time.Minute, MaxHeld: 10}})
	codes := make(chan int, 3)
	for range 3 {
		go func() { c, _ := status(t, h.url+"/v2/health/ready"); codes <- c }()
	}
	select {
	case e := <-events:
		if e.Type != EventWake || e.Backend != "ns/rev:80" {
			t.Fatalf("event %+v, want a wake of ns/rev:80", e)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no wake for a request held at zero endpoints")
	}
	waitFor(t, func() bool { return h.g.hub.snapshot().Backends["ns/rev:80"].Held == 3 })
	addr, _ := slowBackend(t, 0)
	h.apply(t, Backend{Endpoints: []string{addr}, Hold: &Hold{Timeout: time.Minute, MaxHeld: 10}})
	for range 3 {
		if c := <-codes; c != http.StatusOK {
			t.Errorf("held request answered %d, want 200", c)
		}
	}
	if n := testutil.CollectAndCount(h.g.hub.m.coldStart); n != 1 {
		t.Errorf("%d cold start series, want 1", n)
	}
	if got := testutil.ToFloat64(h.g.hub.m.outcomes.WithLabelValues("ns/rev:80", "proxied")); got != 3 {
		t.Errorf("%v held requests proxied, want 3", got)
	}
}

func TestHeldRequestsAreBounded(t *testing.T) {
	t.Parallel()
	h := newHoldingGateway(t)
	h.apply(t, Backend{Hold: &Hold{Timeout: 300 * time.Millisecond, MaxHeld: 1}})
	done := make(chan int, 1)
	go func() { c, _ := status(t, h.url); done <- c }()
	waitFor(t, func() bool { return h.g.hub.snapshot().Backends["ns/rev:80"].Held == 1 })
	code, hdr := status(t, h.url)
	if code != http.StatusServiceUnavailable || hdr.Get("Retry-After") == "" {
		t.Errorf("a request past maxHeld: %d Retry-After %q, want 503 with Retry-After", code, hdr.Get("Retry-After"))
	}
	if c := <-done; c != http.StatusServiceUnavailable {
		t.Errorf("a held request past its timeout: %d, want 503", c)
	}
	if st := h.g.hub.snapshot().Backends["ns/rev:80"]; st.Held != 0 || st.InFlight != 0 {
		t.Errorf("after the timeout: %+v, want nothing held or in flight", st)
	}
}

func TestContainerConcurrencyIsAHardLimit(t *testing.T) {
	t.Parallel()
	h := newHoldingGateway(t)
	addr, most := slowBackend(t, 50*time.Millisecond)
	h.apply(t, Backend{Endpoints: []string{addr}, ContainerConcurrency: 2})
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if c, _ := status(t, h.url); c != http.StatusOK {
				t.Errorf("status %d, want 200", c)
			}
		})
	}
	wg.Wait()
	if got := most(); got != 2 {
		t.Errorf("the endpoint had %d requests at once, want 2 (containerConcurrency)", got)
	}
	st := h.g.hub.snapshot().Backends["ns/rev:80"]
	// 8 requests of 50 ms each: 0.4 s of concurrency, plus the proxy's time.
	if st.Requests != 8 || st.InFlight != 0 || st.ConcurrencySeconds < 0.4 || st.ConcurrencySeconds > 2 {
		t.Errorf("stats %+v, want 8 requests, none in flight, about 0.4 concurrency-seconds", st)
	}
}

func TestNoEndpointWithoutHoldIs503(t *testing.T) {
	t.Parallel()
	h := newHoldingGateway(t)
	if code, hdr := status(t, h.url); code != http.StatusServiceUnavailable || hdr.Get("Retry-After") != "" {
		t.Errorf("no endpoint, no hold: %d Retry-After %q, want a plain 503", code, hdr.Get("Retry-After"))
	}
}

func TestStatsStream(t *testing.T) {
	t.Parallel()
	h := newHoldingGateway(t)
	h.apply(t, Backend{Hold: &Hold{Timeout: time.Minute, MaxHeld: 10}})
	srv := httptest.NewServer(h.g.Stats())
	t.Cleanup(srv.Close)
	if res, err := http.Get(srv.URL + "?watch=true&interval=forever"); err != nil || res.StatusCode != http.StatusBadRequest {
		t.Errorf("a bad interval: %v %v, want 400", res.Status, err)
	}
	res, err := http.Get(srv.URL + "?watch=true&interval=50ms")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	lines := bufio.NewScanner(res.Body)
	next := func() StatsEvent {
		t.Helper()
		if !lines.Scan() {
			t.Fatalf("stream ended: %v", lines.Err())
		}
		var e StatsEvent
		if err := json.Unmarshal(lines.Bytes(), &e); err != nil {
			t.Fatalf("line %q: %v", lines.Text(), err)
		}
		return e
	}
	if e := next(); e.Type != EventSnapshot || e.Snapshot.Backends["ns/rev:80"].Endpoints != 0 {
		t.Fatalf("first event %+v, want a snapshot", e)
	}
	go func() { _, _ = http.Get(h.url) }()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if e := next(); e.Type == EventWake {
			if e.Backend != "ns/rev:80" {
				t.Errorf("wake of %q", e.Backend)
			}
			return
		}
	}
	t.Error("no wake in the stream")
}
