package modelservice

import (
	"cmp"
	"fmt"
	"strconv"
	"strings"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	mlv1 "github.com/skiff-dev/skiff/apis/ml/v1alpha1"
	"github.com/skiff-dev/skiff/internal/kpa"
)

// bounds are the pods a ModelService's revision may have, as this
// controller can honor them.
type bounds struct {
	min, max int32
	// initial is a new revision's size: autoscaling.initialScale within
	// min and max (one pod even at minReplicas 0, so it can be ready).
	initial int32
	// zeroRefused: minReplicas is 0 but no skiff gateway can hold
	// requests, so the floor is one pod.
	zeroRefused bool
}

func (r *Reconciler) bounds(ms *mlv1.ModelService) bounds {
	p := ms.Spec.Predictor
	b := bounds{min: ptr.Deref(p.MinReplicas, 1)}
	if b.min == 0 && !r.Options.requestStats() {
		b.min, b.zeroRefused = 1, true
	}
	// maxReplicas 0 is minReplicas, always; one pod at most at zero.
	b.max = max(p.MaxReplicas, b.min, 1)
	b.initial = min(max(ptr.Deref(autoscaling(ms).InitialScale, 1), b.min), b.max)
	return b
}

// scales says whether an autoscaler may change the replica count.
func (b bounds) scales() bool { return b.max > b.min }

func (b bounds) clamp(n int32) *int32 { return ptr.To(min(max(n, b.min), b.max)) }

// requestStats says whether skiff's gateway counts this controller's
// requests: what scale to zero and the concurrency and rps metrics need.
func (o *Options) requestStats() bool { return o.Gateway != nil && o.GatewayStatsURL() != "" }

// GatewayStatsURL is the gateway's stats endpoint, beside its metrics.
func (o *Options) GatewayStatsURL() string {
	if u, ok := strings.CutSuffix(o.GatewayMetricsURL, "/metrics"); ok {
		return u + "/stats"
	}
	return ""
}

func scaleMetric(ms *mlv1.ModelService) mlv1.ScaleMetric {
	return cmp.Or(ms.Spec.Predictor.ScaleMetric, mlv1.ScaleMetricCPU)
}

// requestMetric says whether the metric is one the gateway counts.
func requestMetric(ms *mlv1.ModelService) bool {
	m := scaleMetric(ms)
	return m == mlv1.ScaleMetricConcurrency || m == mlv1.ScaleMetricRPS
}

// scaleTarget is scaleTarget, or the metric's default (Knative's for
// concurrency and rps).
func scaleTarget(ms *mlv1.ModelService) int32 {
	def := int32(80)
	switch scaleMetric(ms) {
	case mlv1.ScaleMetricConcurrency:
		def = 100
	case mlv1.ScaleMetricRPS:
		def = 200
	}
	return ptr.Deref(ms.Spec.Predictor.ScaleTarget, def)
}

// autoscaling is spec.predictor.autoscaling, never nil.
func autoscaling(ms *mlv1.ModelService) *mlv1.AutoscalingSpec {
	if a := ms.Spec.Predictor.Autoscaling; a != nil {
		return a
	}
	return &mlv1.AutoscalingSpec{}
}

func duration(d *metav1.Duration, def time.Duration) time.Duration {
	if d == nil {
		return def
	}
	return d.Duration
}

// kpaConfig is the request autoscaler's configuration of a ModelService,
// with Knative's defaults.
func (r *Reconciler) kpaConfig(ms *mlv1.ModelService) kpa.Config {
	a, b := autoscaling(ms), r.bounds(ms)
	window := duration(a.Window, 60*time.Second)
	return kpa.Config{
		Target:           float64(scaleTarget(ms)) * float64(ptr.Deref(a.TargetUtilizationPercentage, 70)) / 100,
		StableWindow:     window,
		PanicWindow:      max(window*time.Duration(ptr.Deref(a.PanicWindowPercentage, 10))/100, time.Second),
		PanicThreshold:   float64(ptr.Deref(a.PanicThresholdPercentage, 200)) / 100,
		MaxScaleUpRate:   float64(ptr.Deref(a.MaxScaleUpRate, 1000)),
		MaxScaleDownRate: float64(ptr.Deref(a.MaxScaleDownRate, 2)),
		ScaleDownDelay:   duration(a.ScaleDownDelay, 0),
		ScaleToZeroGrace: duration(a.ScaleToZeroGracePeriod, 30*time.Second),
		Min:              b.min,
		Max:              b.max,
	}
}

