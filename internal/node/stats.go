package node

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	dto "github.com/prometheus/client_model/go"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	statsv1alpha1 "k8s.io/kubelet/pkg/apis/stats/v1alpha1"

	"github.com/skiff-dev/skiff/internal/node/podruntime"
)

// stats serves the kubelet's summary API (/stats/summary) and resource
// metrics (/metrics/resource, what metrics-server scrapes) from the
// containers' cgroup counters and the node's /proc.
type stats struct {
	nodeName string
	usage    func() []podruntime.PodUsage
	node     func() (nodeUsage, error)

	mu   sync.Mutex
	prev map[string]cpuSample // last CPU reading per container ("" = node)
}

type cpuSample struct {
	at    time.Time
	nanos uint64
}

// nodeUsage is the whole machine's.
type nodeUsage struct {
	at                         time.Time
	cpuNanos                   uint64
	memoryTotal, memoryWorking uint64
	memoryAvailable            uint64
}

func newStats(nodeName string, usage func() []podruntime.PodUsage) *stats {
	return &stats{nodeName: nodeName, usage: usage, node: readNodeUsage, prev: map[string]cpuSample{}}
}

// rate is the CPU use since the last reading of key, in nanocores (nil on
// the first reading, as the kubelet's).
func (s *stats) rate(key string, at time.Time, nanos uint64) *uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.prev[key]
	s.prev[key] = cpuSample{at, nanos}
	if !ok || !at.After(p.at) || nanos < p.nanos {
		return nil
	}
	r := uint64(float64(nanos-p.nanos) / at.Sub(p.at).Seconds())
	return &r
}

// forget drops readings of containers not seen in this round.
func (s *stats) forget(seen map[string]bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k := range s.prev {
		if k != "" && !seen[k] {
			delete(s.prev, k)
		}
	}
}

func (s *stats) summary() (*statsv1alpha1.Summary, error) {
	n, err := s.node()
	if err != nil {
		return nil, err
	}
	at := metav1.NewTime(n.at)
	out := &statsv1alpha1.Summary{Node: statsv1alpha1.NodeStats{
		NodeName: s.nodeName,
		CPU:      &statsv1alpha1.CPUStats{Time: at, UsageCoreNanoSeconds: &n.cpuNanos, UsageNanoCores: s.rate("", n.at, n.cpuNanos)},
		Memory: &statsv1alpha1.MemoryStats{Time: at, WorkingSetBytes: &n.memoryWorking, AvailableBytes: &n.memoryAvailable,
			UsageBytes: ptrTo(n.memoryTotal - n.memoryAvailable)},
	}}
	seen := map[string]bool{}
	for _, pu := range s.usage() {
		pt := metav1.NewTime(pu.Time)
		ps := statsv1alpha1.PodStats{PodRef: statsv1alpha1.PodReference{Name: pu.Name, Namespace: pu.Namespace, UID: string(pu.UID)}}
		var cpu, ws, mem uint64
		var cores *uint64
		for _, c := range pu.Containers {
			key := string(pu.UID) + "/" + c.Name
			seen[key] = true
			r := s.rate(key, pu.Time, c.CPUNanos)
			if r != nil {
				cores = ptrTo(deref(cores) + *r)
			}
			ps.Containers = append(ps.Containers, statsv1alpha1.ContainerStats{
				Name: c.Name, StartTime: metav1.NewTime(c.Started),
				CPU:    &statsv1alpha1.CPUStats{Time: pt, UsageCoreNanoSeconds: ptrTo(c.CPUNanos), UsageNanoCores: r},
				Memory: &statsv1alpha1.MemoryStats{Time: pt, WorkingSetBytes: ptrTo(c.WorkingSetBytes), UsageBytes: ptrTo(c.MemoryUsageBytes)},
			})
			cpu, ws, mem = cpu+c.CPUNanos, ws+c.WorkingSetBytes, mem+c.MemoryUsageBytes
			if ps.StartTime.IsZero() || c.Started.Before(ps.StartTime.Time) {
				ps.StartTime = metav1.NewTime(c.Started)
			}
		}
		ps.CPU = &statsv1alpha1.CPUStats{Time: pt, UsageCoreNanoSeconds: &cpu, UsageNanoCores: cores}
		ps.Memory = &statsv1alpha1.MemoryStats{Time: pt, WorkingSetBytes: &ws, UsageBytes: &mem}
		out.Pods = append(out.Pods, ps)
	}
	s.forget(seen)
	return out, nil
}

