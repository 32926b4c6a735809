package modelservice

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mlv1 "github.com/skiff-dev/skiff/apis/ml/v1alpha1"
	"github.com/skiff-dev/skiff/internal/gateway/dataplane"
	"github.com/skiff-dev/skiff/internal/kpa"
)

func (w *msWrapper) minReplicas(n int32) *msWrapper {
	w.Spec.Predictor.MinReplicas = ptr.To(n)
	return w
}
func (w *msWrapper) maxReplicas(n int32) *msWrapper { w.Spec.Predictor.MaxReplicas = n; return w }
func (w *msWrapper) metric(m mlv1.ScaleMetric, target int32) *msWrapper {
	w.Spec.Predictor.ScaleMetric, w.Spec.Predictor.ScaleTarget = m, ptr.To(target)
	return w
}
func (w *msWrapper) autoscaling(a mlv1.AutoscalingSpec) *msWrapper {
	w.Spec.Predictor.Autoscaling = &a
	return w
}

// withGateway gives the harness skiff's gateway, as skiff up has it.
func (h *harness) withGateway() *harness {
	h.r.Options.Gateway = &GatewayRef{Namespace: "skiff-system", Name: "skiff"}
	h.r.Options.GatewayMetricsURL = "http://127.0.0.1:1/metrics"
	return h
}

// deploymentStatus sets a Deployment's status as its controller would.
func (h *harness) deploymentStatus(name string, replicas, ready int32) {
	h.t.Helper()
	d := h.deployment(name)
	d.Status = appsv1.DeploymentStatus{ObservedGeneration: d.Generation, Replicas: replicas, ReadyReplicas: ready, UpdatedReplicas: replicas}
	if err := h.c.Status().Update(context.Background(), d); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) hpa(name string) (*autoscalingv2.HorizontalPodAutoscaler, error) {
	var hpa autoscalingv2.HorizontalPodAutoscaler
	err := h.c.Get(context.Background(), client.ObjectKey{Namespace: "ns", Name: name + "-predictor"}, &hpa)
	return &hpa, err
}

func TestScaleToZeroNeedsSkiffsGateway(t *testing.T) {
	h := newHarness(t, newMS("zero").minReplicas(0).obj())
	h.reconcile("zero")
	if n := *h.deployment("zero-00001").Spec.Replicas; n != 1 {
		t.Errorf("%d replicas, want 1: without a gateway to hold requests nothing may wake a revision at zero", n)
	}
	if got := condition(h.ms("zero"), mlv1.ConditionReady); !strings.HasPrefix(got, "False ScaleToZeroUnavailable: minReplicas 0 needs skiff's gateway") {
		t.Errorf("Ready: %s", got)
	}
}

func TestRequestMetricWithoutGatewayFallsBackToCPU(t *testing.T) {
	h := newHarness(t, newMS("busy").metric(mlv1.ScaleMetricConcurrency, 2).maxReplicas(4).obj())
	h.reconcile("busy")
	hpa, err := h.hpa("busy")
	if err != nil {
		t.Fatalf("no HPA for concurrency without a gateway: %v", err)
	}
	m := hpa.Spec.Metrics[0].Resource
	if m.Name != corev1.ResourceCPU || *m.Target.AverageUtilization != 80 {
		t.Errorf("HPA on %s at %d%%, want cpu at 80%%", m.Name, *m.Target.AverageUtilization)
	}
}