// hpaScales says whether an HPA scales the ModelService: on cpu or
// memory, or on cpu in place of a request metric no gateway counts.
func (r *Reconciler) hpaScales(ms *mlv1.ModelService) bool {
	b := r.bounds(ms)
	if requestMetric(ms) && r.Options.requestStats() {
		return false
	}
	return b.max > max(b.min, 1)
}

// hpaMetric is what the HPA scales on: a request metric with no gateway
// to count it falls back to cpu.
func hpaMetric(ms *mlv1.ModelService) (corev1.ResourceName, int32) {
	if requestMetric(ms) {
		return corev1.ResourceCPU, 80
	}
	return corev1.ResourceName(scaleMetric(ms)), scaleTarget(ms)
}

// autoscaler is the HPA of the latest revision's Deployment, between
// minReplicas (one at least: at zero the HPA rests, and the request
// autoscaler wakes the revision) and maxReplicas.
func (r *Reconciler) autoscaler(ms *mlv1.ModelService, target string) *autoscalingv2.HorizontalPodAutoscaler {
	b := r.bounds(ms)
	metric, pct := hpaMetric(ms)
	return &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Namespace: ms.Namespace, Name: predictorName(ms), Labels: labels(ms)},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: target},
			MinReplicas:    ptr.To(max(b.min, 1)),
			MaxReplicas:    b.max,
			Metrics: []autoscalingv2.MetricSpec{{
				Type: autoscalingv2.ResourceMetricSourceType,
				Resource: &autoscalingv2.ResourceMetricSource{
					Name:   metric,
					Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: ptr.To(pct)},
				},
			}},
		},
	}
}

// noHPAReason says why a ModelService has no HPA.
func (r *Reconciler) noHPAReason(ms *mlv1.ModelService) string {
	b := r.bounds(ms)
	if requestMetric(ms) && r.Options.requestStats() {
		return "scaleMetric " + string(scaleMetric(ms)) + " is scaled by the request autoscaler on the gateway's numbers"
	}
	return fmt.Sprintf("maxReplicas is not above minReplicas: %d to %d replicas, no HPA", b.min, b.max)
}

// Annotations of a revision's Service that skiff's gateway reads
// (internal/gateway names them too).
const (
	annotationContainerConcurrency = "gateway.skiff.dev/container-concurrency"
	annotationHoldTimeout          = "gateway.skiff.dev/hold-timeout"
	annotationMaxHeldRequests      = "gateway.skiff.dev/max-held-requests"
)

// gatewayAnnotations are have with the gateway's annotations as ms asks:
// its per-pod limit, and, at minReplicas 0, that requests for a revision
// without a ready pod are held while it wakes.
func (r *Reconciler) gatewayAnnotations(ms *mlv1.ModelService, have map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range have {
		if !strings.HasPrefix(k, "gateway.skiff.dev/") {
			out[k] = v
		}
	}
	if cc := ptr.Deref(ms.Spec.Predictor.ContainerConcurrency, 0); cc > 0 {
		out[annotationContainerConcurrency] = strconv.FormatInt(cc, 10)
	}
	if b := r.bounds(ms); b.min == 0 {
		a := autoscaling(ms)
		out[annotationHoldTimeout] = duration(a.ColdStartTimeout, 300*time.Second).String()
		out[annotationMaxHeldRequests] = strconv.Itoa(int(ptr.Deref(a.MaxHeldRequests, 1000)))
	}
	if len(out) == 0 {
		return nil
	}
	return out
}
