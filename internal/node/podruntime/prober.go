package podruntime

import (
	"context"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
)

// prober runs a running instance's startup, liveness and readiness probes
// with their delays, periods and thresholds, as the kubelet does.
type prober struct {
	pr       *podRun
	c        *corev1.Container
	inst     *instance
	statuses func(*corev1.PodStatus) *[]corev1.ContainerStatus
}

// initialReadiness is what a just-started container reports before any
// probe has answered.
func initialReadiness(c *corev1.Container) (started, ready bool) {
	started = c.StartupProbe == nil
	ready = started && c.ReadinessProbe == nil
	return started, ready
}

func (p *prober) run(ctx context.Context) {
	if sp := p.c.StartupProbe; sp != nil {
		if !p.loop(ctx, "Startup", sp, func(ok bool) bool { return !ok }) {
			return
		}
		p.set(func(cs *corev1.ContainerStatus) {
			cs.Started = ptr.To(true)
			cs.Ready = p.c.ReadinessProbe == nil
		})
	}
	var wg sync.WaitGroup
	if lp := p.c.LivenessProbe; lp != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.loop(ctx, "Liveness", lp, func(bool) bool { return true })
		}()
	}
	if rp := p.c.ReadinessProbe; rp != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.loop(ctx, "Readiness", rp, func(ok bool) bool {
				p.set(func(cs *corev1.ContainerStatus) { cs.Ready = ok })
				return true
			})
		}()
	}
	wg.Wait()
}

// loop probes until ctx ends. Each time the result crosses a threshold,
// onResult gets it and says whether to go on. For startup and liveness, the
// failure threshold kills the container.
func (p *prober) loop(ctx context.Context, kind string, probe *corev1.Probe, onResult func(ok bool) bool) bool {
	period := time.Duration(max(probe.PeriodSeconds, 1)) * time.Second
	success, failure := max(probe.SuccessThreshold, 1), max(probe.FailureThreshold, 1)
	if !sleep(ctx, time.Duration(probe.InitialDelaySeconds)*time.Second) {
		return false
	}
	var okRun, failRun int32
	last := -1 // -1 unknown, 0 failing, 1 passing
	// Until a probe first passes, failures in the first period are a
	// process still opening its port: retried every eagerRetry, not
	// counted, no event. A server that answers 50 ms after it starts is
	// ready then, not a period later.
	// Liveness keeps the kubelet's count, and exec probes their pace.
	eagerUntil := time.Now()
	if kind != "Liveness" && probe.Exec == nil {
		eagerUntil = eagerUntil.Add(period)
	}
	for {
		err := p.pr.runProbe(ctx, p.c, probe)
		if ctx.Err() != nil {
			return false
		}
		if err != nil && last == -1 && okRun == 0 && time.Now().Add(eagerRetry).Before(eagerUntil) {
			if !sleep(ctx, eagerRetry) {
				return false
			}
			continue
		}
		if err == nil {
			okRun, failRun = okRun+1, 0
			if okRun >= success && last != 1 {
				last = 1
				if !onResult(true) {
					return true
				}
			}
		} else {
			okRun, failRun = 0, failRun+1
			p.pr.rt.metrics.probeFailed(kind)
			p.pr.event(corev1.EventTypeWarning, "Unhealthy", "%s probe failed: %v", kind, err)
			if failRun >= failure {
				if kind != "Readiness" {
					p.pr.event(corev1.EventTypeNormal, "Killing", "Container %s failed %s probe, will be restarted", p.c.Name, lower(kind))
					go p.inst.terminate(p.pr.gracePeriod())
					return false
				}
				if last != 0 {
					last = 0
					onResult(false)
				}
			}
		}
		if !sleep(ctx, period) {
			return false
		}
	}
}

// eagerRetry is how soon a probe is retried before it first passes.
const eagerRetry = 50 * time.Millisecond

func (p *prober) set(change func(*corev1.ContainerStatus)) {
	p.pr.update(func(st *corev1.PodStatus) {
		cs := containerStatus(p.statuses(st), p.c)
		if cs.State.Running != nil {
			change(cs)
		}
	})
}

func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	select {
	case <-ctx.Done():
		return false
	case <-time.After(d):
		return true
	}
}

func lower(s string) string {
	if s == "" {
		return s
	}
	return string(s[0]+('a'-'A')) + s[1:]
}
