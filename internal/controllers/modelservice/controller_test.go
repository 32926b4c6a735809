package modelservice

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	mlv1 "github.com/skiff-dev/skiff/apis/ml/v1alpha1"
)

// msWrapper builds ModelServices for tests, as kueue's wrappers do.
type msWrapper struct{ mlv1.ModelService }

func newMS(name string) *msWrapper {
	return &msWrapper{mlv1.ModelService{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name, Generation: 1},
		Spec: mlv1.ModelServiceSpec{Predictor: mlv1.PredictorSpec{
			Model:       &mlv1.ModelSpec{ModelFormat: mlv1.ModelFormat{Name: "xgboost"}, StorageURI: "file:///srv/models/" + name},
			MinReplicas: ptr.To[int32](1),
		}},
	}}
}

func (w *msWrapper) obj() *mlv1.ModelService { return w.DeepCopy() }

// harness is a reconciler on a fake API.
type harness struct {
	t      *testing.T
	c      client.Client
	r      *Reconciler
	events *events.FakeRecorder
}

func newHarness(t *testing.T, objs ...client.Object) *harness {
	t.Helper()
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	if err := mlv1.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	if err := gwv1.Install(s); err != nil {
		t.Fatal(err)
	}
	c := fake.NewClientBuilder().WithScheme(s).WithObjects(objs...).WithStatusSubresource(&mlv1.ModelService{}).Build()
	rec := events.NewFakeRecorder(100)
	return &harness{t: t, c: c, events: rec, r: &Reconciler{Client: c, Recorder: rec, Options: Options{ModelServerImage: "skiff:test", ClusterDomain: "cluster.local"}}}
}

func (h *harness) reconcile(name string) {
	h.t.Helper()
	if _, err := h.r.Reconcile(context.Background(), ctrl.Request{NamespacedName: client.ObjectKey{Namespace: "ns", Name: name}}); err != nil {
		h.t.Fatalf("reconcile %s: %v", name, err)
	}
}

func (h *harness) ms(name string) *mlv1.ModelService {
	h.t.Helper()
	var ms mlv1.ModelService
	if err := h.c.Get(context.Background(), client.ObjectKey{Namespace: "ns", Name: name}, &ms); err != nil {
		h.t.Fatal(err)
	}
	return &ms
}

func (h *harness) deployment(name string) *appsv1.Deployment {
	h.t.Helper()
	var d appsv1.Deployment
	if err := h.c.Get(context.Background(), client.ObjectKey{Namespace: "ns", Name: name}, &d); err != nil {
		h.t.Fatal(err)
	}
	return &d
}

// update changes a ModelService's spec as a user would (a new generation).
func (h *harness) update(name string, change func(*mlv1.ModelService)) {
	h.t.Helper()
	ms := h.ms(name)
	change(ms)
	ms.Generation++
	if err := h.c.Update(context.Background(), ms); err != nil {
		h.t.Fatal(err)
	}
}

// addPod is a predictor pod of revision n.
func (h *harness) addPod(ms string, n int32, ready bool, term *corev1.ContainerStateTerminated) {
	h.t.Helper()
	status := corev1.ConditionFalse
	if ready {
		status = corev1.ConditionTrue
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: revisionName(ms, n) + "-pod",
			Labels:      map[string]string{LabelModelService: ms, LabelRevision: revisionName(ms, n)},
			Annotations: map[string]string{AnnotationRevisionNumber: string(rune('0' + n))}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: status}}},
	}
	if term != nil {
		pod.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: serverContainer, RestartCount: 1, LastTerminationState: corev1.ContainerState{Terminated: term}}}
	}
	if err := h.c.Create(context.Background(), pod); err != nil {
		h.t.Fatal(err)
	}
}

func condition(ms *mlv1.ModelService, t string) string {
	c := meta.FindStatusCondition(ms.Status.Conditions, t)
	if c == nil {
		return "<none>"
	}
	return string(c.Status) + " " + c.Reason + ": " + c.Message
}

func TestNativePredictorPods(t *testing.T) {
	h := newHarness(t, newMS("housing").obj())
	h.reconcile("housing")
	pod := h.deployment("housing-00001").Spec.Template.Spec
	c := pod.Containers[0]
	got := struct {
		Image, Args, Mount, HostPath, Ready string
		Token                               bool
	}{c.Image, strings.Join(c.Args, " "), c.VolumeMounts[0].MountPath, pod.Volumes[0].HostPath.Path, c.ReadinessProbe.HTTPGet.Path, *pod.AutomountServiceAccountToken}
	want := got
	want.Image, want.Mount, want.HostPath, want.Ready, want.Token = "skiff:test", "/mnt/models", "/srv/models/housing", "/v2/health/ready", false
	want.Args = "serve-model --model-name housing --model-version 1 --model-format xgboost --model-path /mnt/models --model-uri file:///srv/models/housing --termination-log /dev/termination-log --log-format json --http-address :8080 --grpc-address :8081"
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("predictor pod (-want +got):\n%s", diff)
	}
	if s := c.Resources.Requests.Cpu().String(); s != "100m" {
		t.Errorf("default CPU request %s, want 100m (an autoscaler needs one)", s)
	}
}

