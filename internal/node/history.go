package node

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/labels"

	"github.com/skiff-dev/skiff/internal/node/podruntime"
	"github.com/skiff-dev/skiff/internal/recommend"
)

// UsagePath serves a window of containers' usage samples (JSON), for
// `skiff recommend`: GET UsagePath?namespace=<ns>&selector=<labels>, the
// pods' labels as they were (pods already gone included: a Deployment's
// history spans its rollouts and scale-downs).
const UsagePath = "/skiff/usage"

// historyPeriod and historyWindow: a sample every 15 s (metrics-server's
// resolution), kept a day. In memory: a restart of skiff starts afresh.
const (
	historyPeriod = 15 * time.Second
	historyWindow = 24 * time.Hour
)

// ContainerSamples are one container's samples.
type ContainerSamples struct {
	Namespace string             `json:"namespace"`
	Pod       string             `json:"pod"`
	Container string             `json:"container"`
	Samples   []recommend.Sample `json:"samples"`
}

// history keeps each container's recent usage.
type history struct {
	window time.Duration
	mu     sync.Mutex
	series map[string]*series // namespace/pod/uid/container
}

type series struct {
	ContainerSamples
	labels  labels.Set
	lastAt  time.Time
	lastCPU uint64
}

func newHistory(window time.Duration) *history {
	return &history{window: window, series: map[string]*series{}}
}

// record adds a sample per running container: its CPU rate since the
// last reading, and its working set. Samples older than the window go.
func (h *history) record(usage []podruntime.PodUsage) {
	h.mu.Lock()
	defer h.mu.Unlock()
	var newest time.Time
	for _, pu := range usage {
		for _, c := range pu.Containers {
			key := pu.Namespace + "/" + pu.Name + "/" + string(pu.UID) + "/" + c.Name
			s, ok := h.series[key]
			if !ok {
				s = &series{ContainerSamples: ContainerSamples{Namespace: pu.Namespace, Pod: pu.Name, Container: c.Name}, labels: pu.Labels}
				h.series[key] = s
			}
			if !s.lastAt.IsZero() && pu.Time.After(s.lastAt) && c.CPUNanos >= s.lastCPU {
				milli := int64(float64(c.CPUNanos-s.lastCPU) / pu.Time.Sub(s.lastAt).Seconds() / 1e6)
				s.Samples = append(s.Samples, recommend.Sample{Time: pu.Time, CPUMillicores: milli, WorkingSetBytes: int64(c.WorkingSetBytes)})
			}
			s.lastAt, s.lastCPU = pu.Time, c.CPUNanos
			if pu.Time.After(newest) {
				newest = pu.Time
			}
		}
	}
	cutoff := newest.Add(-h.window)
	for key, s := range h.series {
		s.Samples = slices.DeleteFunc(s.Samples, func(x recommend.Sample) bool { return x.Time.Before(cutoff) })
		if len(s.Samples) == 0 && s.lastAt.Before(cutoff) {
			delete(h.series, key)
		}
	}
}

// run samples usage every period until ctx ends.
func (h *history) run(ctx context.Context, period time.Duration, usage func() []podruntime.PodUsage) {
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		h.record(usage())
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// lookup returns the samples of the containers of pods sel matches.
func (h *history) lookup(namespace string, sel labels.Selector) []ContainerSamples {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := []ContainerSamples{}
	for _, s := range h.series {
		if s.Namespace == namespace && sel.Matches(s.labels) && len(s.Samples) > 0 {
			c := s.ContainerSamples
			c.Samples = slices.Clone(s.Samples)
			out = append(out, c)
		}
	}
	return out
}

func (h *history) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	ns := q.Get("namespace")
	sel, err := labels.Parse(q.Get("selector"))
	if ns == "" || q.Get("selector") == "" || err != nil {
		http.Error(w, fmt.Sprintf("give ?namespace=<ns>&selector=<label selector> (%v)", err), http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	// Fails only when the client has gone: no one to tell.
	_ = json.NewEncoder(w).Encode(h.lookup(ns, sel))
}
