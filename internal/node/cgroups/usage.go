package cgroups

import (
	"fmt"

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

// Usage reads the group's counters (cgroup v1 or v2).
func (g *Group) Usage() (Usage, error) {
	st, err := g.m.GetStats()
	if err != nil {
		return Usage{}, fmt.Errorf("reading cgroup stats: %w", err)
	}
	return usageOf(st), nil
}

func usageOf(st *cgroups.Stats) Usage {
	mem := st.MemoryStats.Usage.Usage
	// v1 names it total_inactive_file (hierarchical), v2 inactive_file.
	inactive, ok := st.MemoryStats.Stats["total_inactive_file"]
	if !ok {
		inactive = st.MemoryStats.Stats["inactive_file"]
	}
	ws := uint64(0)
	if mem > inactive {
		ws = mem - inactive
	}
	return Usage{CPUNanos: st.CpuStats.CpuUsage.TotalUsage, WorkingSetBytes: ws, MemoryUsageBytes: mem}
}
