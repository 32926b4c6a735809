package gateway

import (
	"fmt"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/skiff-dev/skiff/internal/gateway/dataplane"
)

// routeState is an HTTPRoute or GRPCRoute as translated.
type routeState struct {
	kind       string
	key        types.NamespacedName
	generation int64
	created    metav1.Time
	parentRefs []gwv1.ParentReference
	hostnames  []gwv1.Hostname
	order      int
	// build makes the data plane rules (once the translation has the
	// Services); it reports unresolved references.
	build    func(t *translation, r *routeState) []dataplane.Rule
	rules    []dataplane.Rule
	refError *refError
	parents  []gwv1.RouteParentStatus
}

func newRouteState(kind string, obj metav1.Object, refs []gwv1.ParentReference, hosts []gwv1.Hostname) *routeState {
	return &routeState{kind: kind, key: key(obj), generation: obj.GetGeneration(), created: obj.GetCreationTimestamp(), parentRefs: refs, hostnames: hosts}
}

// attach finds the listeners each of r's parentRefs names and that allow
// it, and writes the parent statuses of skiff's Gateways.
func (t *translation) attach(r *routeState) {
	r.rules = r.build(t, r)
	for _, ref := range r.parentRefs {
		if ptr.Deref(ref.Group, gwv1.GroupName) != gwv1.GroupName || ptr.Deref(ref.Kind, "Gateway") != "Gateway" {
			continue
		}
		gk := types.NamespacedName{Namespace: string(ptr.Deref(ref.Namespace, gwv1.Namespace(r.key.Namespace))), Name: string(ref.Name)}
		var g *gatewayState
		for _, cand := range t.gateways {
			if cand.key == gk {
				g = cand
			}
		}
		if g == nil {
			continue // not skiff's Gateway: its controller writes this parent's status
		}
		r.parents = append(r.parents, t.attachTo(r, g, ref))
	}
}

func (t *translation) attachTo(r *routeState, g *gatewayState, ref gwv1.ParentReference) gwv1.RouteParentStatus {
	accepted := func(ok bool, reason gwv1.RouteConditionReason, msg string) metav1.Condition {
		s := metav1.ConditionFalse
		if ok {
			s = metav1.ConditionTrue
		}
		return metav1.Condition{Type: string(gwv1.RouteConditionAccepted), Status: s, Reason: string(reason), Message: msg, ObservedGeneration: r.generation}
	}
	var named, allowed, matched int
	for _, l := range g.listeners {
		if (ref.SectionName != nil && *ref.SectionName != l.spec.Name) || (ref.Port != nil && *ref.Port != l.spec.Port) {
			continue
		}
		named++
		// A listener with unresolved references still counts its routes
		// (the spec asks it); only valid listeners serve them.
		if !l.attachable() || !t.allows(g.gw, l, r.kind, r.key.Namespace) {
			continue
		}
		allowed++
		hosts, ok := intersect(l.spec.Hostname, r.hostnames)
		if !ok {
			continue
		}
		matched++
		l.attached = append(l.attached, attachment{route: r, hostnames: hosts})
	}
	var acc metav1.Condition
	switch {
	case named == 0:
		acc = accepted(false, gwv1.RouteReasonNoMatchingParent, fmt.Sprintf("Gateway %s has no listener with that sectionName or port", g.key))
	case allowed == 0:
		acc = accepted(false, gwv1.RouteReasonNotAllowedByListeners, fmt.Sprintf("no listener of Gateway %s allows a %s from namespace %s", g.key, r.kind, r.key.Namespace))
	case matched == 0:
		acc = accepted(false, gwv1.RouteReasonNoMatchingListenerHostname, fmt.Sprintf("no listener of Gateway %s shares a hostname with the route", g.key))
	default:
		acc = accepted(true, gwv1.RouteReasonAccepted, fmt.Sprintf("attached to %d listener(s) of Gateway %s", matched, g.key))
	}
	resolved := metav1.Condition{Type: string(gwv1.RouteConditionResolvedRefs), Status: metav1.ConditionTrue, Reason: string(gwv1.RouteReasonResolvedRefs), ObservedGeneration: r.generation}
	if e := r.refError; e != nil {
		resolved.Status, resolved.Reason, resolved.Message = metav1.ConditionFalse, string(e.reason), e.msg
	}
	return gwv1.RouteParentStatus{ParentRef: ref, ControllerName: ControllerName, Conditions: []metav1.Condition{acc, resolved}}
}

// intersect is the hostnames a route answers on a listener: the listener's
// hostname narrows the route's, and false means they share none.
func intersect(listener *gwv1.Hostname, route []gwv1.Hostname) ([]string, bool) {
	if listener == nil || *listener == "" {
		out := make([]string, len(route))
		for i, h := range route {
			out[i] = string(h)
		}
		return out, true
	}
	l := string(*listener)
	if len(route) == 0 {
		return []string{l}, true
	}
	var out []string
	for _, h := range route {
		r := string(h)
		switch {
		case r == l:
			out = append(out, r)
		case wildcardCovers(l, r):
			out = append(out, r)
		case wildcardCovers(r, l):
			out = append(out, l)
		}
	}
	return out, len(out) > 0
}

// wildcardCovers says whether pattern "*.x" covers host (a name or a
// narrower wildcard).
func wildcardCovers(pattern, host string) bool {
	suffix, ok := strings.CutPrefix(pattern, "*")
	if !ok {
		return false
	}
	host = strings.TrimPrefix(host, "*")
	return strings.HasSuffix(host, suffix) && len(host) > len(suffix)
}

// dataplane is the route as a listener with these hostnames serves it.
func (r *routeState) dataplane(hostnames []string) dataplane.Route {
	return dataplane.Route{Name: strings.ToLower(r.kind) + "/" + r.key.String(), Hostnames: hostnames, Rules: r.rules, Order: r.order}
}
