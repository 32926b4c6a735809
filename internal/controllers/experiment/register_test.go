package experiment

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	mlv1 "github.com/skiff-dev/skiff/apis/ml/v1alpha1"
)

// registerExperiment is a finished search of two trials that registers
// its best as a version of model housing and moves challenger to it.
func registerExperiment() *mlv1.Experiment {
	exp := fileExperiment()
	exp.Spec.MetricsCollectorSpec = nil
	exp.Spec.Objective = mlv1.ObjectiveSpec{Type: mlv1.ObjectiveMaximize, ObjectiveMetricName: "acc"}
	exp.Spec.MaxTrialCount = ptr.To[int32](2)
	exp.Spec.Register = &mlv1.RegisterSpec{Model: "housing", Alias: "challenger", ModelFormat: mlv1.ModelFormat{Name: "xgboost"}}
	return exp
}

// testScheme knows the built-in kinds and skiff's.
func testScheme(t *testing.T) *runtime.Scheme {
	t.Helper()
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	if err := mlv1.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	return s
}

func registerFixture(t *testing.T) (client.Client, *Reconciler) {
	t.Helper()
	s := testScheme(t)
	exp := registerExperiment()
	objs := []client.Object{exp}
	for _, tr := range []mlv1.Trial{trial("0", mlv1.TrialSucceeded, "0.8"), trial("1", mlv1.TrialSucceeded, "0.9")} {
		tr.Namespace, tr.UID = "ns", types.UID("uid-"+tr.Name)
		tr.Labels[LabelExperiment] = "e"
		tr.Spec.ParameterAssignments = []mlv1.ParameterAssignment{{Name: "x", Value: tr.Name}}
		if err := controllerutil.SetControllerReference(exp, &tr, s); err != nil {
			t.Fatal(err)
		}
		objs = append(objs, &tr)
	}
	c := fake.NewClientBuilder().WithScheme(s).WithObjects(objs...).
		WithStatusSubresource(&mlv1.Experiment{}, &mlv1.ModelVersion{}, &mlv1.Model{}).Build()
	return c, &Reconciler{Client: c, Recorder: events.NewFakeRecorder(100)}
}

func reconcileExperiment(t *testing.T, c client.Client, r *Reconciler) *mlv1.Experiment {
	t.Helper()
	key := client.ObjectKey{Namespace: "ns", Name: "e"}
	if _, err := r.Reconcile(context.Background(), ctrl.Request{NamespacedName: key}); err != nil {
		t.Fatal(err)
	}
	var exp mlv1.Experiment
	if err := c.Get(context.Background(), key, &exp); err != nil {
		t.Fatal(err)
	}
	return &exp
}

// markRegistered does what the registry does to a version: numbers it
// and makes it Ready.
func markRegistered(t *testing.T, c client.Client, name string, n int64) {
	t.Helper()
	var v mlv1.ModelVersion
	if err := c.Get(context.Background(), client.ObjectKey{Namespace: "ns", Name: name}, &v); err != nil {
		t.Fatal(err)
	}
	v.Labels[mlv1.LabelModelVersion] = "1"
	if err := c.Update(context.Background(), &v); err != nil {
		t.Fatal(err)
	}
	v.Status.Version = n
	meta.SetStatusCondition(&v.Status.Conditions, metav1.Condition{Type: mlv1.ConditionReady, Status: metav1.ConditionTrue, Reason: "Registered"})
	if err := c.Status().Update(context.Background(), &v); err != nil {
		t.Fatal(err)
	}
}

