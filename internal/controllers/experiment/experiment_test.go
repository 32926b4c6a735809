package experiment

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	mlv1 "github.com/skiff-dev/skiff/apis/ml/v1alpha1"
	"github.com/skiff-dev/skiff/internal/tune/suggest"
)

// trial builds a trial of number n in phase with objective value v.
func trial(n string, phase mlv1.TrialPhase, v string) mlv1.Trial {
	t := mlv1.Trial{ObjectMeta: metav1.ObjectMeta{Name: "e-" + n, Labels: map[string]string{LabelTrialNumber: n}}}
	t.Status.Phase = phase
	if v != "" {
		t.Status.Observation = &mlv1.Observation{Metrics: []mlv1.Metric{{Name: "acc", Latest: v}}}
		t.Status.History = []mlv1.MetricPoint{{Step: 1, Value: v}}
	}
	return t
}

func experimentOf(typ mlv1.ObjectiveType, goal *float64, maxTrials, maxFailed *int32) *mlv1.Experiment {
	return &mlv1.Experiment{Spec: mlv1.ExperimentSpec{
		Objective:     mlv1.ObjectiveSpec{Type: typ, ObjectiveMetricName: "acc", Goal: goal},
		MaxTrialCount: maxTrials, MaxFailedTrialCount: maxFailed,
	}}
}

func TestEnded(t *testing.T) {
	trials := []mlv1.Trial{trial("0", mlv1.TrialSucceeded, "0.8"), trial("1", mlv1.TrialSucceeded, "0.9"), trial("2", mlv1.TrialFailed, ""), trial("3", mlv1.TrialRunning, "")}
	tests := []struct {
		name       string
		exp        *mlv1.Experiment
		wantCond   string
		wantReason string
	}{
		{"running", experimentOf(mlv1.ObjectiveMaximize, nil, ptr.To[int32](10), nil), "", ""},
		{"goal reached", experimentOf(mlv1.ObjectiveMaximize, ptr.To(0.85), ptr.To[int32](10), nil), ConditionSucceeded, "GoalReached"},
		{"goal not reached when minimizing", experimentOf(mlv1.ObjectiveMinimize, ptr.To(0.5), ptr.To[int32](10), nil), "", ""},
		{"budget spent (running trials do not count)", experimentOf(mlv1.ObjectiveMaximize, nil, ptr.To[int32](3), nil), ConditionSucceeded, "MaxTrialsReached"},
		{"failed more than allowed", experimentOf(mlv1.ObjectiveMaximize, nil, ptr.To[int32](10), ptr.To[int32](0)), ConditionFailed, "MaxFailedTrialsReached"},
		{"failed as many as allowed", experimentOf(mlv1.ObjectiveMaximize, nil, ptr.To[int32](10), ptr.To[int32](1)), "", ""},
	}
	for _, tt := range tests {
		cond, reason, _ := ended(tt.exp, count(trials), best(tt.exp, trials))
		if cond != tt.wantCond || reason != tt.wantReason {
			t.Errorf("%s: ended() = %q %q, want %q %q", tt.name, cond, reason, tt.wantCond, tt.wantReason)
		}
	}
	if b := best(experimentOf(mlv1.ObjectiveMinimize, nil, nil, nil), trials); b == nil || b.Name != "e-0" {
		t.Errorf("best when minimizing: %v", b)
	}
}

func TestToSuggestMinimizes(t *testing.T) {
	trials := []mlv1.Trial{trial("0", mlv1.TrialSucceeded, "0.8"), trial("1", mlv1.TrialEarlyStopped, "0.5"), trial("2", mlv1.TrialMetricsUnavailable, ""), trial("3", "", "")}
	got := toSuggest(experimentOf(mlv1.ObjectiveMaximize, nil, nil, nil), trials)
	want := []suggest.State{suggest.Complete, suggest.Stopped, suggest.Failed, suggest.Running}
	for i, st := range got {
		if st.State != want[i] || st.Number != i {
			t.Errorf("trial %d: state %v number %d, want %v", i, st.State, st.Number, want[i])
		}
	}
	if got[0].Value != -0.8 || got[1].Points[0].Value != -0.5 {
		t.Errorf("a maximized objective is negated for the algorithms: %v, %v", got[0].Value, got[1].Points)
	}
}

// A history at its limit keeps its length: progress is seen in its end.
func TestSameLast(t *testing.T) {
	full := make([]mlv1.MetricPoint, historyLimit)
	moved := append(append([]mlv1.MetricPoint(nil), full[1:]...), mlv1.MetricPoint{Step: 101, Value: "0.5"})
	if sameLast(moved, full) {
		t.Error("a full history with a new last point reads as unchanged")
	}
	if !sameLast(full, full) || !sameLast(nil, nil) {
		t.Error("equal histories read as changed")
	}
}

func TestCount(t *testing.T) {
	trials := []mlv1.Trial{
		trial("0", mlv1.TrialSucceeded, "0.8"), trial("1", mlv1.TrialFailed, ""), trial("2", mlv1.TrialMetricsUnavailable, ""),
		trial("3", mlv1.TrialEarlyStopped, "0.1"), trial("4", mlv1.TrialRunning, ""), trial("5", "", ""), trial("6", mlv1.TrialPending, ""),
	}
	want := counts{total: 7, active: 3, pending: 2, succeeded: 1, failed: 2, earlyStopped: 1}
	if diff := cmp.Diff(want, count(trials), cmp.AllowUnexported(counts{})); diff != "" {
		t.Errorf("count (-want +got):\n%s", diff)
	}
}
