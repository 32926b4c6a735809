package modelservice

import (
	"context"
	"fmt"
	"math"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	mlv1 "github.com/skiff-dev/skiff/apis/ml/v1alpha1"
	"github.com/skiff-dev/skiff/internal/gateway/dataplane"
)

// gatewayMetrics serves the gateway's request series, as the data plane
// names them, with counts a test sets.
type gatewayMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	url      string
}

func newGatewayMetrics(t *testing.T) *gatewayMetrics {
	reg := prometheus.NewRegistry()
	m := &gatewayMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: requestsMetric}, []string{"route", "backend", "role", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: durationMetric,
			Buckets: []float64{.0005, .001, .002, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}}, []string{"route", "backend", "role"}),
	}
	reg.MustRegister(m.requests, m.duration)
	srv := httptest.NewServer(dataplane.MetricsHandler(reg))
	t.Cleanup(srv.Close)
	m.url = srv.URL
	return m
}

// serve counts n answers of a revision with code and latency.
func (m *gatewayMetrics) serve(revision string, n int, code string, latency time.Duration) {
	route, backend := "httproute/ns/housing", backendName("ns", revision)
	for range n {
		m.requests.WithLabelValues(route, backend, "primary", code).Inc()
		m.duration.WithLabelValues(route, backend, "primary").Observe(latency.Seconds())
	}
}

// rolloutHarness is a harness with a clock, the gateway's metrics, and
// revision 1 of housing serving.
type rolloutHarness struct {
	*harness
	now     time.Time
	metrics *gatewayMetrics
}

func newRolloutHarness(t *testing.T, ms *mlv1.ModelService) *rolloutHarness {
	h := &rolloutHarness{harness: newHarness(t, ms), now: time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC), metrics: newGatewayMetrics(t)}
	h.r.Options.Gateway = &GatewayRef{Namespace: "skiff-system", Name: "skiff"}
	h.r.Options.GatewayMetricsURL = h.metrics.url
	h.r.Clock = func() time.Time { return h.now }
	h.r.init()
	h.reconcile("housing")
	h.addPod("housing", 1, true, nil)
	h.reconcile("housing")
	return h
}

// at moves the clock to d after the start and reconciles.
func (h *rolloutHarness) at(d time.Duration) *mlv1.ModelService {
	h.t.Helper()
	h.now = time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC).Add(d)
	h.reconcile("housing")
	return h.ms("housing")
}

// newRevision applies a new model with rollout, and makes its pod ready.
func (h *rolloutHarness) newRevision(n int32, rollout *mlv1.RolloutSpec) {
	h.t.Helper()
	h.update("housing", func(ms *mlv1.ModelService) {
		ms.Spec.Predictor.Model.StorageURI = fmt.Sprintf("file:///srv/models/v%d", n)
		ms.Spec.Rollout = rollout
	})
	h.reconcile("housing")
	h.addPod("housing", n, true, nil)
}

func (h *rolloutHarness) action(verb, revision string) {
	h.t.Helper()
	ms := h.ms("housing")
	ms.Annotations = map[string]string{AnnotationRolloutAction: verb + ":" + revision}
	if err := h.c.Update(context.Background(), ms); err != nil {
		h.t.Fatal(err)
	}
}

// eventReasons are the reasons of the events recorded so far.
func (h *harness) eventReasons() []string {
	var out []string
	for {
		select {
		case e := <-h.events.Events:
			out = append(out, strings.Fields(e)[1])
		default:
			return out
		}
	}
}

func canarySteps() *mlv1.RolloutSpec {
	return &mlv1.RolloutSpec{
		Strategy: mlv1.RolloutCanary,
		Steps: []mlv1.RolloutStep{
			{SetWeight: 20, Pause: metav1.Duration{Duration: 30 * time.Second}},
			{SetWeight: 60, Pause: metav1.Duration{Duration: 30 * time.Second}},
		},
		Analysis: &mlv1.AnalysisSpec{
			Interval: metav1.Duration{Duration: 10 * time.Second}, MinRequests: 10,
			MaxErrorRatePercent:   ptr.To[int32](5),
			MaxLatencyP99Increase: &metav1.Duration{Duration: 100 * time.Millisecond},
		},
	}
}

