package spec

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strconv"
	"text/tabwriter"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mlv1 "github.com/skiff-dev/skiff/apis/ml/v1alpha1"
)

// Ended is the Experiment's end condition (Succeeded or Failed), nil while
// it runs.
func Ended(exp *mlv1.Experiment) *metav1Condition {
	for _, t := range []string{"Succeeded", "Failed"} {
		if c := meta.FindStatusCondition(exp.Status.Conditions, t); c != nil && c.Status == "True" {
			return &metav1Condition{Type: c.Type, Reason: c.Reason, Message: c.Message}
		}
	}
	return nil
}

// metav1Condition is the part of a condition people read.
type metav1Condition struct{ Type, Reason, Message string }

// Wait polls the Experiment until it ends or timeout passes, calling
// progress whenever its counts change.
func Wait(ctx context.Context, c client.Client, key client.ObjectKey, timeout time.Duration, progress func(*mlv1.Experiment)) (*mlv1.Experiment, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	last := ""
	for {
		var exp mlv1.Experiment
		if err := c.Get(ctx, key, &exp); err != nil {
			return nil, fmt.Errorf("experiment %s: %w", key, err)
		}
		if now := Progress(&exp); now != last {
			last = now
			progress(&exp)
		}
		if Ended(&exp) != nil {
			return &exp, nil
		}
		select {
		case <-ctx.Done():
			return &exp, fmt.Errorf("experiment %s has not ended after %s (it goes on: skiff tune status %s)", key, timeout, key.Name)
		case <-time.After(time.Second):
		}
	}
}

// Progress is the Experiment's counts and best value in one line.
func Progress(exp *mlv1.Experiment) string {
	s := exp.Status
	total := int32(0)
	if exp.Spec.MaxTrialCount != nil {
		total = *exp.Spec.MaxTrialCount
	}
	line := fmt.Sprintf("trials %d/%d: %d running, %d succeeded, %d failed, %d stopped early", s.TrialsSucceeded+s.TrialsFailed+s.TrialsEarlyStopped, total,
		s.TrialsRunning, s.TrialsSucceeded, s.TrialsFailed, s.TrialsEarlyStopped)
	if b := s.CurrentOptimalTrial; b != nil && b.Observation != nil && len(b.Observation.Metrics) > 0 {
		line += fmt.Sprintf("; best %s %s (%s)", b.Observation.Metrics[0].Name, b.Observation.Metrics[0].Latest, b.BestTrialName)
	}
	return line
}

// Best are the succeeded trials, the best first, at most n.
func Best(exp *mlv1.Experiment, trials []mlv1.Trial, n int) []mlv1.Trial {
	var done []mlv1.Trial
	for _, t := range trials {
		if t.Status.Phase == mlv1.TrialSucceeded && t.Status.Observation != nil && len(t.Status.Observation.Metrics) > 0 {
			done = append(done, t)
		}
	}
	value := func(t mlv1.Trial) float64 {
		v, _ := strconv.ParseFloat(t.Status.Observation.Metrics[0].Latest, 64)
		if exp.Spec.Objective.Type == mlv1.ObjectiveMaximize {
			return -v
		}
		return v
	}
	sort.SliceStable(done, func(i, j int) bool { return value(done[i]) < value(done[j]) })
	return done[:min(n, len(done))]
}

// Table prints trials with their objective and parameters.
func Table(w io.Writer, exp *mlv1.Experiment, trials []mlv1.Trial) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "TRIAL\t%s\tPARAMETERS\n", exp.Spec.Objective.ObjectiveMetricName)
	for _, t := range trials {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", t.Name, t.Status.Observation.Metrics[0].Latest, t.Status.ParametersSummary)
	}
	return tw.Flush()
}
