package podruntime

import (
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// derivePodStatus sets the phase and conditions from the container
// statuses, following the kubelet's rules.
func derivePodStatus(pod *corev1.Pod, now time.Time) {
	st := &pod.Status
	initDone := true
	initFailed := false
	sidecarsReady, sidecarRunning := true, false
	for _, c := range pod.Spec.InitContainers {
		cs := find(st.InitContainerStatuses, c.Name)
		if isSidecar(&c) {
			// A sidecar counts as initialised once it has started, and
			// stays so through its restarts and its final stop.
			if cs == nil || !(cs.Started != nil && *cs.Started || cs.RestartCount > 0 || cs.State.Terminated != nil) {
				initDone = false
			}
			sidecarsReady = sidecarsReady && cs != nil && cs.Ready
			sidecarRunning = sidecarRunning || cs != nil && cs.State.Running != nil
			continue
		}
		if cs == nil || cs.State.Terminated == nil || cs.State.Terminated.ExitCode != 0 {
			initDone = false
			if cs != nil && cs.State.Terminated != nil && pod.Spec.RestartPolicy == corev1.RestartPolicyNever {
				initFailed = true
			}
		}
	}
	running, waitingCount, succeeded, failed, ready := 0, 0, 0, 0, 0
	for _, c := range pod.Spec.Containers {
		cs := find(st.ContainerStatuses, c.Name)
		switch {
		case cs == nil || cs.State.Waiting != nil && cs.LastTerminationState.Terminated == nil:
			waitingCount++
		case cs.State.Running != nil:
			running++
		case cs.State.Waiting != nil: // restarting after a failure
			running++
		case cs.State.Terminated != nil && cs.State.Terminated.ExitCode == 0:
			succeeded++
		default:
			failed++
		}
		if cs != nil && cs.Ready {
			ready++
		}
	}
	total := len(pod.Spec.Containers)
	switch {
	case initFailed:
		st.Phase = corev1.PodFailed
	case !initDone:
		st.Phase = corev1.PodPending
	case waitingCount > 0 && running == 0 && succeeded+failed == 0:
		st.Phase = corev1.PodPending
	case running > 0 || waitingCount > 0 || sidecarRunning:
		// The pod ends once its sidecars have stopped too.
		st.Phase = corev1.PodRunning
	case failed > 0:
		st.Phase = corev1.PodFailed
	default:
		st.Phase = corev1.PodSucceeded
	}
	allReady := initDone && total > 0 && ready == total && sidecarsReady
	setCondition(st, corev1.PodScheduled, true, "", now)
	setCondition(st, corev1.PodInitialized, initDone, reasonIf(!initDone, "ContainersNotInitialized"), now)
	setCondition(st, corev1.ContainersReady, allReady, reasonIf(!allReady, "ContainersNotReady"), now)
	setCondition(st, corev1.PodReady, allReady, reasonIf(!allReady, "ContainersNotReady"), now)
	if st.Phase == corev1.PodSucceeded || st.Phase == corev1.PodFailed {
		reason := "PodCompleted"
		setCondition(st, corev1.ContainersReady, false, reason, now)
		setCondition(st, corev1.PodReady, false, reason, now)
	}
}

func reasonIf(cond bool, reason string) string {
	if cond {
		return reason
	}
	return ""
}

func find(list []corev1.ContainerStatus, name string) *corev1.ContainerStatus {
	for i := range list {
		if list[i].Name == name {
			return &list[i]
		}
	}
	return nil
}

// setCondition updates a condition, moving its transition time only when
// its status changes.
func setCondition(st *corev1.PodStatus, t corev1.PodConditionType, ok bool, reason string, now time.Time) {
	status := corev1.ConditionFalse
	if ok {
		status = corev1.ConditionTrue
	}
	for i := range st.Conditions {
		c := &st.Conditions[i]
		if c.Type != t {
			continue
		}
		if c.Status != status {
			c.LastTransitionTime = metav1.NewTime(now)
		}
		c.Status, c.Reason = status, reason
		return
	}
	st.Conditions = append(st.Conditions, corev1.PodCondition{Type: t, Status: status, Reason: reason, LastTransitionTime: metav1.NewTime(now)})
}
