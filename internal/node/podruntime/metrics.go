package podruntime

import (
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics count what the runtime does, for the node's /metrics (the
// kubelet API port), in Prometheus form.
type Metrics struct {
	podsStarted       prometheus.Counter
	podStartSeconds   prometheus.Histogram
	containerStarts   prometheus.Counter
	containerRestarts prometheus.Counter
	startErrors       prometheus.Counter
	probeFailures     *prometheus.CounterVec
	runningPods       prometheus.GaugeFunc
}

// NewMetrics makes the runtime's metrics and registers them in reg.
func (r *Runtime) NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		podsStarted: prometheus.NewCounter(prometheus.CounterOpts{Name: "skiff_node_pods_started_total",
			Help: "Pods whose containers all started (once per pod)."}),
		podStartSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "skiff_node_pod_start_duration_seconds",
			Help:    "Time from the node receiving a pod to all its containers running.",
			Buckets: []float64{0.025, 0.05, 0.1, 0.15, 0.25, 0.5, 1, 2.5, 5, 10, 30}}),
		containerStarts: prometheus.NewCounter(prometheus.CounterOpts{Name: "skiff_node_container_starts_total",
			Help: "Container processes started, restarts included."}),
		containerRestarts: prometheus.NewCounter(prometheus.CounterOpts{Name: "skiff_node_container_restarts_total",
			Help: "Container processes started again after an earlier one of the same container ended."}),
		startErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "skiff_node_container_start_errors_total",
			Help: "Container starts that failed (bad command, image, volume, user)."}),
		probeFailures: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "skiff_node_probe_failures_total",
			Help: "Failed probe checks, by probe kind (liveness, readiness, startup)."}, []string{"probe"}),
	}
	m.runningPods = prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "skiff_node_running_pods",
		Help: "Pods the node runs now."}, func() float64 {
		r.mu.Lock()
		defer r.mu.Unlock()
		return float64(len(r.pods))
	})
	reg.MustRegister(m.podsStarted, m.podStartSeconds, m.containerStarts, m.containerRestarts, m.startErrors, m.probeFailures, m.runningPods)
	r.metrics = m
	return m
}

// The hooks below do nothing without metrics (unit tests, bare runtimes).

func (m *Metrics) containerStarted(restarts int) {
	if m == nil {
		return
	}
	m.containerStarts.Inc()
	if restarts > 0 {
		m.containerRestarts.Inc()
	}
}

func (m *Metrics) startFailed() {
	if m != nil {
		m.startErrors.Inc()
	}
}

func (m *Metrics) podStarted(d time.Duration) {
	if m != nil {
		m.podsStarted.Inc()
		m.podStartSeconds.Observe(d.Seconds())
	}
}

func (m *Metrics) probeFailed(kind string) {
	if m != nil {
		m.probeFailures.WithLabelValues(strings.ToLower(kind)).Inc()
	}
}
