package podruntime

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// runHook runs a postStart or preStop handler against container c, giving
// up after timeout.
func (pr *podRun) runHook(c *corev1.Container, h *corev1.LifecycleHandler, timeout time.Duration) error {
	if h.Sleep != nil {
		time.Sleep(min(time.Duration(h.Sleep.Seconds)*time.Second, timeout))
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	// A hook runs like a probe with the hook's handler and no tighter limit.
	probe := &corev1.Probe{
		ProbeHandler:   corev1.ProbeHandler{Exec: h.Exec, HTTPGet: h.HTTPGet, TCPSocket: h.TCPSocket},
		TimeoutSeconds: int32(max(timeout/time.Second, 1)),
	}
	return pr.runProbe(ctx, c, probe)
}

// postStart runs the container's postStart hook; a failure kills the
// container, which then restarts under its policy.
func (pr *podRun) postStart(c *corev1.Container, inst *instance) {
	if c.Lifecycle == nil || c.Lifecycle.PostStart == nil {
		return
	}
	if err := pr.runHook(c, c.Lifecycle.PostStart, pr.gracePeriod()); err != nil {
		pr.event(corev1.EventTypeWarning, "FailedPostStartHook", "PostStartHook failed: %v", err)
		pr.event(corev1.EventTypeNormal, "Killing", "FailedPostStartHook: stopping container %s", c.Name)
		inst.terminate(pr.gracePeriod())
	}
}

// preStop runs the container's preStop hook before it is sent SIGTERM and
// returns how much of the grace period is left.
func (pr *podRun) preStop(c *corev1.Container, grace time.Duration) time.Duration {
	if c == nil || c.Lifecycle == nil || c.Lifecycle.PreStop == nil {
		return grace
	}
	start := time.Now()
	if err := pr.runHook(c, c.Lifecycle.PreStop, grace); err != nil {
		pr.event(corev1.EventTypeWarning, "FailedPreStopHook", "PreStopHook failed: %v", fmt.Sprint(err))
	}
	// The kubelet gives SIGTERM at least a moment even after a long hook.
	return max(grace-time.Since(start), 2*time.Second)
}