func TestProgressiveRolloutPromotesAfterItsSteps(t *testing.T) {
	h := newRolloutHarness(t, newMS("housing").obj())
	h.newRevision(2, canarySteps())
	h.eventReasons()

	ms := h.at(0)
	if got := h.routeWeights("housing"); got != "housing-00002=20,housing-00001=80" {
		t.Fatalf("step 1's route: %s", got)
	}
	if got := condition(ms, mlv1.ConditionReady); !strings.HasPrefix(got, "True Progressing") {
		t.Errorf("Ready during step 1: %s", got)
	}
	h.metrics.serve("housing-00002", 20, "200", 2*time.Millisecond)
	h.metrics.serve("housing-00001", 80, "200", 2*time.Millisecond)
	ms = h.at(10 * time.Second)
	if a := ms.Status.Rollout.LastAnalysis; a == nil || !a.Passed || a.Canary.Requests != 20 || a.Stable.Requests != 80 {
		t.Fatalf("analysis after a window of 20 and 80 good answers: %+v", a)
	}
	if got := h.routeWeights("housing"); got != "housing-00002=20,housing-00001=80" {
		t.Errorf("route before step 1's pause is over: %s", got)
	}
	ms = h.at(30 * time.Second)
	if got := h.routeWeights("housing"); got != "housing-00002=60,housing-00001=40" {
		t.Fatalf("step 2's route: %s", got)
	}
	if a := ms.Status.Rollout.LastAnalysis; a.Step != 0 {
		t.Errorf("the last analysis at step 2's start is of step %d, want step 1's (index 0)", a.Step)
	}
	ms = h.at(60 * time.Second)
	if got := h.routeWeights("housing"); ms.Status.Rollout.Phase != mlv1.RolloutProgressing || got != "housing-00002=60,housing-00001=40" {
		t.Errorf("step 2 moved on without a passing window: %s, route %s", ms.Status.Rollout.Phase, got)
	}
	h.metrics.serve("housing-00002", 60, "200", 2*time.Millisecond)
	h.metrics.serve("housing-00001", 40, "200", 3*time.Millisecond)
	ms = h.at(70 * time.Second)
	if got := h.routeWeights("housing"); got != "housing-00002=100" {
		t.Fatalf("route after the last step: %s", got)
	}
	if ms.Status.StableRevision != "housing-00002" || ms.Status.Rollout.Phase != mlv1.RolloutPromoted {
		t.Errorf("after the last step: stable %q, rollout %s", ms.Status.StableRevision, ms.Status.Rollout.Phase)
	}
	if got := ms.Status.Rollout.History; len(got) != 1 || got[0].Phase != mlv1.RolloutPromoted || got[0].Revision != "housing-00002" {
		t.Errorf("history: %+v", got)
	}
	want := []string{"RevisionReady", "RolloutStep", "AnalysisPassed", "RolloutStep", "RolloutPromoted"}
	if diff := cmp.Diff(want, h.eventReasons()); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	var dep appsv1.Deployment
	if err := h.c.Get(context.Background(), client.ObjectKey{Namespace: "ns", Name: "housing-00001"}, &dep); !apierrors.IsNotFound(err) {
		t.Errorf("revision 1 stays after the promotion: %v", err)
	}
}

