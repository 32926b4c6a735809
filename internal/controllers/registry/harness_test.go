package registry

import (
	"context"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	mlv1 "github.com/skiff-dev/skiff/apis/ml/v1alpha1"
	"github.com/skiff-dev/skiff/internal/artifact"
)

var epoch = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

// modelWrapper and versionWrapper build objects for tests, as kueue's
// wrappers do.
type modelWrapper struct{ mlv1.Model }

func newModel(name string) *modelWrapper {
	return &modelWrapper{mlv1.Model{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name, Generation: 1, UID: "uid-" + "model-" + "x"}}}
}

func (w *modelWrapper) alias(name string, version int64) *modelWrapper {
	if w.Spec.Aliases == nil {
		w.Spec.Aliases = map[string]int64{}
	}
	w.Spec.Aliases[name] = version
	return w
}

func (w *modelWrapper) obj() *mlv1.Model { return w.DeepCopy() }

type versionWrapper struct{ mlv1.ModelVersion }

// newVersion is created at minute `minute` after the epoch.
func newVersion(name, model string, minute int) *versionWrapper {
	return &versionWrapper{mlv1.ModelVersion{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name, Generation: 1, CreationTimestamp: metav1.NewTime(epoch.Add(time.Duration(minute) * time.Minute))},
		Spec: mlv1.ModelVersionSpec{Model: model, ModelFormat: mlv1.ModelFormat{Name: "sklearn"},
			Source: mlv1.ModelVersionSource{StorageURI: "file://" + testdataPath("logistic.json")}},
	}}
}

func (w *versionWrapper) number(n int64) *versionWrapper {
	if w.Labels == nil {
		w.Labels = map[string]string{}
	}
	w.Labels[LabelModel], w.Labels[LabelVersion] = w.Spec.Model, strconv.FormatInt(n, 10)
	return w
}

func (w *versionWrapper) source(uri string) *versionWrapper {
	w.Spec.Source.StorageURI = uri
	return w
}

func (w *versionWrapper) ready(status metav1.ConditionStatus, reason string) *versionWrapper {
	meta.SetStatusCondition(&w.Status.Conditions, metav1.Condition{Type: mlv1.ConditionReady, Status: status, Reason: reason, Message: reason, ObservedGeneration: w.Generation})
	return w
}

func (w *versionWrapper) obj() *mlv1.ModelVersion { return w.DeepCopy() }

func testdataPath(name string) string {
	p, err := filepath.Abs(filepath.Join("testdata", name))
	if err != nil {
		panic(err)
	}
	return p
}

// harness is both reconcilers on a fake API, with a registry in a
// temporary folder.
type harness struct {
	t       *testing.T
	c       client.Client
	models  *ModelReconciler
	version *VersionReconciler
	events  *events.FakeRecorder
	store   *artifact.Dir
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
	c := fake.NewClientBuilder().WithScheme(s).WithObjects(objs...).WithStatusSubresource(&mlv1.Model{}, &mlv1.ModelVersion{}).Build()
	store, err := artifact.NewDir(t.TempDir(), "")
	if err != nil {
		t.Fatal(err)
	}
	rec := events.NewFakeRecorder(1000)
	return &harness{t: t, c: c, events: rec, store: store,
		models:  &ModelReconciler{Client: c, Recorder: rec, Clock: func() time.Time { return epoch }},
		version: &VersionReconciler{Client: c, Recorder: rec, Options: Options{Store: store, ScratchDir: t.TempDir()}},
	}
}

func (h *harness) reconcileModel(name string) {
	h.t.Helper()
	if _, err := h.models.Reconcile(context.Background(), request(name)); err != nil {
		h.t.Fatalf("reconcile model %s: %v", name, err)
	}
}

func (h *harness) reconcileVersion(name string) ctrl.Result {
	h.t.Helper()
	res, err := h.version.Reconcile(context.Background(), request(name))
	if err != nil {
		h.t.Fatalf("reconcile modelversion %s: %v", name, err)
	}
	return res
}

func request(name string) ctrl.Request {
	return ctrl.Request{NamespacedName: client.ObjectKey{Namespace: "ns", Name: name}}
}

func (h *harness) model(name string) *mlv1.Model {
	h.t.Helper()
	var m mlv1.Model
	if err := h.c.Get(context.Background(), client.ObjectKey{Namespace: "ns", Name: name}, &m); err != nil {
		h.t.Fatal(err)
	}
	return &m
}

func (h *harness) mv(name string) *mlv1.ModelVersion {
	h.t.Helper()
	var v mlv1.ModelVersion
	if err := h.c.Get(context.Background(), client.ObjectKey{Namespace: "ns", Name: name}, &v); err != nil {
		h.t.Fatal(err)
	}
	return &v
}

func (h *harness) create(o client.Object) {
	h.t.Helper()
	if err := h.c.Create(context.Background(), o); err != nil {
		h.t.Fatal(err)
	}
}

// updateModel changes a Model's spec or metadata as a user would.
func (h *harness) updateModel(name string, change func(*mlv1.Model)) {
	h.t.Helper()
	m := h.model(name)
	change(m)
	m.Generation++
	if err := h.c.Update(context.Background(), m); err != nil {
		h.t.Fatal(err)
	}
}

func readyOf(conds []metav1.Condition) string {
	c := meta.FindStatusCondition(conds, mlv1.ConditionReady)
	if c == nil {
		return "<none>"
	}
	return string(c.Status) + " " + c.Reason
}
