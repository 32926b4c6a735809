package experiment

import (
	"context"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	mlv1 "github.com/skiff-dev/skiff/apis/ml/v1alpha1"
)

// fileExperiment uses the File collector with a template whose primary
// container has no command, which the collector cannot wrap.
func fileExperiment() *mlv1.Experiment {
	return &mlv1.Experiment{
		ObjectMeta: metav1.ObjectMeta{Name: "e", Namespace: "ns", UID: "u1", Generation: 1},
		Spec: mlv1.ExperimentSpec{
			Objective:            mlv1.ObjectiveSpec{Type: mlv1.ObjectiveMinimize, ObjectiveMetricName: "loss"},
			Algorithm:            mlv1.AlgorithmSpec{AlgorithmName: "random"},
			Parameters:           []mlv1.ParameterSpec{{Name: "x", ParameterType: mlv1.ParameterDouble, FeasibleSpace: mlv1.FeasibleSpace{Min: "0", Max: "1"}}},
			ParallelTrialCount:   2,
			MaxTrialCount:        ptr.To[int32](4),
			MetricsCollectorSpec: &mlv1.MetricsCollectorSpec{Collector: &mlv1.CollectorSpec{Kind: mlv1.CollectorFile}},
			TrialTemplate: mlv1.TrialTemplate{
				PrimaryContainerName: "train",
				TrialParameters:      []mlv1.TrialParameterSpec{{Name: "x", Reference: "x"}},
				TrialSpec: runtime.RawExtension{Raw: []byte(`{"apiVersion":"batch/v1","kind":"Job","spec":{"template":{"spec":{"restartPolicy":"Never",` +
					`"containers":[{"name":"train","image":"python:3","args":["--x=${trialParameters.x}"]}]}}}}`)},
			},
		},
	}
}

// TestInvalidTemplateStaysFailed: a template the controller cannot make a
// trial of fails the Experiment, and later reconciles leave it Failed
// (they neither flip it back to Running nor write again).
func TestInvalidTemplateStaysFailed(t *testing.T) {
	c := fake.NewClientBuilder().WithScheme(testScheme(t)).WithObjects(fileExperiment()).WithStatusSubresource(&mlv1.Experiment{}).Build()
	rec := events.NewFakeRecorder(10)
	r := &Reconciler{Client: c, Recorder: rec}
	var versions []string
	for range 3 {
		if _, err := r.Reconcile(context.Background(), ctrl.Request{NamespacedName: client.ObjectKey{Namespace: "ns", Name: "e"}}); err != nil {
			t.Fatal(err)
		}
		var exp mlv1.Experiment
		if err := c.Get(context.Background(), client.ObjectKey{Namespace: "ns", Name: "e"}, &exp); err != nil {
			t.Fatal(err)
		}
		failed := meta.FindStatusCondition(exp.Status.Conditions, ConditionFailed)
		if failed == nil || failed.Status != metav1.ConditionTrue || failed.Reason != "InvalidTrialTemplate" {
			t.Fatalf("conditions %+v, want Failed InvalidTrialTemplate", exp.Status.Conditions)
		}
		if running := meta.FindStatusCondition(exp.Status.Conditions, ConditionRunning); running != nil && running.Status == metav1.ConditionTrue {
			t.Errorf("Running is True beside Failed: %+v", running)
		}
		versions = append(versions, exp.ResourceVersion)
	}
	if versions[1] != versions[0] || versions[2] != versions[0] {
		t.Errorf("resource versions %v: reconciles after the failure wrote the Experiment again", versions)
	}
	if n := len(rec.Events); n != 1 {
		t.Errorf("%d events, want the one InvalidTrialTemplate", n)
	}
	var trials mlv1.TrialList
	if err := c.List(context.Background(), &trials); err != nil || len(trials.Items) != 0 {
		t.Errorf("trials %d (%v), want none", len(trials.Items), err)
	}
}
