package podruntime

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	securejoin "github.com/cyphar/filepath-securejoin"
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
			// Also where a controller reads pods, not only events.
			msg := "FailedMount: " + err.Error()
			pr.update(func(st *corev1.PodStatus) {
				for i := range st.ContainerStatuses {
					if w := st.ContainerStatuses[i].State.Waiting; w != nil && w.Reason == "ContainerCreating" {
						w.Message = msg
					}
				}
			})
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
func (pr *podRun) mounts(pod *corev1.Pod, c *corev1.Container) ([]sandbox.Mount, error) {
	pr.mu.Lock()
	paths := pr.volumePaths
	pr.mu.Unlock()
	var out []sandbox.Mount
	for _, vm := range c.VolumeMounts {
		src, ok := paths[vm.Name]
		if !ok {
			return nil, fmt.Errorf("volume %q mounted by container %q is not defined in the pod", vm.Name, c.Name)
		}
		readOnly := vm.ReadOnly || claimReadOnly(pod, vm.Name)
		if vm.SubPath != "" {
			var err error
			if src, err = subPath(src, vm, readOnly); err != nil {
				return nil, err
			}
		}
		out = append(out, sandbox.Mount{Source: src, Target: vm.MountPath, ReadOnly: readOnly})
	}
	return out, nil
}

// subPath is vm's subPath inside the volume at src, resolved there (a
// symlink in the volume cannot lead out of it) and, as the kubelet does,
// created as a folder when missing on a writable volume.
func subPath(src string, vm corev1.VolumeMount, readOnly bool) (string, error) {
	if filepath.IsAbs(vm.SubPath) || strings.Contains(vm.SubPath, "..") {
		return "", fmt.Errorf("subPath %q of volume %q must be a relative path without '..'", vm.SubPath, vm.Name)
	}
	path, err := securejoin.SecureJoin(src, vm.SubPath)
	if err != nil {
		return "", fmt.Errorf("subPath %q of volume %q: %w", vm.SubPath, vm.Name, err)
	}
	if _, err := os.Lstat(path); !os.IsNotExist(err) || readOnly {
		return path, nil
	}
	// With the volume's own mode, as the kubelet does, whatever the umask.
	mode := os.FileMode(0o755)
	if fi, err := os.Stat(src); err == nil {
		mode = fi.Mode().Perm()
	}
	if err := os.MkdirAll(path, mode); err != nil {
		return "", fmt.Errorf("creating subPath %q of volume %q: %w", vm.SubPath, vm.Name, err)
	}
	if err := os.Chmod(path, mode); err != nil {
		return "", fmt.Errorf("creating subPath %q of volume %q: %w", vm.SubPath, vm.Name, err)
	}
	return path, nil
}

// claimReadOnly reports a persistentVolumeClaim volume marked readOnly,
// which makes every mount of it read-only.
func claimReadOnly(pod *corev1.Pod, volume string) bool {
	for _, v := range pod.Spec.Volumes {
		if v.Name == volume && v.PersistentVolumeClaim != nil {
			return v.PersistentVolumeClaim.ReadOnly
		}
	}
	return false
}