func TestProgressiveRolloutRollsBackAFailingCanary(t *testing.T) {
	tests := []struct {
		name           string
		code           string
		latency        time.Duration
		wantInMessage  string
		wantCanaryErrs int64
	}{
		{name: "errors", code: "500", latency: 2 * time.Millisecond, wantInMessage: "error rate: canary housing-00002 answered 20 of 20 requests with 5xx (100.0%), stable housing-00001 0 of 80 (0.0%): more than 5 points above", wantCanaryErrs: 20},
		{name: "slow", code: "200", latency: 400 * time.Millisecond, wantInMessage: "p99 latency: canary housing-00002 "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newRolloutHarness(t, newMS("housing").obj())
			h.newRevision(2, canarySteps())
			h.at(0)
			h.metrics.serve("housing-00002", 20, tt.code, tt.latency)
			h.metrics.serve("housing-00001", 80, "200", 2*time.Millisecond)
			h.eventReasons()
			ms := h.at(10 * time.Second)
			ro := ms.Status.Rollout
			if ro.Phase != mlv1.RolloutRolledBack || !strings.Contains(ro.Message, tt.wantInMessage) || ro.LastAnalysis.Canary.Errors != tt.wantCanaryErrs {
				t.Fatalf("rollout after a failing window: %s %q %+v", ro.Phase, ro.Message, ro.LastAnalysis)
			}
			if got := h.routeWeights("housing"); got != "housing-00001=100,housing-00002=0" {
				t.Errorf("route after the rollback: %s", got)
			}
			if got := condition(ms, mlv1.ConditionReady); !strings.HasPrefix(got, "False RolledBack") || !strings.Contains(got, tt.wantInMessage) {
				t.Errorf("Ready after the rollback: %s", got)
			}
			if diff := cmp.Diff([]string{"RolledBack"}, h.eventReasons()); diff != "" {
				t.Errorf("events (-want +got):\n%s", diff)
			}
			// It stays rolled back: later windows do not bring it back.
			h.at(2 * time.Minute)
			if got := h.routeWeights("housing"); got != "housing-00001=100,housing-00002=0" {
				t.Errorf("route later: %s", got)
			}
			// A fixed model is a new revision, and a new rollout.
			h.newRevision(3, canarySteps())
			ms = h.at(3 * time.Minute)
			if ro := ms.Status.Rollout; ro.Revision != "housing-00003" || ro.Phase != mlv1.RolloutProgressing || len(ro.History) != 1 {
				t.Errorf("rollout of revision 3: %+v", ro)
			}
			if got := h.routeWeights("housing"); got != "housing-00003=20,housing-00001=80" {
				t.Errorf("route of revision 3's first step: %s", got)
			}
		})
	}
}

func TestProgressiveRolloutHoldsWithoutMetrics(t *testing.T) {
	h := newRolloutHarness(t, newMS("housing").obj())
	h.r.analyzer = newAnalyzer("http://127.0.0.1:1/metrics") // nothing listens
	h.newRevision(2, canarySteps())
	h.at(0)
	ms := h.at(time.Minute)
	if got := h.routeWeights("housing"); got != "housing-00002=20,housing-00001=80" {
		t.Errorf("route with no metrics to read: %s", got)
	}
	if ro := ms.Status.Rollout; ro.Phase != mlv1.RolloutProgressing || !strings.Contains(ro.Message, "held: the analysis cannot read the gateway's metrics") {
		t.Errorf("rollout with no metrics: %s %q", ro.Phase, ro.Message)
	}
}

func TestRolloutAbortAndPromoteOnRequest(t *testing.T) {
	h := newRolloutHarness(t, newMS("housing").obj())
	h.newRevision(2, canarySteps())
	h.at(0)
	h.action("abort", "housing-00001") // an older revision's: nothing to do
	if ms := h.at(time.Second); ms.Status.Rollout.Phase != mlv1.RolloutProgressing {
		t.Errorf("an abort of another revision ended the rollout: %s", ms.Status.Rollout.Phase)
	}
	h.action("abort", "housing-00002")
	ms := h.at(2 * time.Second)
	if ms.Status.Rollout.Phase != mlv1.RolloutAborted || h.routeWeights("housing") != "housing-00001=100,housing-00002=0" {
		t.Errorf("after abort: %s, route %s", ms.Status.Rollout.Phase, h.routeWeights("housing"))
	}
	if got := condition(ms, mlv1.ConditionReady); !strings.HasPrefix(got, "False Aborted") {
		t.Errorf("Ready after abort: %s", got)
	}
	h.action("promote", "housing-00002")
	ms = h.at(3 * time.Second)
	if ms.Status.Rollout.Phase != mlv1.RolloutPromoted || h.routeWeights("housing") != "housing-00002=100" || ms.Status.StableRevision != "housing-00002" {
		t.Errorf("after promote: %s, route %s, stable %s", ms.Status.Rollout.Phase, h.routeWeights("housing"), ms.Status.StableRevision)
	}
	var phases []mlv1.RolloutPhase
	for _, r := range ms.Status.Rollout.History {
		phases = append(phases, r.Phase)
	}
	if diff := cmp.Diff([]mlv1.RolloutPhase{mlv1.RolloutPromoted, mlv1.RolloutAborted}, phases); diff != "" {
		t.Errorf("history (-want +got):\n%s", diff)
	}
}

