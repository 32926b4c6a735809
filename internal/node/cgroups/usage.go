package cgroups

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/opencontainers/cgroups"
)

// Usage is what a container has used, as the kubelet's summary API counts
// it.
type Usage struct {
	// CPUNanos is the CPU time used since the group was made.
	CPUNanos uint64
	// WorkingSetBytes is memory in use minus inactive file pages: what
	// the kernel cannot simply drop, and what memory limits act on (the
	// kubelet's and metrics-server's measure).
	WorkingSetBytes uint64
	// MemoryUsageBytes is all memory charged to the group, page cache
	// included.
	MemoryUsageBytes uint64
}

// Usage reads the group's CPU and memory counters (cgroup v1 or v2): the
// three files that hold them, not runc's full GetStats, which reads every
// controller's (84 ms for 100 containers on v1, against a few).
func (g *Group) Usage() (Usage, error) {
	paths := g.paths()
	if len(paths) == 0 {
		return Usage{}, errors.New("reading cgroup usage: the cgroup is destroyed")
	}
	// v1 hosts may also list the unified hierarchy under ""; only a
	// v2-only host keeps its counters there.
	if cgroups.IsCgroup2UnifiedMode() {
		return usageV2(paths[""])
	}
	return usageV1(paths["cpuacct"], paths["memory"])
}

// usageV2 reads a unified (v2) cgroup directory.
func usageV2(dir string) (Usage, error) {
	var u Usage
	usec, err := statField(filepath.Join(dir, "cpu.stat"), "usage_usec")
	if err != nil {
		return u, fmt.Errorf("reading cgroup usage: %w", err)
	}
	u.CPUNanos = usec * 1000
	if u.MemoryUsageBytes, err = readUint(filepath.Join(dir, "memory.current")); err != nil {
		return u, fmt.Errorf("reading cgroup usage: %w", err)
	}
	inactive, err := statField(filepath.Join(dir, "memory.stat"), "inactive_file")
	if err != nil {
		return u, fmt.Errorf("reading cgroup usage: %w", err)
	}
	u.WorkingSetBytes = workingSet(u.MemoryUsageBytes, inactive)
	return u, nil
}

// usageV1 reads the cpuacct and memory controllers' directories.
func usageV1(cpuacct, memory string) (Usage, error) {
	var u Usage
	var err error
	if u.CPUNanos, err = readUint(filepath.Join(cpuacct, "cpuacct.usage")); err != nil {
		return u, fmt.Errorf("reading cgroup usage: %w", err)
	}
	if u.MemoryUsageBytes, err = readUint(filepath.Join(memory, "memory.usage_in_bytes")); err != nil {
		return u, fmt.Errorf("reading cgroup usage: %w", err)
	}
	inactive, err := statField(filepath.Join(memory, "memory.stat"), "total_inactive_file")
	if err != nil {
		return u, fmt.Errorf("reading cgroup usage: %w", err)
	}
	u.WorkingSetBytes = workingSet(u.MemoryUsageBytes, inactive)
	return u, nil
}

// usageOf reads the same numbers from runc's full stats.
func usageOf(st *cgroups.Stats) Usage {
	mem := st.MemoryStats.Usage.Usage
	// v1 names it total_inactive_file (hierarchical), v2 inactive_file.
	inactive, ok := st.MemoryStats.Stats["total_inactive_file"]
	if !ok {
		inactive = st.MemoryStats.Stats["inactive_file"]
	}
	return Usage{CPUNanos: st.CpuStats.CpuUsage.TotalUsage, WorkingSetBytes: workingSet(mem, inactive), MemoryUsageBytes: mem}
}

func workingSet(usage, inactive uint64) uint64 {
	if usage > inactive {
		return usage - inactive
	}
	return 0
}

func readUint(path string) (uint64, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return strconv.ParseUint(string(bytes.TrimSpace(data)), 10, 64)
}

// statField reads "key value" from a flat-keyed cgroup file.
func statField(path, key string) (uint64, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), " "); ok && k == key {
			return strconv.ParseUint(v, 10, 64)
		}
	}
	return 0, fmt.Errorf("%s has no %s", path, key)
}
