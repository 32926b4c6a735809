package podruntime

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"

	corev1 "k8s.io/api/core/v1"
)

// Logs writes a container's log to w: the current instance, or the
// previous one (after a restart) with previous.
func (r *Runtime) Logs(ctx context.Context, namespace, pod, container string, opts LogOptions, previous bool, w io.Writer) error {
	pr := r.lookup(namespace, pod)
	if pr == nil {
		return fmt.Errorf("pod %s/%s is not running on this node", namespace, pod)
	}
	p := pr.snapshot()
	cs := find(append(append([]corev1.ContainerStatus{}, p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...), container)
	if cs == nil {
		return fmt.Errorf("container %q is not valid for pod %s/%s", container, namespace, pod)
	}
	n := int(cs.RestartCount)
	if previous {
		if n == 0 {
			return fmt.Errorf("previous terminated container %q in pod %q not found", container, pod)
		}
		n--
	}
	path := filepath.Join(pr.dir, container, strconv.Itoa(n)+".log")
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("container %q in pod %q has not started yet (%s)", container, pod, stateReason(cs))
	}
	// Following ends when this instance ends.
	var done <-chan struct{}
	if opts.Follow && !previous {
		done = pr.instanceDone(container, n)
	}
	return readLog(ctx, path, opts, w, done)
}

func stateReason(cs *corev1.ContainerStatus) string {
	if cs.State.Waiting != nil {
		return cs.State.Waiting.Reason
	}
	return "not started"
}

// instanceDone returns a channel closed when instance n of container has
// ended (closed at once if it already has).
func (pr *podRun) instanceDone(container string, n int) <-chan struct{} {
	pr.mu.Lock()
	inst := pr.instances[container]
	pr.mu.Unlock()
	if inst != nil && filepath.Base(inst.logPath) == strconv.Itoa(n)+".log" {
		return inst.done
	}
	closed := make(chan struct{})
	close(closed)
	return closed
}
