package modelserver

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Protocols, as the metrics label them.
const (
	protoV2REST  = "v2-rest"
	protoV2GRPC  = "v2-grpc"
	protoV1REST  = "v1-rest"
	protoPredict = "predict"
)

// metrics are the server's Prometheus metrics, per model and version.
// Unknown model names are labelled "" so that clients cannot grow the
// label set.
type metrics struct {
	registry *prometheus.Registry
	requests *prometheus.CounterVec
	errors   *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	batch    *prometheus.HistogramVec
}

func newMetrics() *metrics {
	m := &metrics{
		registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "skiff_model_requests_total", Help: "Inference requests, by model, version and protocol.",
		}, []string{"model", "version", "protocol"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "skiff_model_request_errors_total", Help: "Inference requests that failed, by reason (bad_request, not_found, not_ready, too_large, internal).",
		}, []string{"model", "version", "protocol", "reason"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "skiff_model_request_duration_seconds", Help: "Time from a request's arrival to its answer.",
			Buckets: []float64{25e-6, 50e-6, 100e-6, 200e-6, 500e-6, 1e-3, 2e-3, 5e-3, 10e-3, 25e-3, 50e-3, 100e-3, 250e-3, 1},
		}, []string{"model", "version", "protocol"}),
		batch: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "skiff_model_batch_size", Help: "Rows per model evaluation (several requests' rows when batching).",
			Buckets: prometheus.ExponentialBuckets(1, 2, 11),
		}, []string{"model", "version"}),
	}
	m.registry.MustRegister(m.requests, m.errors, m.latency, m.batch,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func (m *metrics) observeBatch(model, version string, rows int) {
	m.batch.WithLabelValues(model, version).Observe(float64(rows))
}

// done records one request.
func (m *metrics) done(model, version, protocol string, start time.Time, err error) {
	m.requests.WithLabelValues(model, version, protocol).Inc()
	m.latency.WithLabelValues(model, version, protocol).Observe(time.Since(start).Seconds())
	if err != nil {
		m.errors.WithLabelValues(model, version, protocol, classify(err).reason()).Inc()
	}
}
