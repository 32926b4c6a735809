package spec

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	batchv1 "k8s.io/api/batch/v1"

	mlv1 "github.com/skiff-dev/skiff/apis/ml/v1alpha1"
)

func TestParam(t *testing.T) {
	tests := []struct {
		flag string
		want mlv1.ParameterSpec
		err  string
	}{
		{flag: "lr=logUniform:1e-4:1e-1", want: mlv1.ParameterSpec{Name: "lr", ParameterType: mlv1.ParameterDouble, FeasibleSpace: mlv1.FeasibleSpace{Min: "1e-4", Max: "1e-1", Distribution: mlv1.DistributionLogUniform}}},
		{flag: "depth=int:2:8:2", want: mlv1.ParameterSpec{Name: "depth", ParameterType: mlv1.ParameterInt, FeasibleSpace: mlv1.FeasibleSpace{Min: "2", Max: "8", Step: "2"}}},
		{flag: "opt=categorical:sgd,adam", want: mlv1.ParameterSpec{Name: "opt", ParameterType: mlv1.ParameterCategorical, FeasibleSpace: mlv1.FeasibleSpace{List: []string{"sgd", "adam"}}}},
		{flag: "units=discrete:16,32", want: mlv1.ParameterSpec{Name: "units", ParameterType: mlv1.ParameterDiscrete, FeasibleSpace: mlv1.FeasibleSpace{List: []string{"16", "32"}}}},
		{flag: "lr", err: "write name=kind:values"},
		{flag: "lr=gaussian:0:1", err: `unknown kind "gaussian"`},
		{flag: "lr=double:1", err: "a double range is MIN:MAX"},
	}
	for _, tt := range tests {
		got, err := Param(tt.flag)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("Param(%q) = %v, want %q", tt.flag, err, tt.err)
			}
			continue
		}
		if diff := cmp.Diff(tt.want, got); diff != "" || err != nil {
			t.Errorf("Param(%q) %v (-want +got):\n%s", tt.flag, err, diff)
		}
	}
}

func TestBuild(t *testing.T) {
	req := Request{Name: "train", Namespace: "ml", Script: "train.py", Params: []string{"lr=logUniform:1e-4:1e-1", "l1-ratio=double:0:1"},
		Maximize: "accuracy", Trials: 12, Parallel: 3, MaxFailed: 2, Algorithm: "tpe", Python: "python3"}
	exp, err := Build(req, "/home/ds/project")
	if err != nil {
		t.Fatal(err)
	}
	var job batchv1.Job
	if err := json.Unmarshal(exp.Spec.TrialTemplate.TrialSpec.Raw, &job); err != nil {
		t.Fatal(err)
	}
	c := job.Spec.Template.Spec.Containers[0]
	want := []string{"python3", "train.py", "--lr=${trialParameters.lr}", "--l1-ratio=${trialParameters.l1_ratio}"}
	if diff := cmp.Diff(want, c.Command); diff != "" {
		t.Errorf("command (-want +got):\n%s", diff)
	}
	if c.WorkingDir != "/home/ds/project" || job.Spec.Template.Spec.Volumes[0].HostPath.Path != "/home/ds/project" || !c.VolumeMounts[0].ReadOnly {
		t.Errorf("the script's folder is not mounted read-only as the working directory: %+v", c)
	}
	if exp.Spec.Objective.Type != mlv1.ObjectiveMaximize || *exp.Spec.MaxTrialCount != 12 || exp.Spec.TrialTemplate.TrialParameters[1].Reference != "l1-ratio" {
		t.Errorf("experiment %+v", exp.Spec)
	}
	for _, bad := range []Request{{Params: req.Params}, {Params: req.Params, Maximize: "a", Minimize: "b"}, {Maximize: "a"}} {
		if _, err := Build(bad, "/x"); err == nil {
			t.Errorf("Build(%+v): no error", bad)
		}
	}
	if got := NameFor("experiments/2nd_Train.py"); got != "nd-train" {
		t.Errorf("NameFor = %q", got)
	}
}
