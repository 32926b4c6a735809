// Package recommend suggests a container's resource requests from its
// observed usage, with the idea of the Vertical Pod Autoscaler's
// recommender, kept small: the CPU request is a high percentile of the
// CPU rate samples, the memory request a high percentile of the working
// set, each with a safety margin and a floor.
package recommend

import (
	"fmt"
	"slices"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
)

// Sample is one reading of a container: CPU rate since the previous
// reading, and its working set.
type Sample struct {
	Time            time.Time `json:"time"`
	CPUMillicores   int64     `json:"cpuMillicores"`
	WorkingSetBytes int64     `json:"workingSetBytes"`
}

// Method is how samples become requests (VPA's recommender defaults).
type Method struct {
	CPUPercentile    float64 // 0.90
	MemoryPercentile float64 // 0.90 (VPA takes the 90th percentile of peaks)
	Margin           float64 // 0.15: added on top
	MinCPUMillicores int64   // 25m
	MinMemoryBytes   int64   // 250Mi
	MinSamples       int     // fewer: no recommendation
}

// Default is the VPA recommender's method.
var Default = Method{CPUPercentile: 0.9, MemoryPercentile: 0.9, Margin: 0.15, MinCPUMillicores: 25, MinMemoryBytes: 250 << 20, MinSamples: 4}

// Recommendation for one container.
type Recommendation struct {
	CPU    resource.Quantity `json:"cpu"`
	Memory resource.Quantity `json:"memory"`
	// CPUAtFloor and MemoryAtFloor say the floor, not the usage, set the
	// number (the usage plus margin was below it).
	CPUAtFloor    bool      `json:"cpuAtFloor,omitempty"`
	MemoryAtFloor bool      `json:"memoryAtFloor,omitempty"`
	Observed      Usage     `json:"observed"`
	Samples       int       `json:"samples"`
	From          time.Time `json:"from"`
	To            time.Time `json:"to"`
}

// Usage is what the samples saw, for people to weigh the advice against.
type Usage struct {
	CPUP50    resource.Quantity `json:"cpuP50"`
	CPUP90    resource.Quantity `json:"cpuP90"`
	MemoryP50 resource.Quantity `json:"memoryP50"`
	MemoryP90 resource.Quantity `json:"memoryP90"`
}

// ErrTooFewSamples means the window holds too little to go on.
var ErrTooFewSamples = fmt.Errorf("too few samples")

// For recommends requests from samples.
func (m Method) For(samples []Sample) (Recommendation, error) {
	if len(samples) < m.MinSamples {
		return Recommendation{}, fmt.Errorf("%w: %d, need %d (a sample every 15 s while the pods run)", ErrTooFewSamples, len(samples), m.MinSamples)
	}
	cpu := make([]int64, len(samples))
	mem := make([]int64, len(samples))
	from, to := samples[0].Time, samples[0].Time
	for i, s := range samples {
		cpu[i], mem[i] = s.CPUMillicores, s.WorkingSetBytes
		from, to = minTime(from, s.Time), maxTime(to, s.Time)
	}
	c := withMargin(percentile(cpu, m.CPUPercentile), m.Margin)
	b := withMargin(percentile(mem, m.MemoryPercentile), m.Margin)
	return Recommendation{
		CPU:        millicores(max(c, m.MinCPUMillicores)),
		Memory:     mebibytes(max(b, m.MinMemoryBytes)),
		CPUAtFloor: c < m.MinCPUMillicores, MemoryAtFloor: b < m.MinMemoryBytes,
		Observed: Usage{
			CPUP50: millicores(percentile(cpu, 0.5)), CPUP90: millicores(percentile(cpu, 0.9)),
			MemoryP50: mebibytes(percentile(mem, 0.5)), MemoryP90: mebibytes(percentile(mem, 0.9)),
		},
		Samples: len(samples), From: from, To: to,
	}, nil
}

func millicores(m int64) resource.Quantity { return *resource.NewMilliQuantity(m, resource.DecimalSI) }

func mebibytes(b int64) resource.Quantity {
	return *resource.NewQuantity(roundMi(b), resource.BinarySI)
}

// percentile is the nearest-rank percentile of v (sorted in place).
func percentile(v []int64, p float64) int64 {
	slices.Sort(v)
	i := int(p*float64(len(v))+0.999999) - 1
	return v[min(max(i, 0), len(v)-1)]
}

func withMargin(v int64, margin float64) int64 { return int64(float64(v) * (1 + margin)) }

// roundMi rounds bytes up to whole MiB, as people write requests.
func roundMi(b int64) int64 { return (b + 1<<20 - 1) &^ (1<<20 - 1) }

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
