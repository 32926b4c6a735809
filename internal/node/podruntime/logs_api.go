package podruntime

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"

	corev1 "k8s.io/api/core/v1"
)

// ErrNoSuchPod is the error of a pod that is not on this node.
var ErrNoSuchPod = errors.New("not running on this node")

// Logs writes a container's log to w: the current instance, or the
// previous one (after a restart) with previous.
func (r *Runtime) Logs(ctx context.Context, namespace, pod, container string, opts LogOptions, previous bool, w io.Writer) error {
	pr, path, n, err := r.logFile(namespace, pod, container, previous)
	if err != nil {
		return err
	}
	// Following ends when this instance ends.
	var done <-chan struct{}
	if opts.Follow && !previous {
		done = pr.instanceDone(container, n)
	}
	return readLog(ctx, path, opts, w, done)
}

// CheckLogs says why a container has no log to read yet, if it has none:
// asked before a log stream starts, so the answer can be an HTTP status
// with the reason, as the kubelet's is.
func (r *Runtime) CheckLogs(namespace, pod, container string, previous bool) error {
	_, _, _, err := r.logFile(namespace, pod, container, previous)
	return err
}

// logFile finds the log of a container's current (or previous) instance.
func (r *Runtime) logFile(namespace, pod, container string, previous bool) (*podRun, string, int, error) {
	pr := r.lookup(namespace, pod)
	if pr == nil {
		return nil, "", 0, fmt.Errorf("pod %s/%s is %w", namespace, pod, ErrNoSuchPod)
	}
	p := pr.snapshot()
	cs := find(append(append([]corev1.ContainerStatus{}, p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...), container)
	if cs == nil {
		return nil, "", 0, fmt.Errorf("container %q is not valid for pod %s/%s", container, namespace, pod)
	}
	n := int(cs.RestartCount)
	if previous {
		if n == 0 {
			return nil, "", 0, fmt.Errorf("previous terminated container %q in pod %q not found", container, pod)
		}
		n--
	}
	path := filepath.Join(pr.dir, container, strconv.Itoa(n)+".log")
	if _, err := os.Stat(path); err != nil {
		return nil, "", 0, fmt.Errorf("container %q in pod %q has not started yet (%s)", container, pod, stateReason(cs))
	}
	return pr, path, n, nil
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
