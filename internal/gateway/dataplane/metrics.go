package dataplane

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
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

// poolMetrics count the requests held for backends without a ready (or
// free) endpoint, and how long backends at zero take to get one.
type poolMetrics struct {
	held         *prometheus.GaugeVec
	outcomes     *prometheus.CounterVec
	holdDuration *prometheus.HistogramVec
	coldStart    *prometheus.HistogramVec
}

// ColdStartBuckets span a pod's start to a large model's load.
var ColdStartBuckets = []float64{.05, .1, .2, .3, .5, .75, 1, 2, 5, 10, 30, 60, 120, 300}

func newPoolMetrics(reg prometheus.Registerer) *poolMetrics {
	m := &poolMetrics{
		held: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "skiff_gateway_held_requests", Help: "Requests held now for a backend with no ready (or no free) endpoint, by backend.",
		}, []string{"backend"}),
		outcomes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "skiff_gateway_held_requests_total", Help: "Requests that were held, by backend and outcome: proxied, timeout, canceled (the caller left), rejected (over the limit), failed (the backend went away).",
		}, []string{"backend", "outcome"}),
		holdDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "skiff_gateway_hold_duration_seconds", Help: "Time a held request waited for an endpoint, by backend.", Buckets: ColdStartBuckets,
		}, []string{"backend"}),
		coldStart: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "skiff_gateway_cold_start_duration_seconds", Help: "Time from the first request held for a backend with no endpoint to its first ready endpoint, by backend.", Buckets: ColdStartBuckets,
		}, []string{"backend"}),
	}
	reg.MustRegister(m.held, m.outcomes, m.holdDuration, m.coldStart)
	return m
}

// series are one route's, backend's and role's metrics, resolved when the
// table is compiled so a request costs one label lookup (its code).
type series struct {
	requests *prometheus.CounterVec
	labels   [3]string
	inFlight prometheus.Gauge
	duration prometheus.Observer
}

func (m *metrics) series(route, backend, role string) *series {
	return &series{
		requests: m.requests, labels: [3]string{route, backend, role},
		inFlight: m.inFlight.WithLabelValues(route, backend, role),
		duration: m.duration.WithLabelValues(route, backend, role),
	}
}

// start counts a request in flight; done counts it finished.
func (s *series) start() time.Time {
	s.inFlight.Inc()
	return time.Now()
}

func (s *series) done(start time.Time, code int) {
	s.inFlight.Dec()
	s.duration.Observe(time.Since(start).Seconds())
	s.requests.WithLabelValues(s.labels[0], s.labels[1], s.labels[2], strconv.Itoa(code)).Inc()
}

// MetricsHandler serves a registry's metrics; with ?route=<name> only the
// series of that route (what a rollout analysis reads: a few series,
// where the whole endpoint of a gateway with many routes is megabytes).
func MetricsHandler(reg prometheus.Gatherer) http.Handler {
	all := promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		route := r.URL.Query().Get("route")
		if route == "" {
			all.ServeHTTP(w, r)
			return
		}
		promhttp.HandlerFor(routeGatherer{reg, route}, promhttp.HandlerOpts{}).ServeHTTP(w, r)
	})
}

// routeGatherer keeps one route's series.
type routeGatherer struct {
	reg   prometheus.Gatherer
	route string
}

func (g routeGatherer) Gather() ([]*dto.MetricFamily, error) {
	fams, err := g.reg.Gather()
	out := fams[:0]
	for _, f := range fams {
		kept := f.Metric[:0]
		for _, m := range f.Metric {
			for _, l := range m.Label {
				if l.GetName() == "route" && l.GetValue() == g.route {
					kept = append(kept, m)
					break
				}
			}
		}
		if len(kept) > 0 {
			f.Metric = kept
			out = append(out, f)
		}
	}
	return out, err
}