func TestScaleToZeroObjects(t *testing.T) {
	h := newHarness(t, newMS("zero").minReplicas(0).autoscaling(mlv1.AutoscalingSpec{ColdStartTimeout: &metav1.Duration{Duration: time.Minute}}).obj()).withGateway()
	h.reconcile("zero")
	if n := *h.deployment("zero-00001").Spec.Replicas; n != 1 {
		t.Errorf("a new revision at minReplicas 0 starts with %d pods, want 1 (initialScale) so it can become ready", n)
	}
	var svc corev1.Service
	if err := h.c.Get(context.Background(), client.ObjectKey{Namespace: "ns", Name: "zero-00001"}, &svc); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{annotationHoldTimeout: "1m0s", annotationMaxHeldRequests: "1000"}
	if diff := cmp.Diff(want, svc.Annotations); diff != "" {
		t.Errorf("revision Service annotations (-want +got):\n%s", diff)
	}
	if _, err := h.hpa("zero"); !apierrors.IsNotFound(err) {
		t.Errorf("an HPA for 0 to 1 pods: %v", err)
	}
	h.addPod("zero", 1, true, nil)
	h.reconcile("zero")

	// The request autoscaler takes it to zero.
	s := &RequestScaler{Reconciler: h.r}
	dep := h.deployment("zero-00001")
	s.scale(context.Background(), h.ms("zero"), dep, 0, decision{reason: "no request for 30s"})
	if err := h.c.Delete(context.Background(), &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "zero-00001-pod"}}); err != nil {
		t.Fatal(err)
	}
	h.reconcile("zero")
	ms := h.ms("zero")
	if got := condition(ms, mlv1.ConditionReady); !strings.HasPrefix(got, "True ScaledToZero: revision zero-00001 serves all traffic") {
		t.Errorf("Ready at zero: %s", got)
	}
	if ms.Status.ReplicaSummary != "0 (scaled to zero)" {
		t.Errorf("replica summary %q", ms.Status.ReplicaSummary)
	}
	rs := ms.Status.Revisions[0]
	if rs.Ready != metav1.ConditionTrue || rs.Reason != ReasonScaledToZero || rs.Autoscaling == nil || !rs.Autoscaling.ScaledToZero || rs.Autoscaling.ScaledToZeroTime == nil {
		t.Errorf("revision status at zero: %+v %+v", rs, rs.Autoscaling)
	}
	if !drained(h.events, "ScaledToZero") {
		t.Error("no ScaledToZero event")
	}

	// A held request wakes it: ready all along, with the wake recorded.
	s.wake(context.Background(), "ns/zero-00001:80")
	if n := *h.deployment("zero-00001").Spec.Replicas; n != 1 {
		t.Fatalf("after a wake: %d replicas, want 1", n)
	}
	h.addPod("zero", 1, false, nil)
	h.reconcile("zero")
	ms = h.ms("zero")
	if got := condition(ms, mlv1.ConditionLatestRevisionReady); !strings.HasPrefix(got, "True") {
		t.Errorf("LatestRevisionReady while it wakes: %s", got)
	}
	if a := ms.Status.Revisions[0].Autoscaling; a == nil || a.ScaledToZero || a.LastWakeTime == nil || a.WakeReason != "a request is held at the gateway" {
		t.Errorf("revision autoscaling after a wake: %+v", a)
	}
	if !drained(h.events, "Woken") {
		t.Error("no Woken event")
	}
}

// snapshot is the gateway's counts for one backend at second sec.
func snapshot(sec int, backend string, st dataplane.BackendStats) *dataplane.Snapshot {
	return &dataplane.Snapshot{Time: time.Unix(int64(sec), 0), Backends: map[string]dataplane.BackendStats{backend: st}}
}

func TestRequestScalerScalesOnConcurrency(t *testing.T) {
	h := newHarness(t, newMS("busy").metric(mlv1.ScaleMetricConcurrency, 2).maxReplicas(10).obj()).withGateway()
	h.reconcile("busy")
	h.deploymentStatus("busy-00001", 1, 1)
	s := &RequestScaler{Reconciler: h.r}
	ctx := context.Background()
	// 8 requests in flight all along: 8 concurrency-seconds a second.
	s.tick(ctx, snapshot(100, "ns/busy-00001:80", dataplane.BackendStats{Requests: 10, InFlight: 8, ConcurrencySeconds: 50}))
	s.tick(ctx, snapshot(101, "ns/busy-00001:80", dataplane.BackendStats{Requests: 90, InFlight: 8, ConcurrencySeconds: 58}))
	// 8 / (2 x 70%) = 5.7: six pods, and a panic (six times the ready pod).
	if n := *h.deployment("busy-00001").Spec.Replicas; n != 6 {
		t.Errorf("%d replicas, want 6", n)
	}
	a := revisionAutoscaling(h.deployment("busy-00001"))
	if a.DesiredReplicas != 6 || !a.Panic || !strings.Contains(a.Reason, "concurrency 8.00 over 6s for a target of 1.40 a pod, panicking") {
		t.Errorf("recorded decision %+v", a)
	}
	if !drained(h.events, "Rescaled") {
		t.Error("no Rescaled event")
	}
	if _, err := h.hpa("busy"); !apierrors.IsNotFound(err) {
		t.Errorf("an HPA beside the request autoscaler: %v", err)
	}
}

