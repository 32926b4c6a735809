package modelservice

import (
	"context"
	"fmt"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	mlv1 "github.com/skiff-dev/skiff/apis/ml/v1alpha1"
)

// BenchmarkJudge is one analysis of a canary against a gateway that
// serves 1,000 ModelServices with two revisions each (make bench): a
// scrape of the whole metrics endpoint, its parse, and the verdict.
func BenchmarkJudge(b *testing.B) {
	m := newGatewayMetrics(&testing.T{})
	for i := range 1000 {
		route := fmt.Sprintf("httproute/ns/ms-%d", i)
		for _, rev := range []string{"a", "b"} {
			backend := backendName("ns", fmt.Sprintf("ms-%d-%s", i, rev))
			for _, code := range []string{"200", "500"} {
				m.requests.WithLabelValues(route, backend, "primary", code).Add(10)
			}
			m.duration.WithLabelValues(route, backend, "primary").Observe(0.002)
		}
	}
	m.serve("housing-00002", 100, "200", 2*time.Millisecond)
	m.serve("housing-00001", 100, "200", 2*time.Millisecond)
	a := newAnalyzer(m.url)
	ms := newMS("housing").obj()
	spec := &mlv1.AnalysisSpec{MinRequests: 1, MaxErrorRatePercent: ptr.To[int32](5), MaxLatencyP99Increase: &metav1.Duration{Duration: 100 * time.Millisecond}}
	st := &mlv1.RolloutStatus{Revision: "housing-00002"}
	now := time.Now()
	b.ResetTimer()
	for i := range b.N {
		// Each judgment ends a window and starts the next.
		if _, _, err := a.judge(context.Background(), ms, spec, st, "housing-00001", now.Add(time.Duration(i)*time.Second)); err != nil {
			b.Fatal(err)
		}
		m.serve("housing-00002", 1, "200", 2*time.Millisecond)
	}
}