func TestBlueGreenSwitchesAtOnceAndKeepsTheOldRevision(t *testing.T) {
	ms := newMS("housing").obj()
	ms.Spec.Predictor.MaxReplicas = 5
	h := newRolloutHarness(t, ms)
	// The autoscaler had made revision 1 three pods.
	old := h.deployment("housing-00001")
	old.Spec.Replicas = ptr.To[int32](3)
	if err := h.c.Update(context.Background(), old); err != nil {
		t.Fatal(err)
	}
	h.update("housing", func(ms *mlv1.ModelService) {
		ms.Spec.Predictor.Model.StorageURI = "file:///srv/models/v2"
		ms.Spec.Rollout = &mlv1.RolloutSpec{Strategy: mlv1.RolloutBlueGreen}
	})
	h.reconcile("housing")
	if got := ptr.Deref(h.deployment("housing-00002").Spec.Replicas, 0); got != 3 {
		t.Errorf("the green revision starts with %d pods, want the blue one's 3", got)
	}
	h.addPod("housing", 2, true, nil)
	h.addPodNamed("housing", 2, "b")
	h.at(0)
	if got := h.routeWeights("housing"); got != "housing-00001=100" {
		t.Errorf("route while 2 of 3 green pods are ready: %s", got)
	}
	h.addPodNamed("housing", 2, "c")
	ms = h.at(time.Second)
	if got := h.routeWeights("housing"); got != "housing-00002=100,housing-00001=0" {
		t.Fatalf("route once every green pod is ready: %s", got)
	}
	if got := condition(ms, mlv1.ConditionReady); !strings.HasPrefix(got, "True Switched") {
		t.Errorf("Ready after the switch: %s", got)
	}
	if got := ptr.Deref(h.deployment("housing-00001").Spec.Replicas, 0); got != 1 {
		t.Errorf("the blue revision keeps %d pods after the switch, want its minimum 1", got)
	}
	h.action("abort", "housing-00002")
	h.at(2 * time.Second)
	if got := h.routeWeights("housing"); got != "housing-00001=100,housing-00002=0" {
		t.Errorf("route after switching back: %s", got)
	}
	if got := ptr.Deref(h.deployment("housing-00001").Spec.Replicas, 0); got != 3 {
		t.Errorf("the blue revision runs %d pods after the switch back, want the green one's 3", got)
	}
	h.action("promote", "housing-00002")
	ms = h.at(3 * time.Second)
	if got := h.routeWeights("housing"); got != "housing-00002=100" || ms.Status.StableRevision != "housing-00002" {
		t.Errorf("after promote: route %s, stable %s", got, ms.Status.StableRevision)
	}
}

func TestVariantsPinByHeaderAndCookie(t *testing.T) {
	h := newRolloutHarness(t, newMS("housing").obj())
	h.update("housing", func(ms *mlv1.ModelService) {
		ms.Spec.Predictor.Model.StorageURI = "file:///srv/models/v2"
		ms.Spec.Traffic = []mlv1.TrafficSpec{
			{Tag: "a", RevisionName: "housing-00001", Percent: 30},
			{Tag: "b", LatestRevision: ptr.To(true), Percent: 70},
		}
	})
	ms := h.at(0)
	if got := ms.Status.TrafficSummary; got != "a:housing-00001=30%,b:housing-00001=70%" {
		t.Errorf("variants while revision 2 starts: %s", got)
	}
	h.addPod("housing", 2, true, nil)
	ms = h.at(time.Second)
	if got := ms.Status.TrafficSummary; got != "a:housing-00001=30%,b:housing-00002=70%" {
		t.Errorf("variants: %s", got)
	}
	if got := condition(ms, mlv1.ConditionReady); !strings.HasPrefix(got, "True Variants") {
		t.Errorf("Ready with variants: %s", got)
	}
	var route gwv1.HTTPRoute
	if err := h.c.Get(context.Background(), client.ObjectKey{Namespace: "ns", Name: "housing"}, &route); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, rule := range route.Spec.Rules {
		var matches, backends []string
		for _, m := range rule.Matches {
			for _, hm := range m.Headers {
				matches = append(matches, fmt.Sprintf("%s=%s", hm.Name, hm.Value))
			}
		}
		for _, b := range rule.BackendRefs {
			s := string(b.Name)
			if b.Weight != nil {
				s += fmt.Sprintf("=%d", *b.Weight)
			}
			for _, f := range b.Filters {
				s += " " + f.ResponseHeaderModifier.Add[0].Value
			}
			backends = append(backends, s)
		}
		got = append(got, strings.Join(matches, "|")+" -> "+strings.Join(backends, ","))
	}
	want := []string{
		`x-variant=a -> housing-00001`,
		`x-variant=b -> housing-00002`,
		`Cookie=(^|[;,]\s*)x-variant=a([;,]|$) -> housing-00001`,
		`Cookie=(^|[;,]\s*)x-variant=b([;,]|$) -> housing-00002`,
		` -> housing-00001=30 x-variant=a; Path=/serving/ns/housing,housing-00002=70 x-variant=b; Path=/serving/ns/housing`,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("route rules (-want +got):\n%s", diff)
	}
	// Revision 1 stays while a variant names it.
	h.deployment("housing-00001")

	h.update("housing", func(ms *mlv1.ModelService) { ms.Spec.Traffic[0].RevisionName = "housing-00009" })
	ms = h.at(2 * time.Second)
	if got := condition(ms, mlv1.ConditionReady); !strings.HasPrefix(got, "False RevisionNotFound: spec.traffic[0] (tag a) names revision housing-00009, which does not exist") {
		t.Errorf("Ready with a variant of a missing revision: %s", got)
	}
}

