package gateway

import (
	"fmt"
	"time"

	"k8s.io/utils/ptr"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/skiff-dev/skiff/internal/gateway/dataplane"
)

func httpRoute(hr *gwv1.HTTPRoute) *routeState {
	r := newRouteState(kindHTTPRoute, hr, hr.Spec.ParentRefs, hr.Spec.Hostnames)
	r.build = func(t *translation, r *routeState) []dataplane.Rule {
		var out []dataplane.Rule
		for _, rule := range hr.Spec.Rules {
			out = append(out, t.httpRule(r, rule))
		}
		return out
	}
	return r
}

func (t *translation) httpRule(r *routeState, rule gwv1.HTTPRouteRule) dataplane.Rule {
	out := dataplane.Rule{}
	for _, m := range rule.Matches {
		out.Matches = append(out.Matches, httpMatch(m))
	}
	filters, ok := t.httpFilters(r, rule.Filters)
	out.Filters = filters
	for _, br := range rule.BackendRefs {
		bf, bok := t.httpFilters(r, br.Filters)
		b := t.backend(r, br.BackendObjectReference, br.Weight, bf)
		if !bok {
			b.Status = 500
		}
		out.Backends = append(out.Backends, b)
	}
	if !ok {
		// A filter skiff cannot apply must not be skipped: the rule answers 500.
		out.Backends = []dataplane.Backend{{Name: r.key.String(), Weight: 1, Status: 500}}
	}
	if to := rule.Timeouts; to != nil {
		out.Timeout = duration(to.Request)
		out.BackendTimeout = duration(to.BackendRequest)
	}
	return out
}

func httpMatch(m gwv1.HTTPRouteMatch) dataplane.Match {
	out := dataplane.Match{PathType: dataplane.PathPrefix, Path: "/"}
	if p := m.Path; p != nil {
		out.Path = ptr.Deref(p.Value, "/")
		switch ptr.Deref(p.Type, gwv1.PathMatchPathPrefix) {
		case gwv1.PathMatchExact:
			out.PathType = dataplane.PathExact
		case gwv1.PathMatchRegularExpression:
			out.PathType = dataplane.PathRegex
		}
	}
	for _, h := range m.Headers {
		out.Headers = append(out.Headers, dataplane.ValueMatch{Name: string(h.Name), Value: h.Value, Regex: ptr.Deref(h.Type, gwv1.HeaderMatchExact) == gwv1.HeaderMatchRegularExpression})
	}
	for _, q := range m.QueryParams {
		out.Query = append(out.Query, dataplane.ValueMatch{Name: string(q.Name), Value: q.Value, Regex: ptr.Deref(q.Type, gwv1.QueryParamMatchExact) == gwv1.QueryParamMatchRegularExpression})
	}
	if m.Method != nil {
		out.Method = string(*m.Method)
	}
	return out
}

// httpFilters converts filters; false when one cannot be applied.
func (t *translation) httpFilters(r *routeState, fs []gwv1.HTTPRouteFilter) (dataplane.Filters, bool) {
	var out dataplane.Filters
	ok := true
	for _, f := range fs {
		switch f.Type {
		case gwv1.HTTPRouteFilterRequestHeaderModifier:
			out.RequestHeaders = headerChanges(f.RequestHeaderModifier)
		case gwv1.HTTPRouteFilterResponseHeaderModifier:
			out.ResponseHeaders = headerChanges(f.ResponseHeaderModifier)
		case gwv1.HTTPRouteFilterRequestMirror:
			if m := f.RequestMirror; m != nil {
				out.Mirrors = append(out.Mirrors, t.mirror(r, m.BackendRef, m.Percent, m.Fraction))
			}
		case gwv1.HTTPRouteFilterRequestRedirect:
			if rd := f.RequestRedirect; rd != nil {
				out.Redirect = &dataplane.Redirect{
					Scheme: ptr.Deref(rd.Scheme, ""), Hostname: string(ptr.Deref(rd.Hostname, "")),
					Port: int(ptr.Deref(rd.Port, 0)), StatusCode: ptr.Deref(rd.StatusCode, 302),
				}
				out.Redirect.FullPath, out.Redirect.PrefixPath = pathModifier(rd.Path)
			}
		case gwv1.HTTPRouteFilterURLRewrite:
			if rw := f.URLRewrite; rw != nil {
				out.Rewrite = &dataplane.Rewrite{Hostname: string(ptr.Deref(rw.Hostname, ""))}
				out.Rewrite.FullPath, out.Rewrite.PrefixPath = pathModifier(rw.Path)
			}
		default:
			ok = false
			r.fail(gwv1.RouteReasonUnsupportedValue, fmt.Sprintf("filter type %s is not supported by skiff's gateway", f.Type))
		}
	}
	return out, ok
}

func pathModifier(p *gwv1.HTTPPathModifier) (full, prefix *string) {
	if p == nil {
		return nil, nil
	}
	switch p.Type {
	case gwv1.FullPathHTTPPathModifier:
		return p.ReplaceFullPath, nil
	case gwv1.PrefixMatchHTTPPathModifier:
		return nil, p.ReplacePrefixMatch
	}
	return nil, nil
}

func headerChanges(h *gwv1.HTTPHeaderFilter) *dataplane.HeaderChanges {
	if h == nil {
		return nil
	}
	out := &dataplane.HeaderChanges{Remove: h.Remove}
	for _, s := range h.Set {
		out.Set = append(out.Set, dataplane.Header{Name: string(s.Name), Value: s.Value})
	}
	for _, a := range h.Add {
		out.Add = append(out.Add, dataplane.Header{Name: string(a.Name), Value: a.Value})
	}
	return out
}

// duration is a Gateway API duration; "0s" (or none) is no limit.
func duration(d *gwv1.Duration) time.Duration {
	if d == nil {
		return 0
	}
	v, err := time.ParseDuration(string(*d))
	if err != nil {
		return 0
	}
	return v
}
