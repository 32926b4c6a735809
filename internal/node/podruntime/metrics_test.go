package podruntime

import (
	"context"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	corev1 "k8s.io/api/core/v1"
)

func TestMetricsCountStartsRestartsAndProbeFailures(t *testing.T) {
	rt := newRuntime(t)
	reg := prometheus.NewRegistry()
	m := rt.NewMetrics(reg)
	// Exits at once, restarted on failure: starts, then restarts.
	crash := newPod("crash").container("main", "sh", "-c", "exit 1").restart(corev1.RestartPolicyOnFailure).pod
	// Runs, but its readiness probe always fails.
	unready := newPod("unready").container("main", "sleep", "30").restart(corev1.RestartPolicyAlways).pod
	unready.Spec.Containers[0].ReadinessProbe = execProbe("false")
	for _, p := range []*corev1.Pod{crash, unready} {
		if err := rt.CreatePod(context.Background(), p); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, rt, "crash", "a restart", func(p *corev1.Pod) bool {
		return len(p.Status.ContainerStatuses) == 1 && p.Status.ContainerStatuses[0].RestartCount >= 1
	})
	waitFor(t, rt, "unready", "a probe failure", func(*corev1.Pod) bool {
		return testutil.ToFloat64(m.probeFailures.WithLabelValues("readiness")) >= 1
	})
	if n := testutil.ToFloat64(m.podsStarted); n != 2 {
		t.Errorf("pods started %v, want 2 (each once)", n)
	}
	if n := testutil.ToFloat64(m.containerRestarts); n < 1 {
		t.Errorf("restarts %v, want at least 1", n)
	}
	if n := testutil.ToFloat64(m.containerStarts); n < 3 {
		t.Errorf("container starts %v, want at least 3", n)
	}
	if n := testutil.CollectAndCount(m.podStartSeconds); n != 1 {
		t.Errorf("start-latency histogram: %d series", n)
	}
	if n := testutil.ToFloat64(m.runningPods); n != 2 {
		t.Errorf("running pods %v, want 2", n)
	}
}
