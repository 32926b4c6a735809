package modelservice

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"k8s.io/utils/ptr"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	mlv1 "github.com/skiff-dev/skiff/apis/ml/v1alpha1"
)

// VariantHeader, as a header or a cookie, pins a request to a variant of
// spec.traffic.
const VariantHeader = "x-variant"

// variants is the traffic spec.traffic names: a share per tag. The latest
// revision's share stays with the last ready one until it is ready. A revision
// that does not exist is an error (the traffic then stays as split gives
// it, and status says which entry).
func variants(ms *mlv1.ModelService, latest string, latestReady bool, stable string, have []string) ([]target, error) {
	// Until the latest is ready, latestRevision keeps the last one that was.
	fallback := stable
	if lr := ms.Status.LatestReadyRevision; slices.Contains(have, lr) {
		fallback = lr
	}
	var out []target
	for i, v := range ms.Spec.Traffic {
		rev := v.RevisionName
		if ptr.Deref(v.LatestRevision, false) {
			rev = latest
			if !latestReady {
				rev = fallback
			}
		} else if !slices.Contains(have, rev) {
			return nil, fmt.Errorf("spec.traffic[%d] (tag %s) names revision %s, which does not exist: name one of %s, or use latestRevision: true", i, v.Tag, rev, strings.Join(have, ", "))
		}
		if rev == "" {
			continue // no revision is ready yet
		}
		out = append(out, target{revision: rev, percent: v.Percent, tag: v.Tag})
	}
	return out, nil
}

// variantRules are the route's rules for tagged traffic: one per variant
// for requests that carry its header or cookie, and the weighted split
// for the rest, whose answers set the cookie so that a caller stays with
// its variant.
func variantRules(ms *mlv1.ModelService, ts []target, rewrite gwv1.HTTPRouteFilter) []gwv1.HTTPRouteRule {
	path := &gwv1.HTTPPathMatch{Type: ptr.To(gwv1.PathMatchPathPrefix), Value: ptr.To(servingPath(ms))}
	// Header rules first: the gateway breaks ties by rule order, and a
	// header names the variant a caller asks for now, a cookie the one it
	// had.
	var headers, cookies []gwv1.HTTPRouteRule
	split := gwv1.HTTPRouteRule{Matches: []gwv1.HTTPRouteMatch{{Path: path}}, Filters: []gwv1.HTTPRouteFilter{rewrite}}
	rule := func(ref gwv1.BackendObjectReference, h gwv1.HTTPHeaderMatch) gwv1.HTTPRouteRule {
		// A rule each: a prefix rewrite allows one match per rule.
		return gwv1.HTTPRouteRule{
			Matches:     []gwv1.HTTPRouteMatch{{Path: path, Headers: []gwv1.HTTPHeaderMatch{h}}},
			Filters:     []gwv1.HTTPRouteFilter{rewrite},
			BackendRefs: []gwv1.HTTPBackendRef{{BackendRef: gwv1.BackendRef{BackendObjectReference: ref}}},
		}
	}
	for _, t := range ts {
		ref := revisionRef(t.revision)
		headers = append(headers, rule(ref, gwv1.HTTPHeaderMatch{Name: VariantHeader, Value: t.tag}))
		cookies = append(cookies, rule(ref, gwv1.HTTPHeaderMatch{
			Type: ptr.To(gwv1.HeaderMatchRegularExpression), Name: "Cookie",
			Value: `(^|[;,]\s*)` + regexp.QuoteMeta(VariantHeader+"="+t.tag) + `([;,]|$)`,
		}))
		split.BackendRefs = append(split.BackendRefs, gwv1.HTTPBackendRef{
			BackendRef: gwv1.BackendRef{BackendObjectReference: ref, Weight: ptr.To(t.percent)},
			Filters: []gwv1.HTTPRouteFilter{{Type: gwv1.HTTPRouteFilterResponseHeaderModifier, ResponseHeaderModifier: &gwv1.HTTPHeaderFilter{
				Add: []gwv1.HTTPHeader{{Name: "Set-Cookie", Value: fmt.Sprintf("%s=%s; Path=%s", VariantHeader, t.tag, servingPath(ms))}},
			}}},
		})
	}
	rules := append(headers, cookies...)
	return append(rules, split)
}

func revisionRef(revision string) gwv1.BackendObjectReference {
	return gwv1.BackendObjectReference{Name: gwv1.ObjectName(revision), Port: ptr.To(gwv1.PortNumber(80))}
}