func TestModelVolume(t *testing.T) {
	for _, c := range []struct {
		name, uri, claim, hostPath, path string
	}{
		{name: "file: only the file", uri: "file:///srv/models/housing.json", hostPath: "/srv/models/housing.json", path: "/mnt/models/housing.json"},
		{name: "folder with a slash", uri: "file:///srv/models/housing/", hostPath: "/srv/models/housing", path: "/mnt/models"},
		{name: "claim path", uri: "pvc://models/housing/model.json", claim: "models", path: "/mnt/models/housing/model.json"},
		{name: "whole claim", uri: "pvc://models", claim: "models", path: "/mnt/models"},
	} {
		t.Run(c.name, func(t *testing.T) {
			vol, path := modelVolume(c.uri)
			var claim, hostPath string
			if vol.PersistentVolumeClaim != nil {
				claim = vol.PersistentVolumeClaim.ClaimName
				if !vol.PersistentVolumeClaim.ReadOnly {
					t.Error("the claim is mounted writable")
				}
			}
			if vol.HostPath != nil {
				hostPath = vol.HostPath.Path
			}
			if diff := cmp.Diff([]string{c.claim, c.hostPath, c.path}, []string{claim, hostPath, path}); diff != "" {
				t.Errorf("claim, hostPath, path (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRevisions(t *testing.T) {
	h := newHarness(t, newMS("housing").obj())
	h.reconcile("housing")
	first := h.deployment("housing-00001").ResourceVersion
	h.reconcile("housing")
	if rv := h.deployment("housing-00001").ResourceVersion; rv != first {
		t.Error("a second reconcile of an unchanged ModelService updated its Deployment")
	}
	if got := h.ms("housing").Status.LatestCreatedRevision; got != "housing-00001" {
		t.Fatalf("first revision %q", got)
	}

	// Status lost (skiff killed before writing it): the same revision.
	ms := h.ms("housing")
	ms.Status = mlv1.ModelServiceStatus{}
	if err := h.c.Status().Update(context.Background(), ms); err != nil {
		t.Fatal(err)
	}
	h.reconcile("housing")
	if got := h.ms("housing").Status.LatestCreatedRevision; got != "housing-00001" {
		t.Errorf("after a lost status, revision %q", got)
	}

	h.update("housing", func(ms *mlv1.ModelService) { ms.Spec.Predictor.Model.StorageURI = "file:///srv/models/v2" })
	h.reconcile("housing")
	if got := h.ms("housing").Status.LatestCreatedRevision; got != "housing-00002" {
		t.Errorf("a new model made revision %q, want housing-00002", got)
	}

	h.update("housing", func(ms *mlv1.ModelService) { ms.Spec.Predictor.MaxReplicas = 4 })
	h.reconcile("housing")
	if got := h.ms("housing").Status.LatestCreatedRevision; got != "housing-00002" {
		t.Errorf("new replica bounds made revision %q", got)
	}
	var hpa autoscalingv2.HorizontalPodAutoscaler
	if err := h.c.Get(context.Background(), client.ObjectKey{Namespace: "ns", Name: "housing-predictor"}, &hpa); err != nil {
		t.Fatalf("no autoscaler with maxReplicas 4: %v", err)
	}
	if diff := cmp.Diff([]int32{1, 4, 80}, []int32{*hpa.Spec.MinReplicas, hpa.Spec.MaxReplicas, *hpa.Spec.Metrics[0].Resource.Target.AverageUtilization}); diff != "" {
		t.Errorf("autoscaler min, max, target (-want +got):\n%s", diff)
	}

	h.update("housing", func(ms *mlv1.ModelService) { ms.Spec.Predictor.MaxReplicas = 0 })
	h.reconcile("housing")
	err := h.c.Get(context.Background(), client.ObjectKey{Namespace: "ns", Name: "housing-predictor"}, &hpa)
	if !apierrors.IsNotFound(err) {
		t.Errorf("the autoscaler stays without maxReplicas: %v", err)
	}
}

func TestStatusOfAFailedRevision(t *testing.T) {
	h := newHarness(t, newMS("housing").obj())
	h.reconcile("housing")
	h.addPod("housing", 1, true, nil)
	h.reconcile("housing")
	if got := condition(h.ms("housing"), mlv1.ConditionReady); !strings.HasPrefix(got, "True Serving") {
		t.Fatalf("Ready with revision 1's pod ready: %s", got)
	}

	h.update("housing", func(ms *mlv1.ModelService) { ms.Spec.Predictor.Model.StorageURI = "file:///srv/broken.json" })
	h.reconcile("housing")
	h.addPod("housing", 2, false, &corev1.ContainerStateTerminated{ExitCode: 1, Message: "file:///srv/broken.json: not an XGBoost model"})
	h.reconcile("housing")
	ms := h.ms("housing")
	for _, c := range []struct{ cond, want string }{
		{mlv1.ConditionReady, "False ModelLoadFailed: revision housing-00002: container model-server: file:///srv/broken.json: not an XGBoost model"},
		{mlv1.ConditionServing, "True PreviousRevision: serving housing-00001=100% until housing-00002 is ready"},
	} {
		if got := condition(ms, c.cond); got != c.want {
			t.Errorf("%s:\n got %s\nwant %s", c.cond, got, c.want)
		}
	}
	if ms.Status.LatestReadyRevision != "housing-00001" || ms.Status.ObservedGeneration != ms.Generation {
		t.Errorf("latest ready %q, observed generation %d of %d", ms.Status.LatestReadyRevision, ms.Status.ObservedGeneration, ms.Generation)
	}
	if !drained(h.events, "RevisionFailed") {
		t.Error("no RevisionFailed event")
	}
}

func TestAForeignServiceIsReported(t *testing.T) {
	theirs := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "housing-predictor"}}
	h := newHarness(t, newMS("housing").obj(), theirs)
	h.reconcile("housing")
	want := "False NameTaken: Service housing-predictor exists and is not this ModelService's: rename the ModelService or remove the Service"
	if got := condition(h.ms("housing"), mlv1.ConditionReady); got != want {
		t.Errorf("Ready:\n got %s\nwant %s", got, want)
	}
}

// drained reads the recorded events and says whether one had reason.
func drained(rec *events.FakeRecorder, reason string) bool {
	found := false
	for {
		select {
		case e := <-rec.Events:
			found = found || strings.Contains(e, " "+reason+" ")
		default:
			return found
		}
	}
}

func TestARolloutRestartIsNotUndone(t *testing.T) {
	h := newHarness(t, newMS("housing").obj())
	h.reconcile("housing")
	dep := h.deployment("housing-00001")
	dep.Spec.Template.Annotations["kubectl.kubernetes.io/restartedAt"] = "2026-12-02T18:00:00Z"
	dep.Spec.Template.Spec.Containers[0].ReadinessProbe.SuccessThreshold = 1 // an API server default
	if err := h.c.Update(context.Background(), dep); err != nil {
		t.Fatal(err)
	}
	h.reconcile("housing")
	if got := h.deployment("housing-00001").Spec.Template.Annotations["kubectl.kubernetes.io/restartedAt"]; got == "" {
		t.Error("the controller removed kubectl rollout restart's annotation")
	}
}

func TestSplit(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		canary      *int32
		shadow      *int32
		latestReady bool
		stable      string
		want        []target
	}{
		{name: "first revision not ready", want: nil},
		{name: "first revision ready", latestReady: true, want: []target{{revision: "m-2", percent: 100}}},
		{name: "the stable revision lost its pods", stable: "m-2", want: []target{{revision: "m-2", percent: 100}}},
		{name: "new revision starting", stable: "m-1", want: []target{{revision: "m-1", percent: 100}}},
		{name: "new revision ready, no canary: promoted", stable: "m-1", latestReady: true, want: []target{{revision: "m-2", percent: 100}}},
		{name: "canary", canary: ptr.To[int32](20), stable: "m-1", latestReady: true, want: []target{{revision: "m-2", percent: 20}, {revision: "m-1", percent: 80}}},
		{name: "canary waits for readiness", canary: ptr.To[int32](20), stable: "m-1", want: []target{{revision: "m-1", percent: 100}}},
		{name: "canary 100 promotes", canary: ptr.To[int32](100), stable: "m-1", latestReady: true, want: []target{{revision: "m-2", percent: 100}}},
		{name: "canary 0 is all on the stable one", canary: ptr.To[int32](0), stable: "m-1", latestReady: true, want: []target{{revision: "m-1", percent: 100}, {revision: "m-2"}}},
		{name: "shadow: the stable one answers, the latest gets copies", shadow: ptr.To[int32](50), stable: "m-1", latestReady: true, want: []target{{revision: "m-1", percent: 100}, {revision: "m-2", shadow: 50}}},
		{name: "shadow waits for readiness", shadow: ptr.To[int32](50), stable: "m-1", want: []target{{revision: "m-1", percent: 100}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := split(&mlv1.PredictorSpec{CanaryTrafficPercent: tt.canary, ShadowTrafficPercent: tt.shadow}, "m-2", tt.latestReady, tt.stable)
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(target{})); diff != "" {
				t.Errorf("split (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCanaryPromoteAndAbort(t *testing.T) {
	h := newHarness(t, newMS("housing").obj())
	h.r.Options.Gateway = &GatewayRef{Namespace: "skiff-system", Name: "skiff"}
	h.reconcile("housing")
	h.addPod("housing", 1, true, nil)
	h.reconcile("housing")
	if st := h.ms("housing").Status; st.StableRevision != "housing-00001" || st.TrafficSummary != "housing-00001=100%" {
		t.Fatalf("after revision 1 is ready: stable %q traffic %q", st.StableRevision, st.TrafficSummary)
	}
	h.update("housing", func(ms *mlv1.ModelService) {
		ms.Spec.Predictor.Model.StorageURI = "file:///srv/models/v2"
		ms.Spec.Predictor.CanaryTrafficPercent = ptr.To[int32](20)
	})
	h.reconcile("housing")
	if got := h.routeWeights("housing"); got != "housing-00001=100" {
		t.Errorf("route while revision 2 starts: %s", got)
	}
	h.addPod("housing", 2, true, nil)
	h.reconcile("housing")
	ms := h.ms("housing")
	if got := h.routeWeights("housing"); got != "housing-00002=20,housing-00001=80" {
		t.Errorf("canary route: %s", got)
	}
	if got := condition(ms, mlv1.ConditionReady); !strings.HasPrefix(got, "True Canary: canary at 20%") {
		t.Errorf("Ready during the canary: %s", got)
	}

	h.update("housing", func(ms *mlv1.ModelService) { ms.Spec.Predictor.CanaryTrafficPercent = ptr.To[int32](0) })
	h.reconcile("housing")
	if got := h.routeWeights("housing"); got != "housing-00001=100,housing-00002=0" {
		t.Errorf("aborted canary route: %s", got)
	}
	h.update("housing", func(ms *mlv1.ModelService) { ms.Spec.Predictor.CanaryTrafficPercent = nil })
	h.reconcile("housing")
	if got := h.routeWeights("housing"); got != "housing-00002=100" {
		t.Errorf("promoted route: %s", got)
	}
	if st := h.ms("housing").Status; st.StableRevision != "housing-00002" {
		t.Errorf("stable after promotion: %q", st.StableRevision)
	}
	var dep appsv1.Deployment
	if err := h.c.Get(context.Background(), client.ObjectKey{Namespace: "ns", Name: "housing-00001"}, &dep); !apierrors.IsNotFound(err) {
		t.Errorf("revision 1's Deployment stays after the promotion: %v", err)
	}
	var svc corev1.Service
	if err := h.c.Get(context.Background(), client.ObjectKey{Namespace: "ns", Name: "housing-predictor"}, &svc); err != nil || svc.Spec.Selector[LabelRevision] != "housing-00002" {
		t.Errorf("the in-cluster Service selects %v (%v), want revision 2", svc.Spec.Selector, err)
	}
}

// routeWeights is the HTTPRoute's backends as "name=weight,...".
func (h *harness) routeWeights(name string) string {
	h.t.Helper()
	var route gwv1.HTTPRoute
	if err := h.c.Get(context.Background(), client.ObjectKey{Namespace: "ns", Name: name}, &route); err != nil {
		h.t.Fatal(err)
	}
	var out []string
	for _, b := range route.Spec.Rules[0].BackendRefs {
		out = append(out, fmt.Sprintf("%s=%d", b.Name, *b.Weight))
	}
	return strings.Join(out, ",")
}

func TestAnOldRolloutFailureIsNotTheNewRevisions(t *testing.T) {
	h := newHarness(t, newMS("housing").obj())
	h.reconcile("housing")
	dep := h.deployment("housing-00001")
	dep.Status.Conditions = []appsv1.DeploymentCondition{{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionFalse, Reason: "ProgressDeadlineExceeded", Message: "revision 1 timed out"}}
	if err := h.c.Status().Update(context.Background(), dep); err != nil {
		t.Fatal(err)
	}
	h.update("housing", func(ms *mlv1.ModelService) { ms.Spec.Predictor.Model.StorageURI = "file:///srv/models/fixed.json" })
	h.reconcile("housing")
	if got := condition(h.ms("housing"), mlv1.ConditionLatestRevisionReady); strings.HasPrefix(got, "False") {
		t.Errorf("the new revision took the old rollout's failure: %s", got)
	}
}
