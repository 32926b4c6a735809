// Package cgroups puts each container of the skiff node in its own cgroup
// (v1 or v2, through runc's cgroups library) below one "skiff" parent, so
// that CPU, memory and pid limits are enforced, OOM kills are seen, and
// everything skiff started can be found and stopped after a crash.
package cgroups

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

	"github.com/opencontainers/cgroups"
	"github.com/opencontainers/cgroups/manager"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
)

// Tree is one skiff's cgroups: skiff/<instance>/<pod>/<container>, where
// the instance names the data dir (datadir.InstanceID), so that two skiffs
// on one machine never touch each other's pods.
type Tree struct{ root string }

// ForInstance returns the tree of the skiff instance id.
func ForInstance(id string) Tree { return Tree{root: "skiff/" + id} }

// Root is the tree's cgroup path below each controller's root.
func (t Tree) Root() string { return t.root }

const cpuPeriod = 100000 // µs, the kernel's and the kubelet's default

// DefaultPidsLimit caps each container's processes and threads.
const DefaultPidsLimit = 16384

// Available reports whether cgroups can be managed here, and if not, why.
func Available() (bool, string) {
	if os.Geteuid() != 0 {
		return false, "skiff is not running as root"
	}
	if _, err := os.Stat("/sys/fs/cgroup"); err != nil {
		return false, "no cgroup filesystem at /sys/fs/cgroup"
	}
	return true, ""
}

// Group is one container's cgroup. Its usage is read (for metrics) while
// the container may be ending, and runc's managers are not safe for
// concurrent use: Destroy empties the paths map that Usage reads.
type Group struct {
	mu sync.Mutex
	m  cgroups.Manager
}

// paths is a copy of the group's directory per controller; empty once
// it is destroyed.
func (g *Group) paths() map[string]string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return maps.Clone(g.m.GetPaths())
}

// Resources translates a container's requests and limits as the kubelet
// does: the CPU limit becomes a CFS quota, the CPU request a share, the
// memory limit a hard limit.
func Resources(r corev1.ResourceRequirements) *cgroups.Resources {
	res := &cgroups.Resources{SkipDevices: true, PidsLimit: ptr.To(int64(DefaultPidsLimit)), CpuShares: 2}
	if q, ok := r.Limits[corev1.ResourceCPU]; ok && !q.IsZero() {
		res.CpuQuota = q.MilliValue() * cpuPeriod / 1000
		res.CpuPeriod = cpuPeriod
	}
	cpuReq, ok := r.Requests[corev1.ResourceCPU]
	if !ok {
		cpuReq, ok = r.Limits[corev1.ResourceCPU]
	}
	if ok {
		res.CpuShares = uint64(max(cpuReq.MilliValue()*1024/1000, 2))
	}
	if q, ok := r.Limits[corev1.ResourceMemory]; ok && !q.IsZero() {
		res.Memory = q.Value()
		// No swap beyond the limit, so exceeding it means an OOM kill.
		res.MemorySwap = q.Value()
	}
	return res
}

// New creates the cgroup <tree>/<pod>/<container> with res applied.
func (t Tree) New(pod, container string, res *cgroups.Resources) (*Group, error) {
	m, err := manager.New(&cgroups.Cgroup{Parent: t.root + "/" + pod, Name: container, Resources: res})
	if err != nil {
		return nil, fmt.Errorf("cgroup for container %s: %w", container, err)
	}
	if err := m.Apply(-1); err != nil {
		return nil, fmt.Errorf("creating cgroup for container %s: %w", container, err)
	}
	if err := m.Set(res); err != nil {
		err = fmt.Errorf("setting limits of container %s: %w", container, err)
		if derr := m.Destroy(); derr != nil {
			err = errors.Join(err, fmt.Errorf("removing its cgroup: %w", derr))
		}
		return nil, err
	}
	return &Group{m: m}, nil
}

// Add moves pid into the group.
func (g *Group) Add(pid int) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.m.Apply(pid)
}

// OOMKilled reports whether the kernel killed a process of the group for
// running out of memory.
func (g *Group) OOMKilled() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	n, err := g.m.OOMKillCount()
	return err == nil && n > 0
}

// Destroy kills what is left in the group and removes it.
func (g *Group) Destroy() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if pids, err := g.m.GetAllPids(); err == nil {
		for _, pid := range pids {
			// ESRCH only, for a process that just exited; one that
			// stays makes Destroy fail.
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	return g.m.Destroy()
}

// RemovePod removes the (empty) pod-level cgroup.
func (t Tree) RemovePod(pod string) error {
	m, err := manager.New(&cgroups.Cgroup{Parent: t.root, Name: pod, Resources: &cgroups.Resources{SkipDevices: true}})
	if err != nil {
		return err
	}
	return m.Destroy()
}

// CleanAll kills every process left in the tree (by a crashed skiff) and
// removes it. It returns how many processes it killed.
func (t Tree) CleanAll() (int, error) {
	m, err := manager.New(&cgroups.Cgroup{Parent: "skiff", Name: strings.TrimPrefix(t.root, "skiff/"), Resources: &cgroups.Resources{SkipDevices: true}})
	if err != nil {
		return 0, err
	}
	// Not m.GetAllPids(): on v1 it reads only the devices hierarchy, and
	// a container whose devices directory is gone (seen after a crash)
	// was never found there. Every controller's tree is read; a missing
	// one just has no pids.
	paths := maps.Clone(m.GetPaths()) // Destroy empties the manager's map
	seen := map[int]bool{}
	for _, dir := range paths {
		pids, err := cgroups.GetAllPids(dir)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return len(seen), err
		}
		for _, pid := range pids {
			if !seen[pid] {
				seen[pid] = true
				// One that stays makes Destroy fail.
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	}
	if err := m.Destroy(); err != nil {
		return len(seen), err
	}
	// The shared "skiff" parent goes with the last instance: rmdir
	// refuses, as it should, while another skiff's tree is in it.
	for _, p := range paths {
		_ = os.Remove(filepath.Dir(p))
	}
	return len(seen), nil
}
