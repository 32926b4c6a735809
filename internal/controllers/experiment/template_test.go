package experiment

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/runtime"

	mlv1 "github.com/skiff-dev/skiff/apis/ml/v1alpha1"
	"github.com/skiff-dev/skiff/internal/tune/suggest"
)

const jobTemplate = `{"apiVersion": "batch/v1", "kind": "Job", "spec": {"template": {"spec": {
  "restartPolicy": "Never",
  "containers": [{"name": "training", "image": "python:3.6",
    "command": ["python3", "train.py", "--lr=${trialParameters.learningRate}", "--opt=${trialParameters.optimizer}", "--name=${trialSpec.Name}"]}]}}}}`

func TestRenderJob(t *testing.T) {
	tmpl := mlv1.TrialTemplate{
		PrimaryContainerName: "training",
		TrialParameters: []mlv1.TrialParameterSpec{
			{Name: "learningRate", Reference: "lr"}, {Name: "optimizer", Reference: "opt"},
		},
		TrialSpec: runtime.RawExtension{Raw: []byte(jobTemplate)},
	}
	job, err := renderJob(tmpl, suggest.Assignment{"lr": "0.01", "opt": `a"b`}, "search-3", "default")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"python3", "train.py", "--lr=0.01", `--opt=a"b`, "--name=search-3"}
	if diff := cmp.Diff(want, job.Spec.Template.Spec.Containers[0].Command); diff != "" {
		t.Errorf("command (-want +got):\n%s", diff)
	}
	if err := primaryContainer(job, "training"); err != nil {
		t.Error(err)
	}
	if err := primaryContainer(job, "main"); err == nil || !strings.Contains(err.Error(), `"main" is not a container of the trial's Job (it has training)`) {
		t.Errorf("wrong primary container: %v", err)
	}

	undefined := tmpl
	undefined.TrialParameters = tmpl.TrialParameters[:1]
	if _, err := renderJob(undefined, suggest.Assignment{"lr": "0.01"}, "t", "default"); err == nil || !strings.Contains(err.Error(), "${trialParameters.optimizer}") {
		t.Errorf("an undefined placeholder: %v", err)
	}
	badRef := tmpl
	badRef.TrialParameters = []mlv1.TrialParameterSpec{{Name: "learningRate", Reference: "eta"}, {Name: "optimizer", Reference: "opt"}}
	if _, err := renderJob(badRef, suggest.Assignment{"lr": "0.01", "opt": "sgd"}, "t", "default"); err == nil || !strings.Contains(err.Error(), `reference "eta" is not a parameter`) {
		t.Errorf("a reference to no parameter: %v", err)
	}
}

func TestSpace(t *testing.T) {
	got, err := space([]mlv1.ParameterSpec{
		{Name: "lr", ParameterType: mlv1.ParameterDouble, FeasibleSpace: mlv1.FeasibleSpace{Min: "0.0001", Max: "0.1", Distribution: mlv1.DistributionLogUniform}},
		{Name: "depth", ParameterType: mlv1.ParameterInt, FeasibleSpace: mlv1.FeasibleSpace{Min: "2", Max: "8", Step: "2"}},
		{Name: "opt", ParameterType: mlv1.ParameterCategorical, FeasibleSpace: mlv1.FeasibleSpace{List: []string{"sgd", "adam"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := suggest.Space{
		{Name: "lr", Kind: suggest.Double, Min: 0.0001, Max: 0.1, Log: true},
		{Name: "depth", Kind: suggest.Int, Min: 2, Max: 8, Step: 2},
		{Name: "opt", Kind: suggest.Categorical, List: []string{"sgd", "adam"}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("space (-want +got):\n%s", diff)
	}
	if _, err := space([]mlv1.ParameterSpec{{Name: "lr", ParameterType: mlv1.ParameterDouble, FeasibleSpace: mlv1.FeasibleSpace{Min: "x", Max: "1"}}}); err == nil ||
		!strings.Contains(err.Error(), `spec.parameters[0] (lr).feasibleSpace.min "x" is not a number`) {
		t.Errorf("a bad min: %v", err)
	}
}

func TestPlanRefusesWhatItCannotDo(t *testing.T) {
	exp := &mlv1.Experiment{Spec: mlv1.ExperimentSpec{
		Algorithm:  mlv1.AlgorithmSpec{AlgorithmName: "tpe"},
		Parameters: []mlv1.ParameterSpec{{Name: "x", ParameterType: mlv1.ParameterDouble, FeasibleSpace: mlv1.FeasibleSpace{Min: "0", Max: "1"}}},
	}}
	exp.Spec.Algorithm.AlgorithmSettings = []mlv1.AlgorithmSetting{{Name: "n_startup", Value: "3"}}
	if _, err := newPlan(exp); err == nil || !strings.Contains(err.Error(), "spec.algorithm: algorithm tpe has no setting n_startup") {
		t.Errorf("an unknown setting: %v", err)
	}
	exp.Spec.Algorithm.AlgorithmSettings = nil
	if _, err := newPlan(exp); err != nil {
		t.Errorf("a fine spec: %v", err)
	}
	exp.Spec.MetricsCollectorSpec = &mlv1.MetricsCollectorSpec{Collector: &mlv1.CollectorSpec{Kind: mlv1.CollectorFile}}
	if _, err := newPlan(exp); err != nil {
		t.Errorf("a File collector: %v", err)
	}
	exp.Spec.Algorithm.AlgorithmName = "asha"
	if _, err := newPlan(exp); err == nil || !strings.Contains(err.Error(), "File collector's values reach skiff only when a trial ends") {
		t.Errorf("a File collector with ASHA: %v", err)
	}
}
