package modelservice

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"sort"
	"sync"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	mlv1 "github.com/skiff-dev/skiff/apis/ml/v1alpha1"
)

// The gateway's series the analysis reads (internal/gateway/dataplane).
const (
	requestsMetric = "skiff_gateway_requests_total"
	durationMetric = "skiff_gateway_request_duration_seconds"
)

// analyzer judges canaries from the gateway's Prometheus endpoint. A
// window starts when a step does (or the controller does: counters read
// before a restart are not kept) and is judged once it is interval long
// and the canary answered minRequests in it.
type analyzer struct {
	url    string
	client *http.Client

	mu      sync.Mutex
	windows map[types.NamespacedName]*window
}

// window is the counters at a window's start.
type window struct {
	key            string // revision and step the window belongs to
	start          time.Time
	canary, stable counts
	// failed is a verdict that rolled the canary back, given again until
	// status has it (a status write that failed must not lose it).
	failed *mlv1.AnalysisResult
}

// counts are one backend's cumulative requests, 5xx answers and latency
// buckets (upper bound in seconds -> cumulative count).
type counts struct {
	requests, errors float64
	buckets          map[float64]float64
}

func newAnalyzer(url string) *analyzer {
	return &analyzer{url: url, client: &http.Client{Timeout: 5 * time.Second}, windows: map[types.NamespacedName]*window{}}
}

// judge returns a verdict on the canary's current window, or nil while the
// window is too short or has too few requests (then why, in words).
func (a *analyzer) judge(ctx context.Context, ms *mlv1.ModelService, spec *mlv1.AnalysisSpec, st *mlv1.RolloutStatus, stable string, now time.Time) (*mlv1.AnalysisResult, string, error) {
	route := "httproute/" + ms.Namespace + "/" + ms.Name
	fams, err := a.scrape(ctx, route)
	if err != nil {
		return nil, "", err
	}
	canary := backendCounts(fams, route, backendName(ms.Namespace, st.Revision))
	base := backendCounts(fams, route, backendName(ms.Namespace, stable))
	key := fmt.Sprintf("%s/%d", st.Revision, st.Step)
	id := types.NamespacedName{Namespace: ms.Namespace, Name: ms.Name}

	a.mu.Lock()
	defer a.mu.Unlock()
	w := a.windows[id]
	if w != nil && w.key == key && w.failed != nil {
		return w.failed, "", nil
	}
	// The messages name no counts, so status does not change with each look.
	open := fmt.Sprintf("analysis window open: judged after %s with %d requests to %s", spec.Interval.Duration, spec.MinRequests, st.Revision)
	if w == nil || w.key != key || canary.requests < w.canary.requests || base.requests < w.stable.requests {
		a.windows[id] = &window{key: key, start: now, canary: canary, stable: base}
		return nil, open, nil
	}
	c, s := canary.minus(w.canary), base.minus(w.stable)
	if now.Sub(w.start) < spec.Interval.Duration || int32(c.requests) < spec.MinRequests {
		return nil, open, nil
	}
	// The stable revision is the yardstick: with too few answers of its own
	// (a canary at 100%) it cannot be one.
	if st.Weight < 100 && int32(s.requests) < spec.MinRequests {
		return nil, fmt.Sprintf("analysis window open: waiting for %d requests to the stable revision %s as well", spec.MinRequests, stable), nil
	}
	res := verdict(spec, st.Revision, stable, c, s, now)
	res.Step = st.Step
	next := &window{key: key, start: now, canary: canary, stable: base}
	if !res.Passed {
		next.failed = res
	}
	a.windows[id] = next
	return res, "", nil
}

// forget drops a ModelService's window (it was deleted or finished).
func (a *analyzer) forget(id types.NamespacedName) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.windows, id)
}

// verdict checks the canary's window against the stable revision's.
func verdict(spec *mlv1.AnalysisSpec, canaryRev, stableRev string, c, s counts, now time.Time) *mlv1.AnalysisResult {
	res := &mlv1.AnalysisResult{
		Time:   metav1.NewTime(now),
		Canary: c.metrics(canaryRev), Stable: s.metrics(stableRev),
		Passed: true,
	}
	if max := spec.MaxErrorRatePercent; max != nil {
		cr, sr := c.errorRate(), s.errorRate()
		if cr-sr > float64(*max) {
			res.Passed = false
			res.Message = fmt.Sprintf("error rate: canary %s answered %d of %d requests with 5xx (%.1f%%), stable %s %d of %d (%.1f%%): more than %d points above",
				canaryRev, int64(c.errors), int64(c.requests), cr, stableRev, int64(s.errors), int64(s.requests), sr, *max)
			return res
		}
	}
	if max := spec.MaxLatencyP99Increase; max != nil {
		cp, sp := c.quantile(0.99), s.quantile(0.99)
		if cp-sp > max.Duration {
			res.Passed = false
			res.Message = fmt.Sprintf("p99 latency: canary %s %s, stable %s %s: more than %s above",
				canaryRev, cp.Round(time.Millisecond), stableRev, sp.Round(time.Millisecond), max.Duration)
			return res
		}
	}
	res.Message = fmt.Sprintf("canary %s passed: %d requests, %d with 5xx, p99 %s (stable: %d, %d, %s)",
		canaryRev, int64(c.requests), int64(c.errors), c.quantile(0.99).Round(time.Millisecond),
		int64(s.requests), int64(s.errors), s.quantile(0.99).Round(time.Millisecond))
	return res
}