func TestRequestScalerNeverStopsARevisionThatIsStarting(t *testing.T) {
	h := newHarness(t, newMS("zero").minReplicas(0).autoscaling(mlv1.AutoscalingSpec{ScaleToZeroGracePeriod: &metav1.Duration{Duration: 3 * time.Second}}).obj()).withGateway()
	h.reconcile("zero")
	h.deploymentStatus("zero-00001", 1, 0) // its pod loads the model
	s := &RequestScaler{Reconciler: h.r}
	for sec := range 60 {
		s.tick(context.Background(), snapshot(sec, "ns/other:80", dataplane.BackendStats{}))
	}
	if n := *h.deployment("zero-00001").Spec.Replicas; n != 1 {
		t.Fatalf("a revision whose pod is loading went to %d pods", n)
	}
	// Once ready, it gets a whole grace period before zero.
	h.deploymentStatus("zero-00001", 1, 1)
	for sec := 60; sec < 62; sec++ {
		s.tick(context.Background(), snapshot(sec, "ns/other:80", dataplane.BackendStats{}))
		if n := *h.deployment("zero-00001").Spec.Replicas; n != 1 {
			t.Fatalf("a revision ready for %d s went to %d pods", sec-59, n)
		}
	}
	s.tick(context.Background(), snapshot(62, "ns/other:80", dataplane.BackendStats{}))
	if n := *h.deployment("zero-00001").Spec.Replicas; n != 0 {
		t.Errorf("ready and idle for its grace period: %d pods, want 0", n)
	}
}

func TestSample(t *testing.T) {
	t.Parallel()
	at := time.Unix(10, 0)
	old := dataplane.BackendStats{Requests: 100, ConcurrencySeconds: 20}
	tests := []struct {
		name   string
		metric mlv1.ScaleMetric
		cur    dataplane.BackendStats
		want   kpa.Sample
	}{
		{name: "concurrency is concurrency-seconds a second", metric: mlv1.ScaleMetricConcurrency, cur: dataplane.BackendStats{Requests: 150, ConcurrencySeconds: 26, InFlight: 3},
			want: kpa.Sample{Time: at, Value: 3, Active: true}},
		{name: "rps is requests a second", metric: mlv1.ScaleMetricRPS, cur: dataplane.BackendStats{Requests: 150, ConcurrencySeconds: 26},
			want: kpa.Sample{Time: at, Value: 25, Active: true}},
		{name: "nothing new is idle", metric: mlv1.ScaleMetricRPS, cur: old, want: kpa.Sample{Time: at}},
		{name: "a request held all along is active", metric: mlv1.ScaleMetricCPU, cur: dataplane.BackendStats{Requests: 100, ConcurrencySeconds: 22, InFlight: 1},
			want: kpa.Sample{Time: at, Value: 1, Active: true}},
		{name: "counts that went down are a restarted gateway's", metric: mlv1.ScaleMetricRPS, cur: dataplane.BackendStats{Requests: 10, ConcurrencySeconds: 1},
			want: kpa.Sample{Time: at, Value: 5, Active: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ms := newMS("m").metric(tt.metric, 10).obj()
			if diff := cmp.Diff(tt.want, sample(ms, tt.cur, old, 2*time.Second, at)); diff != "" {
				t.Errorf("sample (-want +got):\n%s", diff)
			}
		})
	}
}
