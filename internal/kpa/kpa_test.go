package kpa

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var t0 = time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC)

func config() Config {
	return Config{
		Target: 1.4, StableWindow: 60 * time.Second, PanicWindow: 6 * time.Second, PanicThreshold: 2,
		MaxScaleUpRate: 1000, MaxScaleDownRate: 2, ScaleToZeroGrace: 30 * time.Second, Min: 0, Max: 10,
	}
}

// step is one second of a scenario: the value seen, and the ready pods.
type step struct {
	value float64
	ready int32
}

// run feeds one sample a second and returns the last decision.
func run(a *Autoscaler, from time.Time, steps []step) (Decision, time.Time) {
	var d Decision
	now := from
	for _, s := range steps {
		now = now.Add(time.Second)
		a.Record(Sample{Time: now, Value: s.value, Active: s.value > 0})
		d, _ = a.Decide(now, s.ready)
	}
	return d, now
}

func repeat(s step, n int) []step {
	out := make([]step, n)
	for i := range out {
		out[i] = s
	}
	return out
}

func TestDecide(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		config func(*Config)
		steps  []step
		want   Decision
	}{
		{
			name:  "steady load: stable window over the target",
			steps: repeat(step{value: 5.5, ready: 4}, 70),
			want:  Decision{Desired: 4, Stable: 5.5, PanicValue: 5.5},
		},
		{
			name:  "a burst panics and scales on the panic window at once",
			steps: append(repeat(step{value: 1, ready: 1}, 60), repeat(step{value: 8, ready: 1}, 3)...),
			// panic window: (3 x 1 + 3 x 8) / 6 = 4.5 -> 4 pods; stable (57 + 24) / 60.
			want: Decision{Desired: 4, Panic: true, Stable: 81.0 / 60, PanicValue: 4.5},
		},
		{
			name:  "the scale-down rate halves the pods at most",
			steps: append(repeat(step{value: 14, ready: 10}, 60), step{value: 0.1, ready: 10}),
			// the stable window still sees 14 x 59 / 60 = 13.77, ten pods; the
			// panic window (5 x 14 + 0.1) / 6 = 11.68 is not a burst.
			want: Decision{Desired: 10, Stable: (14*59 + 0.1) / 60, PanicValue: (14*5 + 0.1) / 6},
		},
		{
			name:   "at most maxScaleDownRate down in one decision",
			config: func(c *Config) { c.StableWindow, c.PanicWindow = 6*time.Second, time.Second },
			steps:  append(repeat(step{value: 14, ready: 10}, 6), repeat(step{value: 0.1, ready: 10}, 6)...),
			want:   Decision{Desired: 5, Stable: 0.1, PanicValue: 0.1},
		},
		{
			name:  "idle past the grace period: zero",
			steps: append(repeat(step{value: 1, ready: 1}, 5), repeat(step{value: 0, ready: 1}, 30)...),
			want:  Decision{Desired: 0, Stable: 5.0 / 35, Idle: 30 * time.Second},
		},
		{
			name:  "idle within the grace period: one pod",
			steps: append(repeat(step{value: 1, ready: 1}, 5), repeat(step{value: 0, ready: 1}, 29)...),
			want:  Decision{Desired: 1, Stable: 5.0 / 34, Idle: 29 * time.Second},
		},
		{
			name:   "minReplicas above zero is a floor",
			config: func(c *Config) { c.Min = 2 },
			steps:  repeat(step{value: 0, ready: 2}, 40),
			want:   Decision{Desired: 2, Idle: 40 * time.Second},
		},
		{
			name:   "maxReplicas is a ceiling",
			config: func(c *Config) { c.Max = 3 },
			steps:  repeat(step{value: 50, ready: 3}, 10),
			want:   Decision{Desired: 3, Panic: true, Stable: 50, PanicValue: 50},
		},
		{
			name: "the scale-down delay keeps the most pods wanted in it",
			config: func(c *Config) {
				c.StableWindow, c.PanicWindow, c.ScaleDownDelay = 6*time.Second, time.Second, 10*time.Second
			},
			steps: append(repeat(step{value: 7, ready: 5}, 6), repeat(step{value: 1.4, ready: 5}, 8)...),
			want:  Decision{Desired: 5, Stable: 1.4, PanicValue: 1.4},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := config()
			if tt.config != nil {
				tt.config(&c)
			}
			got, _ := run(New(c, t0), t0, tt.steps)
			if diff := cmp.Diff(tt.want, got, cmp.Comparer(func(a, b float64) bool { return a-b < 1e-9 && b-a < 1e-9 })); diff != "" {
				t.Errorf("decision (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPanicEndsAfterAStableWindowWithoutBurst(t *testing.T) {
	t.Parallel()
	c := config()
	c.StableWindow, c.PanicWindow = 10*time.Second, time.Second
	a := New(c, t0)
	d, now := run(a, t0, repeat(step{value: 14, ready: 1}, 1))
	if !d.Panic || d.Desired != 10 {
		t.Fatalf("burst: %+v, want a panic at 10 pods", d)
	}
	// Light load: the panic holds its pods for a stable window, then ends.
	d, now = run(a, now, repeat(step{value: 1.4, ready: 10}, 9))
	if !d.Panic || d.Desired != 10 {
		t.Errorf("within the stable window: %+v, want the panic's 10 pods", d)
	}
	d, _ = run(a, now, repeat(step{value: 1.4, ready: 10}, 1))
	if d.Panic || d.Desired != 5 {
		t.Errorf("after it: %+v, want no panic, halved to 5 pods", d)
	}
}

func TestNoDecisionWithoutSamples(t *testing.T) {
	t.Parallel()
	if _, ok := New(config(), t0).Decide(t0.Add(time.Hour), 1); ok {
		t.Error("a decision with no sample: an autoscaler that hears nothing must not scale to zero")
	}
}

func TestTouchDelaysZero(t *testing.T) {
	t.Parallel()
	a := New(config(), t0)
	_, now := run(a, t0, repeat(step{value: 0, ready: 1}, 25))
	a.Touch(now)
	if d, _ := run(a, now, repeat(step{value: 0, ready: 1}, 10)); d.Desired != 1 {
		t.Errorf("10 s after a held request: %+v, want 1 pod", d)
	}
}
