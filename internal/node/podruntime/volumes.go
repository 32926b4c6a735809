package podruntime

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/skiff-dev/skiff/internal/node/sandbox"
)

// VolumePreparer materialises a pod's volumes on the host, below dir, and
// returns each volume's host path by name. It is called until it succeeds
// (a missing ConfigMap, say, may appear later) and again on no restart.
type VolumePreparer func(ctx context.Context, pod *corev1.Pod, dir string) (map[string]string, error)

// prepareVolumes retries the preparer every two seconds, reporting
// FailedMount events, until it succeeds or the pod is stopped.
func (pr *podRun) prepareVolumes(pod *corev1.Pod) bool {
	if len(pod.Spec.Volumes) == 0 {
		return true
	}
	for attempt := 0; ; attempt++ {
		var paths map[string]string
		var err error
		if pr.rt.volumes == nil {
			err = fmt.Errorf("this node cannot prepare volumes")
		} else {
			paths, err = pr.rt.volumes(pr.ctx, pod, filepath.Join(pr.dir, "volumes"))
		}
		if err == nil {
			err = applyFSGroup(pod, paths)
		}
		if err == nil {
			pr.mu.Lock()
			pr.volumePaths = paths
			pr.mu.Unlock()
			return true
		}
		if attempt%15 == 0 { // every 30s, as the kubelet repeats FailedMount
			pr.event(corev1.EventTypeWarning, "FailedMount", "%v", err)
		}
		select {
		case <-pr.ctx.Done():
			return false
		case <-time.After(2 * time.Second):
		}
	}
}

// refreshVolumes rewrites the pod's ConfigMap, Secret, downward API and
// projected volumes every period, as the kubelet's volume manager does, so
// that updated objects, changed labels and rotated service-account tokens
// reach running containers (files are replaced atomically; subPath mounts,
// as upstream, are not updated).
func (pr *podRun) refreshVolumes(period time.Duration) {
	if !hasProjectedVolumes(pr.snapshot()) || pr.rt.volumes == nil {
		return
	}
	t := time.NewTicker(period)
	defer t.Stop()
	failing := false
	for {
		select {
		case <-pr.ctx.Done():
			return
		case <-pr.finished: // nothing runs that could read them
			return
		case <-t.C:
		}
		pod := pr.snapshot()
		paths, err := pr.rt.volumes(pr.ctx, pod, filepath.Join(pr.dir, "volumes"))
		if err == nil {
			err = applyFSGroup(pod, paths)
		}
		if err != nil && !failing && pr.ctx.Err() == nil {
			pr.event(corev1.EventTypeWarning, "FailedMount", "refreshing volumes: %v", err)
		}
		failing = err != nil
	}
}

func hasProjectedVolumes(pod *corev1.Pod) bool {
	for _, v := range pod.Spec.Volumes {
		if v.ConfigMap != nil || v.Secret != nil || v.DownwardAPI != nil || v.Projected != nil {
			return true
		}
	}
	return false
}

// mounts lists the sandbox mounts of container c.
func (pr *podRun) mounts(c *corev1.Container) ([]sandbox.Mount, error) {
	pr.mu.Lock()
	paths := pr.volumePaths
	pr.mu.Unlock()
	var out []sandbox.Mount
	for _, vm := range c.VolumeMounts {
		src, ok := paths[vm.Name]
		if !ok {
			return nil, fmt.Errorf("volume %q mounted by container %q is not defined in the pod", vm.Name, c.Name)
		}
		if vm.SubPath != "" {
			if filepath.IsAbs(vm.SubPath) || strings.Contains(vm.SubPath, "..") {
				return nil, fmt.Errorf("subPath %q of volume %q must be a relative path without '..'", vm.SubPath, vm.Name)
			}
			src = filepath.Join(src, vm.SubPath)
		}
		out = append(out, sandbox.Mount{Source: src, Target: vm.MountPath, ReadOnly: vm.ReadOnly})
	}
	return out, nil
}
