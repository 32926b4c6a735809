package gateway

import (
	"regexp"

	"k8s.io/utils/ptr"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/skiff-dev/skiff/internal/gateway/dataplane"
)

func grpcRoute(gr *gwv1.GRPCRoute) *routeState {
	r := newRouteState(kindGRPCRoute, gr, gr.Spec.ParentRefs, gr.Spec.Hostnames)
	r.build = func(t *translation, r *routeState) []dataplane.Rule {
		var out []dataplane.Rule
		for _, rule := range gr.Spec.Rules {
			out = append(out, t.grpcRule(r, rule))
		}
		return out
	}
	return r
}

func (t *translation) grpcRule(r *routeState, rule gwv1.GRPCRouteRule) dataplane.Rule {
	out := dataplane.Rule{}
	for _, m := range rule.Matches {
		out.Matches = append(out.Matches, grpcMatch(m))
	}
	out.Filters = t.grpcFilters(r, rule.Filters)
	for _, br := range rule.BackendRefs {
		b := t.backend(r, br.BackendObjectReference, br.Weight, t.grpcFilters(r, br.Filters))
		b.H2C = true // gRPC is HTTP/2
		out.Backends = append(out.Backends, b)
	}
	return out
}

// grpcMatch matches a gRPC method by its HTTP/2 path, /service/method.
func grpcMatch(m gwv1.GRPCRouteMatch) dataplane.Match {
	out := dataplane.Match{PathType: dataplane.PathPrefix, Path: "/"}
	if mm := m.Method; mm != nil {
		svc, method := ptr.Deref(mm.Service, ""), ptr.Deref(mm.Method, "")
		regex := ptr.Deref(mm.Type, gwv1.GRPCMethodMatchExact) == gwv1.GRPCMethodMatchRegularExpression
		switch {
		case regex:
			out.PathType, out.Path = dataplane.PathRegex, "^/"+orAny(svc)+"/"+orAny(method)+"$"
		case svc != "" && method != "":
			out.PathType, out.Path = dataplane.PathExact, "/"+svc+"/"+method
		case svc != "":
			out.Path = "/" + svc
		case method != "":
			out.PathType, out.Path = dataplane.PathRegex, "^/[^/]+/"+regexp.QuoteMeta(method)+"$"
		}
	}
	for _, h := range m.Headers {
		out.Headers = append(out.Headers, dataplane.ValueMatch{Name: string(h.Name), Value: h.Value, Regex: ptr.Deref(h.Type, gwv1.GRPCHeaderMatchExact) == gwv1.GRPCHeaderMatchRegularExpression})
	}
	return out
}

func orAny(re string) string {
	if re == "" {
		return "[^/]+"
	}
	return "(?:" + re + ")"
}

func (t *translation) grpcFilters(r *routeState, fs []gwv1.GRPCRouteFilter) dataplane.Filters {
	var out dataplane.Filters
	for _, f := range fs {
		switch f.Type {
		case gwv1.GRPCRouteFilterRequestHeaderModifier:
			out.RequestHeaders = headerChanges(f.RequestHeaderModifier)
		case gwv1.GRPCRouteFilterResponseHeaderModifier:
			out.ResponseHeaders = headerChanges(f.ResponseHeaderModifier)
		case gwv1.GRPCRouteFilterRequestMirror:
			if m := f.RequestMirror; m != nil {
				mb := t.mirror(r, m.BackendRef, m.Percent, m.Fraction)
				mb.Backend.H2C = true
				out.Mirrors = append(out.Mirrors, mb)
			}
		default:
			r.fail(gwv1.RouteReasonUnsupportedValue, "filter type "+string(f.Type)+" is not supported by skiff's gateway")
		}
	}
	return out
}
