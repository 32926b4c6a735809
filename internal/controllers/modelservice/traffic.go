package modelservice

import (
	"context"
	"fmt"
	"net"
	"strconv"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	mlv1 "github.com/skiff-dev/skiff/apis/ml/v1alpha1"
)

// target is one revision's share of requests, and of copies of them.
type target struct {
	revision string
	percent  int32
	shadow   int32
	tag      string // the spec.traffic variant
}

// split is where requests go, as KServe's canaryTrafficPercent says:
// until the latest revision is ready, all go to the stable one; then the
// canary share goes to the latest and the rest to the stable one; no
// canary (or 100) promotes the latest. A shadow share instead leaves all
// answers to the stable revision and copies that share to the latest.
// With no stable revision yet, the latest takes all once ready.
func split(p *mlv1.PredictorSpec, latest string, latestReady bool, stable string) []target {
	canary := p.CanaryTrafficPercent
	switch {
	case stable == "" || stable == latest:
		if latestReady || stable == latest {
			return []target{{revision: latest, percent: 100}}
		}
		return nil
	case !latestReady:
		return []target{{revision: stable, percent: 100}}
	}
	if s := p.ShadowTrafficPercent; s != nil {
		return []target{{revision: stable, percent: 100}, {revision: latest, shadow: *s}}
	}
	c := ptr.Deref(canary, 100)
	switch {
	case c >= 100:
		return []target{{revision: latest, percent: 100}}
	case c <= 0:
		return []target{{revision: stable, percent: 100}, {revision: latest}}
	}
	return []target{{revision: latest, percent: c}, {revision: stable, percent: 100 - c}}
}

// primary is the revision with the largest share, or "".
func primary(ts []target) string {
	best := target{}
	for _, t := range ts {
		if t.percent > best.percent {
			best = t
		}
	}
	return best.revision
}

// servingPath is where a ModelService answers on the gateway, as KServe's
// path-based routing names it.
func servingPath(ms *mlv1.ModelService) string {
	return fmt.Sprintf("/serving/%s/%s", ms.Namespace, ms.Name)
}

// applyRoute keeps the HTTPRoute that splits the ModelService's path on
// the gateway between its revisions' Services.
func (r *Reconciler) applyRoute(ctx context.Context, ms *mlv1.ModelService, ts []target) error {
	gw := r.Options.Gateway
	route := &gwv1.HTTPRoute{ObjectMeta: metav1.ObjectMeta{Namespace: ms.Namespace, Name: ms.Name}}
	_, err := controllerutil.CreateOrUpdate(ctx, r.Client, route, func() error {
		if err := r.owned(ms, route); err != nil {
			return err
		}
		route.Labels = labels(ms)
		route.Spec = gwv1.HTTPRouteSpec{
			CommonRouteSpec: gwv1.CommonRouteSpec{ParentRefs: []gwv1.ParentReference{{
				Namespace: ptr.To(gwv1.Namespace(gw.Namespace)), Name: gwv1.ObjectName(gw.Name),
			}}},
			Rules: routeRules(ms, ts),
		}
		return nil
	})
	return err
}

// routeRules send the ModelService's path to its revisions, as the
// targets share it: weighted backends and a mirror for a shadow, or a
// rule per variant of spec.traffic.
func routeRules(ms *mlv1.ModelService, ts []target) []gwv1.HTTPRouteRule {
	rewrite := gwv1.HTTPRouteFilter{Type: gwv1.HTTPRouteFilterURLRewrite, URLRewrite: &gwv1.HTTPURLRewriteFilter{
		Path: &gwv1.HTTPPathModifier{Type: gwv1.PrefixMatchHTTPPathModifier, ReplacePrefixMatch: ptr.To("/")},
	}}
	if len(ts) > 0 && ts[0].tag != "" {
		return variantRules(ms, ts, rewrite)
	}
	filters := []gwv1.HTTPRouteFilter{rewrite}
	var backends []gwv1.HTTPBackendRef
	for _, t := range ts {
		ref := revisionRef(t.revision)
		if t.shadow > 0 {
			filters = append(filters, gwv1.HTTPRouteFilter{Type: gwv1.HTTPRouteFilterRequestMirror, RequestMirror: &gwv1.HTTPRequestMirrorFilter{
				BackendRef: ref, Percent: ptr.To(t.shadow),
			}})
			continue
		}
		backends = append(backends, gwv1.HTTPBackendRef{BackendRef: gwv1.BackendRef{BackendObjectReference: ref, Weight: ptr.To(t.percent)}})
	}
	return []gwv1.HTTPRouteRule{{
		Matches:     []gwv1.HTTPRouteMatch{{Path: &gwv1.HTTPPathMatch{Type: ptr.To(gwv1.PathMatchPathPrefix), Value: ptr.To(servingPath(ms))}}},
		Filters:     filters,
		BackendRefs: backends,
	}}
}

// gatewayURL is the ModelService's URL on the gateway, from the Gateway's
// address and first HTTP listener; "" until the Gateway has an address.
func (r *Reconciler) gatewayURL(ctx context.Context, ms *mlv1.ModelService) string {
	var gw gwv1.Gateway
	if err := r.Client.Get(ctx, types.NamespacedName(*r.Options.Gateway), &gw); err != nil || len(gw.Status.Addresses) == 0 {
		return ""
	}
	for _, l := range gw.Spec.Listeners {
		if l.Protocol != gwv1.HTTPProtocolType {
			continue
		}
		host := gw.Status.Addresses[0].Value
		if l.Port != 80 {
			host = net.JoinHostPort(host, strconv.Itoa(int(l.Port)))
		}
		return "http://" + host + servingPath(ms)
	}
	return ""
}

// GatewayRef names the Gateway the ModelServices' routes attach to.
type GatewayRef struct{ Namespace, Name string }