// scrape reads the gateway's metrics of one route (skiff's gateway serves
// only its series when asked so; any other endpoint gives them all, and
// backendCounts picks them out).
func (a *analyzer) scrape(ctx context.Context, route string) (map[string]*dto.MetricFamily, error) {
	u, err := url.Parse(a.url)
	if err != nil {
		return nil, fmt.Errorf("gateway metrics %s: %w", a.url, err)
	}
	q := u.Query()
	q.Set("route", route)
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("gateway metrics %s: %w", a.url, err)
	}
	resp, err := a.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("gateway metrics %s: %w", a.url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("gateway metrics %s: %s", a.url, resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("gateway metrics %s: %w", a.url, err)
	}
	return fams, nil
}

// backendName is how the gateway names a revision's Service in metrics.
func backendName(namespace, revision string) string {
	return fmt.Sprintf("%s/%s:80", namespace, revision)
}

// backendCounts sums one route's and backend's answers to callers.
func backendCounts(fams map[string]*dto.MetricFamily, route, backend string) counts {
	out := counts{buckets: map[float64]float64{}}
	match := func(m *dto.Metric) (map[string]string, bool) {
		l := map[string]string{}
		for _, p := range m.GetLabel() {
			l[p.GetName()] = p.GetValue()
		}
		return l, l["route"] == route && l["backend"] == backend && l["role"] == "primary"
	}
	if f := fams[requestsMetric]; f != nil {
		for _, m := range f.GetMetric() {
			l, ok := match(m)
			if !ok {
				continue
			}
			v := m.GetCounter().GetValue()
			out.requests += v
			if len(l["code"]) == 3 && l["code"][0] == '5' {
				out.errors += v
			}
		}
	}
	if f := fams[durationMetric]; f != nil {
		for _, m := range f.GetMetric() {
			if _, ok := match(m); !ok {
				continue
			}
			h := m.GetHistogram()
			for _, b := range h.GetBucket() {
				if !math.IsInf(b.GetUpperBound(), 1) {
					out.buckets[b.GetUpperBound()] += float64(b.GetCumulativeCount())
				}
			}
			out.buckets[math.Inf(1)] += float64(h.GetSampleCount())
		}
	}
	return out
}

func (c counts) minus(o counts) counts {
	out := counts{requests: c.requests - o.requests, errors: c.errors - o.errors, buckets: map[float64]float64{}}
	for le, v := range c.buckets {
		out.buckets[le] = v - o.buckets[le]
	}
	return out
}

func (c counts) errorRate() float64 {
	if c.requests == 0 {
		return 0
	}
	return 100 * c.errors / c.requests
}

// quantile estimates the q-quantile of the latencies from the buckets, as
// Prometheus' histogram_quantile does (linear within a bucket; the highest
// finite bound for the +Inf bucket).
func (c counts) quantile(q float64) time.Duration {
	bounds := make([]float64, 0, len(c.buckets))
	for le := range c.buckets {
		bounds = append(bounds, le)
	}
	sort.Float64s(bounds)
	total := c.buckets[math.Inf(1)]
	if total <= 0 || len(bounds) == 0 {
		return 0
	}
	rank := q * total
	lower, below := 0.0, 0.0
	for _, le := range bounds {
		n := c.buckets[le]
		if n >= rank {
			if math.IsInf(le, 1) {
				return seconds(lower)
			}
			if n == below {
				return seconds(le)
			}
			return seconds(lower + (le-lower)*(rank-below)/(n-below))
		}
		lower, below = le, n
	}
	return seconds(lower)
}

func (c counts) metrics(revision string) mlv1.RevisionMetrics {
	m := mlv1.RevisionMetrics{Revision: revision, Requests: int64(c.requests), Errors: int64(c.errors)}
	if c.requests > 0 {
		m.LatencyP99 = &metav1.Duration{Duration: c.quantile(0.99).Round(100 * time.Microsecond)}
	}
	return m
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }
