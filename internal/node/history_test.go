package node

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"

	"github.com/skiff-dev/skiff/internal/node/cgroups"
	"github.com/skiff-dev/skiff/internal/node/podruntime"
	"github.com/skiff-dev/skiff/internal/recommend"
)

func reading(at time.Time, pod string, cpuNanos uint64, ws uint64) []podruntime.PodUsage {
	return []podruntime.PodUsage{{Namespace: "default", Name: pod, UID: types.UID("uid-" + pod), Labels: map[string]string{"app": pod}, Time: at,
		Containers: []podruntime.ContainerUsage{{Name: "app", Usage: cgroups.Usage{CPUNanos: cpuNanos, WorkingSetBytes: ws}}}}}
}

func TestHistoryRatesAndWindow(t *testing.T) {
	h := newHistory(time.Minute)
	t0 := time.Unix(1700000000, 0)
	h.record(reading(t0, "web", 0, 100))
	h.record(reading(t0.Add(15*time.Second), "web", 7.5e9, 200))  // half a core
	h.record(reading(t0.Add(30*time.Second), "web", 22.5e9, 300)) // one core
	h.record(reading(t0.Add(80*time.Second), "web", 22.5e9, 300)) // idle; the first sample is past the window
	want := []recommend.Sample{
		{Time: t0.Add(30 * time.Second), CPUMillicores: 1000, WorkingSetBytes: 300},
		{Time: t0.Add(80 * time.Second), CPUMillicores: 0, WorkingSetBytes: 300},
	}
	got := h.lookup("default", labels.SelectorFromSet(labels.Set{"app": "web"}))
	if len(got) != 1 {
		t.Fatalf("series %+v", got)
	}
	if diff := cmp.Diff(want, got[0].Samples); diff != "" {
		t.Errorf("samples (-want +got):\n%s", diff)
	}
	if other := h.lookup("default", labels.SelectorFromSet(labels.Set{"app": "db"})); len(other) != 0 {
		t.Errorf("another pod's samples: %+v", other)
	}

	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", UsagePath+"?namespace=default&selector=app%3Dweb", nil))
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `"cpuMillicores":1000`) {
		t.Errorf("GET usage: %d %s", rec.Code, rec.Body)
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", UsagePath, nil))
	if rec.Code != 400 {
		t.Errorf("GET without a pod: %d", rec.Code)
	}
}