// addPodNamed is one more ready pod of revision n.
func (h *harness) addPodNamed(ms string, n int32, suffix string) {
	h.t.Helper()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: revisionName(ms, n) + "-" + suffix,
			Labels:      map[string]string{LabelModelService: ms, LabelRevision: revisionName(ms, n)},
			Annotations: map[string]string{AnnotationRevisionNumber: fmt.Sprint(n)}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}},
	}
	if err := h.c.Create(context.Background(), pod); err != nil {
		h.t.Fatal(err)
	}
}

func TestQuantileFromBuckets(t *testing.T) {
	c := counts{requests: 100, buckets: map[float64]float64{0.001: 50, 0.01: 98, 0.1: 100, 1: 100}}
	c.buckets[inf()] = 100
	// The 99th is the 99th of 100: halfway from 0.01 to 0.1 in the third bucket.
	if got, want := c.quantile(0.99), 55*time.Millisecond; got != want {
		t.Errorf("p99 %s, want %s", got, want)
	}
	if got := (counts{}).quantile(0.99); got != 0 {
		t.Errorf("p99 of nothing: %s", got)
	}
}

func inf() float64 { return math.Inf(1) }

func TestRolloutPromoteWaitsForReadiness(t *testing.T) {
	h := newRolloutHarness(t, newMS("housing").obj())
	h.update("housing", func(ms *mlv1.ModelService) {
		ms.Spec.Predictor.Model.StorageURI = "file:///srv/models/v2"
		ms.Spec.Rollout = canarySteps()
	})
	h.reconcile("housing")
	h.action("promote", "housing-00002")
	ms := h.at(time.Second)
	if got := h.routeWeights("housing"); got != "housing-00001=100" || ms.Status.Rollout.Phase != mlv1.RolloutProgressing {
		t.Errorf("promote of a revision that is not ready: %s, route %s", ms.Status.Rollout.Phase, got)
	}
	h.addPod("housing", 2, true, nil)
	if ms = h.at(2 * time.Second); h.routeWeights("housing") != "housing-00002=100" || ms.Status.Rollout.Phase != mlv1.RolloutPromoted {
		t.Errorf("promote once ready: %s, route %s", ms.Status.Rollout.Phase, h.routeWeights("housing"))
	}
}

func TestRolloutSurvivesShorterSteps(t *testing.T) {
	h := newRolloutHarness(t, newMS("housing").obj())
	h.newRevision(2, canarySteps())
	h.at(0)
	h.metrics.serve("housing-00002", 20, "200", 2*time.Millisecond)
	h.metrics.serve("housing-00001", 80, "200", 2*time.Millisecond)
	h.at(10 * time.Second)
	h.at(30 * time.Second) // step 2 of 2
	h.update("housing", func(ms *mlv1.ModelService) { ms.Spec.Rollout.Steps = ms.Spec.Rollout.Steps[:1] })
	ms := h.at(31 * time.Second)
	if ro := ms.Status.Rollout; ro.Phase != mlv1.RolloutProgressing || ro.Step != 0 {
		t.Errorf("after the steps were cut to one: %s at step %d", ro.Phase, ro.Step)
	}
}
