// Package kpa is Knative's Pod Autoscaler algorithm without Knative: from
// a revision's observed concurrency (or requests a second) it decides how
// many pods the revision needs, with a stable window, a panic window for
// bursts, limits on how fast it scales, a scale-down delay, and scale to
// zero after a grace period without requests. It is pure: the caller
// brings the samples and the clock, so it is tested without a cluster.
package kpa

import (
	"math"
	"time"
)

// Config is one revision's autoscaling, as Knative names it.
type Config struct {
	// Target is the value of the metric one pod should carry, with the
	// target utilization already applied (scaleTarget x 70%).
	Target float64
	// StableWindow and PanicWindow are the averaging windows.
	StableWindow, PanicWindow time.Duration
	// PanicThreshold is the ratio (2 = 200%) of pods the panic window
	// wants to the ready ones that starts a panic.
	PanicThreshold float64
	// MaxScaleUpRate and MaxScaleDownRate bound one decision's change,
	// as factors of the ready pods.
	MaxScaleUpRate, MaxScaleDownRate float64
	// ScaleDownDelay keeps the most pods wanted over it.
	ScaleDownDelay time.Duration
	// ScaleToZeroGrace is the time without requests before zero, when
	// Min is 0.
	ScaleToZeroGrace time.Duration
	// Min and Max bound the pods.
	Min, Max int32
}

// Sample is one interval's observation of the whole revision.
type Sample struct {
	Time time.Time
	// Value is the metric over the interval: average requests in flight
	// (held ones included), or requests a second, summed over pods.
	Value float64
	// Active says a request arrived or was in flight in the interval.
	Active bool
}

// Decision is what Decide found.
type Decision struct {
	// Desired is the pods the revision should have.
	Desired int32
	// Panic says the panic window decided.
	Panic bool
	// Stable and PanicValue are the window averages it saw.
	Stable, PanicValue float64
	// Idle is the time since the last request.
	Idle time.Duration
}

// Autoscaler is one revision's state: its recent samples, and whether it
// panics.
type Autoscaler struct {
	cfg        Config
	samples    []Sample // oldest first, within the longest window
	lastActive time.Time
	panicSince time.Time // zero when not panicking
	panicPods  int32
	recent     []wanted // decisions within the scale-down delay
}

type wanted struct {
	at time.Time
	n  int32
}

// New starts an autoscaler at now: a revision counts as active then, so
// a new one is not scaled to zero before its grace period.
func New(cfg Config, now time.Time) *Autoscaler {
	return &Autoscaler{cfg: cfg, lastActive: now}
}

// SetConfig changes the configuration and keeps the history.
func (a *Autoscaler) SetConfig(cfg Config) { a.cfg = cfg }

// Config is the configuration in use.
func (a *Autoscaler) Config() Config { return a.cfg }

// Record adds a sample, and forgets those older than the windows.
func (a *Autoscaler) Record(s Sample) {
	if s.Active && s.Time.After(a.lastActive) {
		a.lastActive = s.Time
	}
	a.samples = append(a.samples, s)
	keep := max(a.cfg.StableWindow, a.cfg.PanicWindow)
	i := 0
	for i < len(a.samples) && s.Time.Sub(a.samples[i].Time) >= keep {
		i++
	}
	a.samples = a.samples[i:]
}

// Touch marks the revision active at t (a request held for it).
func (a *Autoscaler) Touch(t time.Time) {
	if t.After(a.lastActive) {
		a.lastActive = t
	}
}

// Decide is the pods wanted at now, with ready pods ready. ok is false
// before the first sample.
func (a *Autoscaler) Decide(now time.Time, ready int32) (d Decision, ok bool) {
	if len(a.samples) == 0 {
		return Decision{}, false
	}
	c := a.cfg
	target := math.Max(c.Target, 0.01)
	d.Stable, d.PanicValue = a.average(now, c.StableWindow), a.average(now, c.PanicWindow)
	d.Idle = now.Sub(a.lastActive)
	readyPods := math.Max(float64(ready), 1)
	maxUp := int32(math.Ceil(math.Max(c.MaxScaleUpRate, 1) * readyPods))
	maxDown := int32(math.Floor(readyPods / math.Max(c.MaxScaleDownRate, 1)))
	stablePods := clamp(int32(math.Ceil(d.Stable/target)), maxDown, maxUp)
	panicPods := clamp(int32(math.Ceil(d.PanicValue/target)), maxDown, maxUp)
	over := d.PanicValue/target/readyPods >= c.PanicThreshold
	switch {
	case over:
		if a.panicSince.IsZero() {
			a.panicPods = int32(readyPods)
		}
		a.panicSince = now
	case !a.panicSince.IsZero() && now.Sub(a.panicSince) >= c.StableWindow:
		a.panicSince, a.panicPods = time.Time{}, 0
	}
	desired := stablePods
	if !a.panicSince.IsZero() {
		// A panic never scales down: the most pods it asked for stay.
		a.panicPods = max(a.panicPods, panicPods)
		desired, d.Panic = a.panicPods, true
	}
	desired = a.delayed(now, desired)
	switch {
	case c.Min == 0 && d.Idle >= c.ScaleToZeroGrace:
		desired = 0
	case desired < 1:
		// Zero only after the grace period without requests.
		desired = 1
	}
	d.Desired = clamp(desired, c.Min, max(c.Max, c.Min))
	return d, true
}

// average is the mean sample value within window before now.
func (a *Autoscaler) average(now time.Time, window time.Duration) float64 {
	sum, n := 0.0, 0
	for i := len(a.samples) - 1; i >= 0 && now.Sub(a.samples[i].Time) < window; i-- {
		sum += a.samples[i].Value
		n++
	}
	if n == 0 {
		return 0
	}
	return sum / float64(n)
}

// delayed is the most pods wanted within the scale-down delay.
func (a *Autoscaler) delayed(now time.Time, n int32) int32 {
	if a.cfg.ScaleDownDelay <= 0 {
		a.recent = nil
		return n
	}
	a.recent = append(a.recent, wanted{at: now, n: n})
	i := 0
	for i < len(a.recent) && now.Sub(a.recent[i].at) > a.cfg.ScaleDownDelay {
		i++
	}
	a.recent = a.recent[i:]
	for _, w := range a.recent {
		n = max(n, w.n)
	}
	return n
}

func clamp(n, lo, hi int32) int32 { return min(max(n, lo), hi) }