// resourceMetrics is the kubelet's /metrics/resource, in its metric names.
func (s *stats) resourceMetrics() ([]*dto.MetricFamily, error) {
	n, err := s.node()
	if err != nil {
		return nil, err
	}
	ms := n.at.UnixMilli()
	counter := func(v float64, labels ...string) *dto.Metric {
		return &dto.Metric{Label: pairs(labels), Counter: &dto.Counter{Value: &v}, TimestampMs: &ms}
	}
	gauge := func(v float64, labels ...string) *dto.Metric {
		return &dto.Metric{Label: pairs(labels), Gauge: &dto.Gauge{Value: &v}, TimestampMs: &ms}
	}
	fams := map[string]*dto.MetricFamily{}
	var order []string
	add := func(name, help string, t dto.MetricType, m *dto.Metric) {
		f, ok := fams[name]
		if !ok {
			f = &dto.MetricFamily{Name: ptrTo(name), Help: ptrTo(help), Type: t.Enum()}
			fams[name] = f
			order = append(order, name)
		}
		f.Metric = append(f.Metric, m)
	}
	add("node_cpu_usage_seconds_total", "Cumulative cpu time consumed by the node in core-seconds", dto.MetricType_COUNTER, counter(float64(n.cpuNanos)/1e9))
	add("node_memory_working_set_bytes", "Current working set of the node in bytes", dto.MetricType_GAUGE, gauge(float64(n.memoryWorking)))
	for _, pu := range s.usage() {
		var cpu, ws uint64
		for _, c := range pu.Containers {
			l := []string{"container", c.Name, "namespace", pu.Namespace, "pod", pu.Name}
			add("container_cpu_usage_seconds_total", "Cumulative cpu time consumed by the container in core-seconds", dto.MetricType_COUNTER, counter(float64(c.CPUNanos)/1e9, l...))
			add("container_memory_working_set_bytes", "Current working set of the container in bytes", dto.MetricType_GAUGE, gauge(float64(c.WorkingSetBytes), l...))
			add("container_start_time_seconds", "Start time of the container since unix epoch in seconds", dto.MetricType_GAUGE, gauge(float64(c.Started.UnixNano())/1e9, l...))
			cpu, ws = cpu+c.CPUNanos, ws+c.WorkingSetBytes
		}
		l := []string{"namespace", pu.Namespace, "pod", pu.Name}
		add("pod_cpu_usage_seconds_total", "Cumulative cpu time consumed by the pod in core-seconds", dto.MetricType_COUNTER, counter(float64(cpu)/1e9, l...))
		add("pod_memory_working_set_bytes", "Current working set of the pod in bytes", dto.MetricType_GAUGE, gauge(float64(ws), l...))
	}
	add("scrape_error", "1 if there was an error while getting container metrics, 0 otherwise", dto.MetricType_GAUGE, gauge(0))
	out := make([]*dto.MetricFamily, 0, len(order))
	for _, name := range order {
		out = append(out, fams[name])
	}
	return out, nil
}

func pairs(kv []string) []*dto.LabelPair {
	var out []*dto.LabelPair
	for i := 0; i+1 < len(kv); i += 2 {
		out = append(out, &dto.LabelPair{Name: ptrTo(kv[i]), Value: ptrTo(kv[i+1])})
	}
	return out
}

// readNodeUsage reads the machine's CPU time (/proc/stat: all but idle and
// iowait) and memory (/proc/meminfo: working set = total - available).
func readNodeUsage() (nodeUsage, error) {
	u := nodeUsage{at: time.Now()}
	f, err := os.Open("/proc/stat")
	if err != nil {
		return u, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	if !sc.Scan() {
		return u, fmt.Errorf("reading /proc/stat: %w", sc.Err())
	}
	fields := strings.Fields(sc.Text())
	if len(fields) < 8 || fields[0] != "cpu" {
		return u, fmt.Errorf("/proc/stat starts with %q", sc.Text())
	}
	var ticks uint64
	for i, v := range fields[1:] {
		if i == 3 || i == 4 { // idle, iowait
			continue
		}
		if i >= 7 { // guest times are already in user and nice
			break
		}
		n, _ := strconv.ParseUint(v, 10, 64)
		ticks += n
	}
	u.cpuNanos = ticks * uint64(time.Second/userHZ)
	mem, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return u, err
	}
	for _, line := range strings.Split(string(mem), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		kb, _ := strconv.ParseUint(f[1], 10, 64)
		switch f[0] {
		case "MemTotal:":
			u.memoryTotal = kb << 10
		case "MemAvailable:":
			u.memoryAvailable = kb << 10
		}
	}
	u.memoryWorking = u.memoryTotal - u.memoryAvailable
	return u, nil
}

// userHZ is the unit of /proc/stat (fixed at 100 on Linux's ABI).
const userHZ = 100

func ptrTo[T any](v T) *T { return &v }

func deref(p *uint64) uint64 {
	if p == nil {
		return 0
	}
	return *p
}
