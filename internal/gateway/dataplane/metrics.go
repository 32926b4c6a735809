package dataplane

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Roles of a request in metrics: one a caller waits for, or a mirror's
// copy.
const (
	rolePrimary = "primary"
	roleMirror  = "mirror"
)

// metrics are the gateway's Prometheus series, per route and backend
// (skiff's ModelService makes a backend per revision).
type metrics struct {
	requests       *prometheus.CounterVec
	duration       *prometheus.HistogramVec
	inFlight       *prometheus.GaugeVec
	unrouted       prometheus.Counter
	retries        prometheus.Counter
	mirrorsDropped prometheus.Counter
}

// LatencyBuckets are fine at the low end, where a model answers.
var LatencyBuckets = []float64{.0005, .001, .002, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}

func newMetrics(reg prometheus.Registerer) *metrics {
	labels := []string{"route", "backend", "role"}
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "skiff_gateway_requests_total", Help: "Requests the gateway finished, by route, backend, role (primary or mirror) and response code.",
		}, append(labels, "code")),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "skiff_gateway_request_duration_seconds", Help: "Time from a request's routing to its response's end, by route, backend and role.",
			Buckets: LatencyBuckets,
		}, labels),
		inFlight: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "skiff_gateway_requests_in_flight", Help: "Requests being served, by route, backend and role.",
		}, labels),
		unrouted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "skiff_gateway_unrouted_requests_total", Help: "Requests no route matched (answered 404).",
		}),
		retries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "skiff_gateway_retries_total", Help: "Requests moved to another endpoint after a connection to one failed.",
		}),
		mirrorsDropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "skiff_gateway_mirrors_dropped_total", Help: "Mirror copies not sent because too many were in flight.",
		}),
	}
	reg.MustRegister(m.requests, m.duration, m.inFlight, m.unrouted, m.retries, m.mirrorsDropped)
	return m
}

// observation is one request being counted.
type observation struct {
	m      *metrics
	labels [3]string
	start  time.Time
}

func (m *metrics) observe(route, backend, role string) observation {
	o := observation{m: m, labels: [3]string{route, backend, role}, start: time.Now()}
	m.inFlight.WithLabelValues(o.labels[:]...).Inc()
	return o
}

func (o observation) done(code int) {
	l := o.labels[:]
	o.m.inFlight.WithLabelValues(l...).Dec()
	o.m.duration.WithLabelValues(l...).Observe(time.Since(o.start).Seconds())
	o.m.requests.WithLabelValues(append(l, strconv.Itoa(code))...).Inc()
}
