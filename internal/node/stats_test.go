package node

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/common/expfmt"

	"github.com/skiff-dev/skiff/internal/node/cgroups"
	"github.com/skiff-dev/skiff/internal/node/podruntime"
)

// fakeReadings replays usage readings one second apart.
type fakeReadings struct {
	t0    time.Time
	round int
	cpu   []uint64 // a container's cumulative CPU nanoseconds per round
}

func (f *fakeReadings) at() time.Time { return f.t0.Add(time.Duration(f.round) * time.Second) }

func (f *fakeReadings) usage() []podruntime.PodUsage {
	return []podruntime.PodUsage{{Namespace: "default", Name: "web", UID: "u1", Time: f.at(), Containers: []podruntime.ContainerUsage{
		{Name: "app", Started: f.t0, Usage: cgroups.Usage{CPUNanos: f.cpu[f.round], WorkingSetBytes: 100 << 20, MemoryUsageBytes: 150 << 20}},
	}}}
}

func (f *fakeReadings) node() (nodeUsage, error) {
	return nodeUsage{at: f.at(), cpuNanos: 2 * f.cpu[f.round], memoryTotal: 8 << 30, memoryAvailable: 6 << 30, memoryWorking: 2 << 30}, nil
}

func TestSummaryRatesFromConsecutiveReadings(t *testing.T) {
	f := &fakeReadings{t0: time.Unix(1700000000, 0), cpu: []uint64{1e9, 1.5e9, 2.5e9}}
	s := &stats{nodeName: "vm", usage: f.usage, node: f.node, prev: map[string]cpuSample{}}
	var got [][2]any
	for f.round = 0; f.round < len(f.cpu); f.round++ {
		sum, err := s.summary()
		if err != nil {
			t.Fatal(err)
		}
		c := sum.Pods[0].Containers[0].CPU
		var cores any
		if c.UsageNanoCores != nil {
			cores = *c.UsageNanoCores
		}
		got = append(got, [2]any{*c.UsageCoreNanoSeconds, cores})
	}
	// No rate on the first reading; then half a core, then a whole one.
	want := [][2]any{{uint64(1e9), nil}, {uint64(1.5e9), uint64(5e8)}, {uint64(2.5e9), uint64(1e9)}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("container CPU (-want +got):\n%s", diff)
	}
}

func TestResourceMetricsInTheKubeletsNames(t *testing.T) {
	f := &fakeReadings{t0: time.Unix(1700000000, 0), cpu: []uint64{3e9}}
	s := &stats{nodeName: "vm", usage: f.usage, node: f.node, prev: map[string]cpuSample{}}
	fams, err := s.resourceMetrics()
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, fam := range fams {
		if _, err := expfmt.MetricFamilyToText(&b, fam); err != nil {
			t.Fatal(err)
		}
	}
	for _, want := range []string{
		`container_cpu_usage_seconds_total{container="app",namespace="default",pod="web"} 3 1700000000000`,
		`container_memory_working_set_bytes{container="app",namespace="default",pod="web"} 1.048576e+08 1700000000000`,
		`pod_cpu_usage_seconds_total{namespace="default",pod="web"} 3`,
		`node_cpu_usage_seconds_total 6 1700000000000`,
		`scrape_error 0`,
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("metrics lack %q:\n%s", want, b.String())
		}
	}
}

func TestReadNodeUsage(t *testing.T) {
	u, err := readNodeUsage()
	if err != nil {
		t.Fatal(err)
	}
	if u.cpuNanos == 0 || u.memoryTotal == 0 || u.memoryWorking == 0 || u.memoryWorking > u.memoryTotal {
		t.Errorf("implausible node usage %+v", u)
	}
}
