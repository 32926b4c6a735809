package modelservice

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mlv1 "github.com/skiff-dev/skiff/apis/ml/v1alpha1"
	"github.com/skiff-dev/skiff/internal/gateway/dataplane"
	"github.com/skiff-dev/skiff/internal/kpa"
)

// AnnotationAutoscaling on a revision's Deployment is the request
// autoscaler's last decision (a RevisionAutoscaling as JSON), which the
// ModelService's status shows.
const AnnotationAutoscaling = "ml.skiff.dev/autoscaling"

// RequestScaler is the request autoscaler, Knative's KPA in skiff: it
// follows skiff's gateway's request counts by backend (a snapshot a
// second, and a wake the moment a request is held for a revision with no
// ready pod) and sets the replicas of the revisions of ModelServices that
// scale on concurrency or rps, or to and from zero. Revisions on cpu or
// memory keep their HPA, and only go to zero and back here.
type RequestScaler struct {
	Reconciler *Reconciler
	// Interval is how often the gateway sends a snapshot (1s if 0).
	Interval time.Duration

	mu   sync.Mutex
	revs map[types.NamespacedName]*kpa.Autoscaler
	prev *dataplane.Snapshot
}

// NeedLeaderElection: one replica of the operator scales at a time.
func (s *RequestScaler) NeedLeaderElection() bool { return true }

// Start follows the gateway's stats until ctx ends, connecting again
// after a failure; without stats it changes nothing (silence is not
// idleness).
func (s *RequestScaler) Start(ctx context.Context) error {
	log := logr.FromContextOrDiscard(ctx).WithName("request-autoscaler")
	for ctx.Err() == nil {
		err := s.follow(ctx)
		if ctx.Err() != nil {
			break
		}
		log.V(1).Info("gateway stats stream ended; connecting again", "url", s.Reconciler.Options.GatewayStatsURL(), "error", err)
		s.mu.Lock()
		s.prev = nil // counts across a gap are no interval's
		s.mu.Unlock()
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
	return nil
}

// follow reads one connection's events.
func (s *RequestScaler) follow(ctx context.Context) error {
	interval := s.Interval
	if interval <= 0 {
		interval = time.Second
	}
	url := fmt.Sprintf("%s?watch=true&interval=%s", s.Reconciler.Options.GatewayStatsURL(), interval)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("gateway stats %s: %s", url, res.Status)
	}
	lines := bufio.NewScanner(res.Body)
	lines.Buffer(nil, 64<<20)
	for lines.Scan() {
		var e dataplane.StatsEvent
		if err := json.Unmarshal(lines.Bytes(), &e); err != nil {
			return fmt.Errorf("gateway stats %s: %w", url, err)
		}
		switch {
		case e.Type == dataplane.EventWake:
			s.wake(ctx, e.Backend)
		case e.Type == dataplane.EventSnapshot && e.Snapshot != nil:
			s.tick(ctx, e.Snapshot)
		}
	}
	return lines.Err()
}

// manages says whether ms's replicas are the request autoscaler's to set.
func (s *RequestScaler) manages(ms *mlv1.ModelService) bool {
	r := s.Reconciler
	return r.Options.requestStats() && ms.DeletionTimestamp.IsZero() && (r.bounds(ms).min == 0 || requestMetric(ms))
}

// tick decides every managed revision's pods from the counts since the
// last snapshot.
func (s *RequestScaler) tick(ctx context.Context, snap *dataplane.Snapshot) {
	s.mu.Lock()
	prev := s.prev
	s.prev = snap
	s.mu.Unlock()
	if prev == nil || !snap.Time.After(prev.Time) {
		return
	}
	log := logr.FromContextOrDiscard(ctx).WithName("request-autoscaler")
	var list mlv1.ModelServiceList
	if err := s.Reconciler.Client.List(ctx, &list); err != nil {
		log.Error(err, "list modelservices")
		return
	}
	cur, old := byService(snap), byService(prev)
	seen := map[types.NamespacedName]bool{}
	for i := range list.Items {
		ms := &list.Items[i]
		if !s.manages(ms) {
			continue
		}
		deps, err := s.Reconciler.revisionDeployments(ctx, ms)
		if err != nil {
			log.Error(err, "list revisions", "modelservice", client.ObjectKeyFromObject(ms))
			continue
		}
		for j := range deps {
			dep := &deps[j]
			key := client.ObjectKeyFromObject(dep)
			seen[key] = true
			a := s.autoscaler(key, s.Reconciler.kpaConfig(ms), snap.Time)
			a.Record(sample(ms, cur[key], old[key], snap.Time.Sub(prev.Time), snap.Time))
			if !settled(dep) {
				// Starting or loading: no idle time counts until it serves.
				a.Touch(snap.Time)
			}
			if d, ok := a.Decide(snap.Time, dep.Status.ReadyReplicas); ok {
				s.act(ctx, ms, dep, d)
			}
		}
	}
	s.mu.Lock()
	for k := range s.revs {
		if !seen[k] {
			delete(s.revs, k)
		}
	}
	s.mu.Unlock()
}

