package dataplane

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func TestMetricsOfOneRoute(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := newMetrics(reg)
	m.series("httproute/ns/a", "ns/a-00001:80", rolePrimary).requests.WithLabelValues("httproute/ns/a", "ns/a-00001:80", rolePrimary, "200").Inc()
	m.series("httproute/ns/b", "ns/b-00001:80", rolePrimary).requests.WithLabelValues("httproute/ns/b", "ns/b-00001:80", rolePrimary, "200").Inc()
	m.unrouted.Inc()
	get := func(query string) string {
		rec := httptest.NewRecorder()
		MetricsHandler(reg).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics"+query, nil))
		data, _ := io.ReadAll(rec.Body)
		return string(data)
	}
	all, one := get(""), get("?route=httproute/ns/a")
	for _, s := range []string{`route="httproute/ns/a"`, `route="httproute/ns/b"`, "skiff_gateway_unrouted_requests_total"} {
		if !strings.Contains(all, s) {
			t.Errorf("the whole endpoint has no %s", s)
		}
	}
	if !strings.Contains(one, `skiff_gateway_requests_total{backend="ns/a-00001:80",code="200",role="primary",route="httproute/ns/a"} 1`) {
		t.Errorf("?route=httproute/ns/a lacks its requests:\n%s", one)
	}
	for _, s := range []string{`route="httproute/ns/b"`, "skiff_gateway_unrouted_requests_total"} {
		if strings.Contains(one, s) {
			t.Errorf("?route=httproute/ns/a has %s:\n%s", s, one)
		}
	}
}
