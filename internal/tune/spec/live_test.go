package spec

import (
	"bytes"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/utils/ptr"

	mlv1 "github.com/skiff-dev/skiff/apis/ml/v1alpha1"
)

// searchAt is an Experiment of 30 trials with these counts, its best
// trial train-4 at accuracy 0.93 once one succeeded.
func searchAt(succeeded, running, failed int32) *mlv1.Experiment {
	exp := &mlv1.Experiment{Spec: mlv1.ExperimentSpec{MaxTrialCount: ptr.To[int32](30), Objective: mlv1.ObjectiveSpec{Type: mlv1.ObjectiveMaximize, ObjectiveMetricName: "accuracy"}}}
	exp.Status = mlv1.ExperimentStatus{TrialsSucceeded: succeeded, TrialsRunning: running, TrialsFailed: failed}
	if succeeded > 0 {
		exp.Status.CurrentOptimalTrial = &mlv1.OptimalTrial{BestTrialName: "train-4", Observation: &mlv1.Observation{Metrics: []mlv1.Metric{{Name: "accuracy", Latest: "0.93"}}}}
	}
	return exp
}

func succeededTrial(name, value, params string) mlv1.Trial {
	t := mlv1.Trial{}
	t.Name = name
	t.Status.Phase = mlv1.TrialSucceeded
	t.Status.ParametersSummary = params
	t.Status.Observation = &mlv1.Observation{Metrics: []mlv1.Metric{{Name: "accuracy", Latest: value}}}
	return t
}

func TestBar(t *testing.T) {
	tests := []struct {
		name string
		exp  *mlv1.Experiment
		want string
	}{
		{name: "start", exp: searchAt(0, 3, 0), want: "[..............................] 0/30  3 running  0 failed  0 stopped"},
		{name: "a third", exp: searchAt(9, 3, 1), want: "[##########....................] 10/30  3 running  1 failed  0 stopped  best accuracy 0.93 (train-4)"},
		{name: "done", exp: searchAt(30, 0, 0), want: "[##############################] 30/30  0 running  0 failed  0 stopped  best accuracy 0.93 (train-4)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, Bar(tt.exp)); diff != "" {
				t.Errorf("Bar (-want +got):\n%s", diff)
			}
		})
	}
}

// TestLiveRedrawsInPlace: each frame after the first starts by moving up
// over the last one and clearing it; Clear leaves nothing drawn.
func TestLiveRedrawsInPlace(t *testing.T) {
	var out bytes.Buffer
	live := NewLive(&out, 0)
	if err := live.Draw(searchAt(0, 3, 0), nil); err != nil {
		t.Fatal(err)
	}
	first := "[..............................] 0/30  3 running  0 failed  0 stopped\n"
	if diff := cmp.Diff(first, out.String()); diff != "" {
		t.Errorf("first frame (-want +got):\n%s", diff)
	}
	out.Reset()
	best := []mlv1.Trial{succeededTrial("train-4", "0.93", "lr=0.01"), succeededTrial("train-1", "0.9", "lr=0.1")}
	if err := live.Draw(searchAt(2, 3, 0), best); err != nil {
		t.Fatal(err)
	}
	second := "\x1b[1F\x1b[J" +
		"[##............................] 2/30  3 running  0 failed  0 stopped  best accuracy 0.93 (train-4)\n" +
		"TRIAL    accuracy  PARAMETERS\n" +
		"train-4  0.93      lr=0.01\n" +
		"train-1  0.9       lr=0.1\n"
	if diff := cmp.Diff(second, out.String()); diff != "" {
		t.Errorf("second frame (-want +got):\n%s", diff)
	}
	out.Reset()
	if err := live.Clear(); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff("\x1b[4F\x1b[J", out.String()); diff != "" {
		t.Errorf("clear (-want +got):\n%s", diff)
	}
}

// TestLiveFitsTheTerminal: on a narrow terminal every line is cut short of
// the last column, so that a frame takes as many rows as it has lines.
func TestLiveFitsTheTerminal(t *testing.T) {
	var out bytes.Buffer
	live := NewLive(&out, 20)
	if err := live.Draw(searchAt(2, 3, 0), []mlv1.Trial{succeededTrial("train-4", "0.93", "lr=0.01, depth=4, momentum=0.9")}); err != nil {
		t.Fatal(err)
	}
	want := "[##................\n" + "TRIAL    accuracy  \n" + "train-4  0.93      \n"
	if diff := cmp.Diff(want, out.String()); diff != "" {
		t.Errorf("frame (-want +got):\n%s", diff)
	}
}