// autoscaler is the revision's KPA state, made at now on first sight.
func (s *RequestScaler) autoscaler(key types.NamespacedName, cfg kpa.Config, now time.Time) *kpa.Autoscaler {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.revs == nil {
		s.revs = map[types.NamespacedName]*kpa.Autoscaler{}
	}
	a := s.revs[key]
	if a == nil {
		a = kpa.New(cfg, now)
		s.revs[key] = a
	}
	a.SetConfig(cfg)
	return a
}

// byService sums a snapshot's backends by Service ("ns/name:port" is a
// backend): a revision's HTTP and gRPC ports are one revision's load.
func byService(snap *dataplane.Snapshot) map[types.NamespacedName]dataplane.BackendStats {
	out := map[types.NamespacedName]dataplane.BackendStats{}
	for name, st := range snap.Backends {
		ns, rest, ok := strings.Cut(name, "/")
		svc, _, ok2 := strings.Cut(rest, ":")
		if !ok || !ok2 {
			continue
		}
		k := types.NamespacedName{Namespace: ns, Name: svc}
		sum := out[k]
		sum.Requests += st.Requests
		sum.InFlight += st.InFlight
		sum.Held += st.Held
		sum.ConcurrencySeconds += st.ConcurrencySeconds
		sum.Endpoints = max(sum.Endpoints, st.Endpoints)
		out[k] = sum
	}
	return out
}

// sample is the revision's metric over one interval; counts that went
// down are a restarted gateway's, counted from zero.
func sample(ms *mlv1.ModelService, cur, old dataplane.BackendStats, dt time.Duration, at time.Time) kpa.Sample {
	reqs, busy := cur.Requests, cur.ConcurrencySeconds
	if reqs >= old.Requests && busy >= old.ConcurrencySeconds {
		reqs, busy = reqs-old.Requests, busy-old.ConcurrencySeconds
	}
	value := busy / dt.Seconds()
	if scaleMetric(ms) == mlv1.ScaleMetricRPS {
		value = float64(reqs) / dt.Seconds()
	}
	return kpa.Sample{Time: at, Value: value, Active: reqs > 0 || cur.InFlight > 0}
}

// settled says whether every pod the Deployment wants is ready: a
// revision with a pod starting, loading its model or waiting for a node
// (or a GPU) is never scaled to zero.
func settled(dep *appsv1.Deployment) bool {
	want := ptr.Deref(dep.Spec.Replicas, 1)
	st := dep.Status
	return st.ObservedGeneration >= dep.Generation && st.Replicas == want && st.ReadyReplicas == want && st.UpdatedReplicas == want
}

// act sets the revision's pods to what the decision says: all of it on
// concurrency or rps; on cpu or memory only to zero and back to one.
func (s *RequestScaler) act(ctx context.Context, ms *mlv1.ModelService, dep *appsv1.Deployment, d kpa.Decision) {
	have := ptr.Deref(dep.Spec.Replicas, 1)
	want := d.Desired
	if !requestMetric(ms) {
		switch {
		case want == 0:
		case have == 0:
			want = 1
		default:
			want = have // the HPA's
		}
	}
	if want == 0 && have > 0 && !settled(dep) {
		want = have
	}
	if want == have {
		return
	}
	s.scale(ctx, ms, dep, want, decision{kpa: d, reason: s.reason(ms, dep, d, want)})
}

// decision is one change of a revision's pods and why.
type decision struct {
	kpa    kpa.Decision
	reason string
	wake   string // why it woke, when it did
}