// TestRegisterBestTrial: a succeeded Experiment registers its best trial
// (the run, its parameters and metrics, from its output folder), waits
// for the version to be Ready, moves the alias once, and a restart that
// lost the status makes no second version.
func TestRegisterBestTrial(t *testing.T) {
	c, r := registerFixture(t)
	ctx := context.Background()

	exp := reconcileExperiment(t, c, r)
	if got := meta.FindStatusCondition(exp.Status.Conditions, ConditionRegistered); got == nil || got.Reason != "Registering" {
		t.Fatalf("Registered %+v, want False Registering", got)
	}
	var v mlv1.ModelVersion
	if err := c.Get(ctx, client.ObjectKey{Namespace: "ns", Name: "e-1"}, &v); err != nil {
		t.Fatalf("the best trial's version: %v", err)
	}
	want := mlv1.ModelVersionSpec{
		Model:       "housing",
		Source:      mlv1.ModelVersionSource{StorageURI: "pvc://e-output/e-1"},
		ModelFormat: mlv1.ModelFormat{Name: "xgboost"},
		RunRef:      &mlv1.RunReference{APIVersion: "ml.skiff.dev/v1alpha1", Kind: "Trial", Name: "e-1", UID: "uid-e-1"},
		Parameters:  []mlv1.ParameterAssignment{{Name: "x", Value: "e-1"}},
		Metrics:     []mlv1.VersionMetric{{Name: "acc", Value: "0.9"}},
		Description: "best trial of experiment e",
	}
	if diff := cmp.Diff(want, v.Spec); diff != "" {
		t.Errorf("version spec (-want +got):\n%s", diff)
	}
	var m mlv1.Model
	if err := c.Get(ctx, client.ObjectKey{Namespace: "ns", Name: "housing"}, &m); err != nil {
		t.Fatalf("the model was not created: %v", err)
	}
	if len(m.Spec.Aliases) != 0 {
		t.Errorf("aliases %v before the version is Ready", m.Spec.Aliases)
	}

	markRegistered(t, c, "e-1", 1)
	exp = reconcileExperiment(t, c, r)
	if diff := cmp.Diff(&mlv1.Registration{Trial: "e-1", ModelVersion: "e-1", Version: 1, AliasSet: true}, exp.Status.Registration); diff != "" {
		t.Errorf("registration (-want +got):\n%s", diff)
	}
	if got := meta.FindStatusCondition(exp.Status.Conditions, ConditionRegistered); got == nil || got.Status != metav1.ConditionTrue {
		t.Errorf("Registered %+v, want True", got)
	}
	if err := c.Get(ctx, client.ObjectKey{Namespace: "ns", Name: "housing"}, &m); err != nil || m.Spec.Aliases["challenger"] != 1 {
		t.Fatalf("aliases %v (%v), want challenger at 1", m.Spec.Aliases, err)
	}

	// A release manager moves challenger on: the Experiment leaves it.
	m.Spec.Aliases["challenger"] = 7
	if err := c.Update(ctx, &m); err != nil {
		t.Fatal(err)
	}
	before := reconcileExperiment(t, c, r).ResourceVersion
	if after := reconcileExperiment(t, c, r).ResourceVersion; after != before {
		t.Errorf("a settled registration wrote the Experiment again (%s -> %s)", before, after)
	}
	if err := c.Get(ctx, client.ObjectKey{Namespace: "ns", Name: "housing"}, &m); err != nil || m.Spec.Aliases["challenger"] != 7 {
		t.Errorf("aliases %v (%v): the Experiment moved challenger back", m.Spec.Aliases, err)
	}

	// kill -9 before the status write: the next run finds its version.
	exp.Status.Registration = nil
	if err := c.Status().Update(ctx, exp); err != nil {
		t.Fatal(err)
	}
	exp = reconcileExperiment(t, c, r)
	var versions mlv1.ModelVersionList
	if err := c.List(ctx, &versions); err != nil || len(versions.Items) != 1 {
		t.Errorf("%d versions (%v), want the one", len(versions.Items), err)
	}
	if exp.Status.Registration == nil || exp.Status.Registration.Version != 1 {
		t.Errorf("registration %+v after the restart", exp.Status.Registration)
	}
}

// TestRegisterRefusesAnotherVersion: a version of the trial's name that
// is not the trial's is reported, not taken over.
func TestRegisterRefusesAnotherVersion(t *testing.T) {
	c, r := registerFixture(t)
	other := &mlv1.ModelVersion{ObjectMeta: metav1.ObjectMeta{Name: "e-1", Namespace: "ns"},
		Spec: mlv1.ModelVersionSpec{Model: "other", Source: mlv1.ModelVersionSource{StorageURI: "file:///m.json"}, ModelFormat: mlv1.ModelFormat{Name: "xgboost"}}}
	if err := c.Create(context.Background(), other); err != nil {
		t.Fatal(err)
	}
	_, err := r.Reconcile(context.Background(), ctrl.Request{NamespacedName: client.ObjectKey{Namespace: "ns", Name: "e"}})
	if err == nil || !cmp.Equal(err.Error(), "model version e-1 exists and is not trial e-1's version of model housing: delete or rename it") {
		t.Errorf("error %v", err)
	}
}

// TestTrialsGetAnOutputFolder: with spec.register each trial's primary
// container gets its own folder of the Experiment's claim.
func TestTrialsGetAnOutputFolder(t *testing.T) {
	exp := registerExperiment()
	tr, err := newTrial(exp, 3, map[string]string{"x": "0.5"}, testScheme(t))
	if err != nil {
		t.Fatal(err)
	}
	var job batchv1.Job
	if err := json.Unmarshal(tr.Spec.RunSpec.Raw, &job); err != nil {
		t.Fatal(err)
	}
	pod := job.Spec.Template.Spec
	if diff := cmp.Diff([]corev1.Volume{{Name: "skiff-output", VolumeSource: corev1.VolumeSource{
		PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "e-output"}}}}, pod.Volumes); diff != "" {
		t.Errorf("volumes (-want +got):\n%s", diff)
	}
	ctr := pod.Containers[0]
	if diff := cmp.Diff([]corev1.VolumeMount{{Name: "skiff-output", MountPath: OutputDir, SubPath: "e-3"}}, ctr.VolumeMounts); diff != "" {
		t.Errorf("mounts (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]corev1.EnvVar{{Name: EnvOutputDir, Value: OutputDir}}, ctr.Env); diff != "" {
		t.Errorf("env (-want +got):\n%s", diff)
	}
}
