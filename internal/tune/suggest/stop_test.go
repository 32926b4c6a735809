package suggest

import (
	"strings"
	"testing"
)

// curve is a trial whose objective at step s (1, 2, ...) is values[s-1].
func curve(number int, state State, values ...float64) Trial {
	t := Trial{Number: number, State: state}
	for i, v := range values {
		t.Points = append(t.Points, Point{Step: int64(i + 1), Value: v})
	}
	if state == Complete && len(values) > 0 {
		t.Value = values[len(values)-1]
	}
	return t
}

func TestMedianStop(t *testing.T) {
	s, err := NewStopper("medianstop", Settings{"min_trials_required": "3", "start_step": "2"}, "tpe", nil)
	if err != nil {
		t.Fatal(err)
	}
	finished := []Trial{
		curve(0, Complete, 0.9, 0.5, 0.4),
		curve(1, Complete, 0.8, 0.6, 0.5),
		curve(2, Complete, 0.9, 0.7, 0.6),
	}
	tests := []struct {
		name  string
		trial Trial
		stop  bool
	}{
		{"before the start step", curve(3, Running, 5), false},
		{"better than the median", curve(3, Running, 0.9, 0.55), false},
		{"worse than the median (0.6 at step 2)", curve(3, Running, 0.9, 0.65), true},
		{"worse at step 3 (median 0.5)", curve(3, Running, 0.9, 0.6, 0.55), true},
	}
	for _, tt := range tests {
		stop, why := s.Stop(tt.trial, append(finished, tt.trial))
		if stop != tt.stop {
			t.Errorf("%s: stop = %v (%s)", tt.name, stop, why)
		}
		if stop && !strings.Contains(why, "worse than the median") {
			t.Errorf("%s: reason %q", tt.name, why)
		}
	}
	// Too few finished trials: no judgment.
	if stop, _ := s.Stop(curve(3, Running, 9, 9), finished[:2]); stop {
		t.Error("stopped with two finished trials of three required")
	}
}

func TestASHAStopsAtRungs(t *testing.T) {
	s, err := NewStopper("", nil, "asha", Settings{"eta": "3", "min_resource": "1"})
	if err != nil {
		t.Fatal(err)
	}
	// Rungs at steps 1, 3, 9. Six trials reached step 1 with these values.
	var trials []Trial
	for i, v := range []float64{0.1, 0.2, 0.3, 0.4, 0.5, 0.6} {
		trials = append(trials, curve(i, Running, v))
	}
	// The best two of six (ceil(6/3)) go on.
	for i, want := range []bool{false, false, true, true, true, true} {
		if stop, why := s.Stop(trials[i], trials); stop != want {
			t.Errorf("trial %d at rung 1: stop = %v (%s)", i, stop, why)
		}
	}
	// A trial at step 2 is judged at rung 1 still; fewer than eta trials
	// at rung 3 is no judgment.
	deep := curve(0, Running, 0.1, 0.1, 5)
	if stop, why := s.Stop(deep, append(trials[1:], deep)); stop {
		t.Errorf("alone at rung 3: stopped (%s)", why)
	}
	if _, err := NewStopper("", nil, "asha", Settings{"eta": "1"}); err == nil {
		t.Error("eta 1: no error")
	}
	if st, err := NewStopper("", nil, "tpe", nil); st != nil || err != nil {
		t.Errorf("tpe without early stopping: %v, %v", st, err)
	}
}