// reason puts a decision in words.
func (s *RequestScaler) reason(ms *mlv1.ModelService, dep *appsv1.Deployment, d kpa.Decision, want int32) string {
	if want == 0 {
		return fmt.Sprintf("no request for %s (scaleToZeroGracePeriod %s): the gateway holds the next one and wakes it", d.Idle.Round(time.Second), s.Reconciler.kpaConfig(ms).ScaleToZeroGrace)
	}
	cfg := s.Reconciler.kpaConfig(ms)
	window, value := cfg.StableWindow, d.Stable
	if d.Panic {
		window, value = cfg.PanicWindow, d.PanicValue
	}
	mode := ""
	if d.Panic {
		mode = ", panicking"
	}
	return fmt.Sprintf("%s %.2f over %s for a target of %.2f a pod%s", scaleMetric(ms), value, window, cfg.Target, mode)
}

// wake scales a revision at zero to one pod the moment the gateway holds
// a request for it.
func (s *RequestScaler) wake(ctx context.Context, backend string) {
	ns, rest, _ := strings.Cut(backend, "/")
	name, _, _ := strings.Cut(rest, ":")
	key := types.NamespacedName{Namespace: ns, Name: name}
	var dep appsv1.Deployment
	if err := s.Reconciler.Client.Get(ctx, key, &dep); err != nil {
		return
	}
	var ms mlv1.ModelService
	owner := metav1.GetControllerOf(&dep)
	if owner == nil || owner.Kind != "ModelService" || s.Reconciler.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: owner.Name}, &ms) != nil || !s.manages(&ms) {
		return
	}
	now := time.Now()
	s.autoscaler(key, s.Reconciler.kpaConfig(&ms), now).Touch(now)
	if ptr.Deref(dep.Spec.Replicas, 1) > 0 {
		return
	}
	s.scale(ctx, &ms, &dep, 1, decision{reason: "a request is held at the gateway", wake: "a request is held at the gateway"})
}

// scale writes the revision's new size with the decision on its
// Deployment, and an event on its ModelService.
func (s *RequestScaler) scale(ctx context.Context, ms *mlv1.ModelService, dep *appsv1.Deployment, want int32, d decision) {
	have := ptr.Deref(dep.Spec.Replicas, 1)
	now := metav1.NewTime(time.Now().Truncate(time.Second))
	st := revisionAutoscaling(dep)
	st.DesiredReplicas, st.Reason, st.Panic, st.LastScaleTime = want, d.reason, d.kpa.Panic, &now
	switch {
	case want == 0:
		st.ScaledToZero, st.ScaledToZeroTime = true, &now
	case have == 0:
		st.ScaledToZero, st.LastWakeTime, st.WakeReason = false, &now, d.wake
		if st.WakeReason == "" {
			st.WakeReason = d.reason
		}
	}
	data, _ := json.Marshal(st)
	patch := client.MergeFrom(dep.DeepCopy())
	dep.Spec.Replicas = ptr.To(want)
	if dep.Annotations == nil {
		dep.Annotations = map[string]string{}
	}
	dep.Annotations[AnnotationAutoscaling] = string(data)
	if err := s.Reconciler.Client.Patch(ctx, dep, patch); err != nil {
		logr.FromContextOrDiscard(ctx).Error(err, "scale revision", "deployment", client.ObjectKeyFromObject(dep), "replicas", want)
		return
	}
	rec := s.Reconciler.Recorder
	switch {
	case want == 0:
		rec.Eventf(ms, dep, corev1.EventTypeNormal, "ScaledToZero", "Scale", "revision %s: 0 pods: %s", dep.Name, d.reason)
	case have == 0:
		rec.Eventf(ms, dep, corev1.EventTypeNormal, "Woken", "Scale", "revision %s: 0 -> %d pods: %s", dep.Name, want, d.reason)
	default:
		rec.Eventf(ms, dep, corev1.EventTypeNormal, "Rescaled", "Scale", "revision %s: %d -> %d pods: %s", dep.Name, have, want, d.reason)
	}
}

// revisionAutoscaling is the decision a Deployment records, or an empty
// one.
func revisionAutoscaling(dep *appsv1.Deployment) *mlv1.RevisionAutoscaling {
	st := &mlv1.RevisionAutoscaling{}
	if v, ok := dep.Annotations[AnnotationAutoscaling]; ok {
		_ = json.Unmarshal([]byte(v), st) // a mangled record starts afresh
	}
	return st
}
