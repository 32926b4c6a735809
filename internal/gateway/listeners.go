package gateway

import (
	"crypto/tls"
	"fmt"
	"net"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
)

const (
	kindHTTPRoute = "HTTPRoute"
	kindGRPCRoute = "GRPCRoute"
)

// gatewayState is one of skiff's Gateways as translated.
type gatewayState struct {
	gw        *gwv1.Gateway
	key       types.NamespacedName
	ip        string // the listeners bind it
	statusIP  string // status reports it
	addrErr   string // why the requested address cannot be used
	listeners []*listenerState
}

// listenerState is one Gateway listener: whether it is valid and what
// attached to it.
type listenerState struct {
	spec       gwv1.Listener
	address    string
	accepted   metav1.Condition
	resolved   metav1.Condition
	conflicted metav1.Condition
	kinds      []gwv1.RouteGroupKind
	certs      []tls.Certificate
	attached   []attachment
}

// attachment is a route on a listener, with the hostnames they share.
type attachment struct {
	route     *routeState
	hostnames []string
}

// attachable says whether routes may attach: accepted, not conflicted.
func (l *listenerState) attachable() bool {
	return l.accepted.Status == metav1.ConditionTrue && l.conflicted.Status == metav1.ConditionFalse
}

func (l *listenerState) valid() bool {
	return l.accepted.Status == metav1.ConditionTrue && l.resolved.Status == metav1.ConditionTrue && l.conflicted.Status == metav1.ConditionFalse
}

func (t *translation) gateway(gw *gwv1.Gateway) *gatewayState {
	g := &gatewayState{gw: gw, key: key(gw), ip: t.in.BindAddress(gw)}
	g.statusIP = g.ip
	if f := t.in.StatusAddress; f != nil && f(gw) != "" {
		g.statusIP = f(gw)
	}
	for _, a := range gw.Spec.Addresses {
		if a.Type != nil && *a.Type != gwv1.IPAddressType {
			g.addrErr = fmt.Sprintf("address type %s is not supported: use IPAddress", *a.Type)
			break
		}
		if net.ParseIP(a.Value) == nil {
			g.addrErr = fmt.Sprintf("address %q is not an IP address", a.Value)
			break
		}
		g.ip, g.statusIP = a.Value, a.Value
		break // one address: the listeners bind it
	}
	for _, spec := range gw.Spec.Listeners {
		g.listeners = append(g.listeners, t.listener(gw, g.ip, spec))
	}
	markConflicts(g.listeners)
	return g
}

func cond(t string, ok bool, reason gwv1.ListenerConditionReason, msg string, gen int64) metav1.Condition {
	s := metav1.ConditionFalse
	if ok {
		s = metav1.ConditionTrue
	}
	return metav1.Condition{Type: t, Status: s, Reason: string(reason), Message: msg, ObservedGeneration: gen}
}

func (t *translation) listener(gw *gwv1.Gateway, ip string, spec gwv1.Listener) *listenerState {
	gen := gw.Generation
	l := &listenerState{
		spec:       spec,
		address:    net.JoinHostPort(ip, strconv.Itoa(int(spec.Port))),
		accepted:   cond(string(gwv1.ListenerConditionAccepted), true, gwv1.ListenerReasonAccepted, "", gen),
		resolved:   cond(string(gwv1.ListenerConditionResolvedRefs), true, gwv1.ListenerReasonResolvedRefs, "", gen),
		conflicted: cond(string(gwv1.ListenerConditionConflicted), false, gwv1.ListenerReasonNoConflicts, "", gen),
	}
	switch spec.Protocol {
	case gwv1.HTTPProtocolType:
	case gwv1.HTTPSProtocolType:
		t.certificates(gw, l)
	default:
		l.accepted = cond(string(gwv1.ListenerConditionAccepted), false, gwv1.ListenerReasonUnsupportedProtocol,
			fmt.Sprintf("protocol %s is not supported: use HTTP or HTTPS", spec.Protocol), gen)
		return l
	}
	l.kinds = supportedKinds(spec.AllowedRoutes)
	if spec.AllowedRoutes != nil && len(spec.AllowedRoutes.Kinds) > len(l.kinds) {
		l.resolved = cond(string(gwv1.ListenerConditionResolvedRefs), false, gwv1.ListenerReasonInvalidRouteKinds,
			"allowedRoutes.kinds names a kind other than HTTPRoute and GRPCRoute", gen)
	}
	return l
}

// supportedKinds are the route kinds a listener takes: HTTPRoute and
// GRPCRoute unless allowedRoutes.kinds narrows them.
func supportedKinds(ar *gwv1.AllowedRoutes) []gwv1.RouteGroupKind {
	group := ptr.To(gwv1.Group(gwv1.GroupName))
	all := []gwv1.RouteGroupKind{{Group: group, Kind: kindHTTPRoute}, {Group: group, Kind: kindGRPCRoute}}
	if ar == nil || len(ar.Kinds) == 0 {
		return all
	}
	var out []gwv1.RouteGroupKind
	for _, k := range ar.Kinds {
		if (k.Group == nil || *k.Group == gwv1.GroupName) && (k.Kind == kindHTTPRoute || k.Kind == kindGRPCRoute) {
			out = append(out, gwv1.RouteGroupKind{Group: group, Kind: k.Kind})
		}
	}
	return out
}

// certificates loads an HTTPS listener's Secrets.
func (t *translation) certificates(gw *gwv1.Gateway, l *listenerState) {
	gen := gw.Generation
	fail := func(reason gwv1.ListenerConditionReason, format string, args ...any) {
		l.resolved = cond(string(gwv1.ListenerConditionResolvedRefs), false, reason, fmt.Sprintf(format, args...), gen)
	}
	tlsCfg := l.spec.TLS
	if tlsCfg == nil || len(tlsCfg.CertificateRefs) == 0 {
		fail(gwv1.ListenerReasonInvalidCertificateRef, "an HTTPS listener needs tls.certificateRefs")
		return
	}
	if tlsCfg.Mode != nil && *tlsCfg.Mode != gwv1.TLSModeTerminate {
		l.accepted = cond(string(gwv1.ListenerConditionAccepted), false, gwv1.ListenerReasonUnsupportedValue, "only tls.mode Terminate is supported on HTTPS", gen)
		return
	}
	for _, ref := range tlsCfg.CertificateRefs {
		if ptr.Deref(ref.Group, "") != "" || ptr.Deref(ref.Kind, "Secret") != "Secret" {
			fail(gwv1.ListenerReasonInvalidCertificateRef, "certificateRef %s is not a Secret", ref.Name)
			return
		}
		ns := string(ptr.Deref(ref.Namespace, gwv1.Namespace(gw.Namespace)))
		if ns != gw.Namespace && !t.granted(gwv1.GroupName, "Gateway", gw.Namespace, "", "Secret", ns, string(ref.Name)) {
			fail(gwv1.ListenerReasonRefNotPermitted, "Secret %s/%s is in another namespace and no ReferenceGrant there allows it", ns, ref.Name)
			return
		}
		s := t.secrets[types.NamespacedName{Namespace: ns, Name: string(ref.Name)}]
		if s == nil {
			fail(gwv1.ListenerReasonInvalidCertificateRef, "Secret %s/%s not found", ns, ref.Name)
			return
		}
		cert, err := tls.X509KeyPair(s.Data[corev1.TLSCertKey], s.Data[corev1.TLSPrivateKeyKey])
		if err != nil {
			fail(gwv1.ListenerReasonInvalidCertificateRef, "Secret %s/%s: tls.crt and tls.key: %v", ns, ref.Name, err)
			return
		}
		l.certs = append(l.certs, cert)
	}
}

// markConflicts flags listeners sharing a port with another protocol, or
// a protocol and hostname; the first listener keeps the port.
func markConflicts(ls []*listenerState) {
	for i, l := range ls {
		for _, prev := range ls[:i] {
			if prev.spec.Port != l.spec.Port || prev.accepted.Status != metav1.ConditionTrue {
				continue
			}
			gen := l.accepted.ObservedGeneration
			switch {
			case prev.spec.Protocol != l.spec.Protocol:
				l.conflicted = cond(string(gwv1.ListenerConditionConflicted), true, gwv1.ListenerReasonProtocolConflict,
					fmt.Sprintf("listener %s has port %d with protocol %s", prev.spec.Name, l.spec.Port, prev.spec.Protocol), gen)
			case ptr.Deref(prev.spec.Hostname, "") == ptr.Deref(l.spec.Hostname, ""):
				l.conflicted = cond(string(gwv1.ListenerConditionConflicted), true, gwv1.ListenerReasonHostnameConflict,
					fmt.Sprintf("listener %s has port %d and the same hostname", prev.spec.Name, l.spec.Port), gen)
			}
		}
	}
}

// allows says whether a route of kind in namespace ns may attach.
func (t *translation) allows(gw *gwv1.Gateway, l *listenerState, kind, ns string) bool {
	kindOK := false
	for _, k := range l.kinds {
		kindOK = kindOK || string(k.Kind) == kind
	}
	if !kindOK {
		return false
	}
	from := gwv1.NamespacesFromSame
	var selector *metav1.LabelSelector
	if ar := l.spec.AllowedRoutes; ar != nil && ar.Namespaces != nil {
		from = ptr.Deref(ar.Namespaces.From, gwv1.NamespacesFromSame)
		selector = ar.Namespaces.Selector
	}
	switch from {
	case gwv1.NamespacesFromAll:
		return true
	case gwv1.NamespacesFromSelector:
		sel, err := metav1.LabelSelectorAsSelector(selector)
		n := t.namespaces[ns]
		return err == nil && n != nil && sel.Matches(labels.Set(n.Labels))
	}
	return ns == gw.Namespace
}

// status is the Gateway's status: its address, conditions and listeners.
func (g *gatewayState) status() *gwv1.GatewayStatus {
	gen := g.gw.Generation
	st := &gwv1.GatewayStatus{}
	if g.addrErr != "" {
		meta.SetStatusCondition(&st.Conditions, metav1.Condition{Type: string(gwv1.GatewayConditionAccepted), Status: metav1.ConditionFalse,
			Reason: string(gwv1.GatewayReasonUnsupportedAddress), Message: g.addrErr, ObservedGeneration: gen})
		meta.SetStatusCondition(&st.Conditions, metav1.Condition{Type: string(gwv1.GatewayConditionProgrammed), Status: metav1.ConditionFalse,
			Reason: string(gwv1.GatewayReasonAddressNotUsable), Message: g.addrErr, ObservedGeneration: gen})
		return st
	}
	st.Addresses = []gwv1.GatewayStatusAddress{{Type: ptr.To(gwv1.IPAddressType), Value: g.statusIP}}
	invalid := 0
	for _, l := range g.listeners {
		programmed := cond(string(gwv1.ListenerConditionProgrammed), l.valid(), gwv1.ListenerReasonProgrammed, "", gen)
		if !l.valid() {
			invalid++
			programmed.Reason, programmed.Message = string(gwv1.ListenerReasonInvalid), "the listener is not valid: see its other conditions"
		}
		ls := gwv1.ListenerStatus{Name: l.spec.Name, SupportedKinds: l.kinds, AttachedRoutes: int32(len(l.attached)),
			Conditions: []metav1.Condition{l.accepted, l.resolved, l.conflicted, programmed}}
		if ls.SupportedKinds == nil {
			ls.SupportedKinds = []gwv1.RouteGroupKind{}
		}
		st.Listeners = append(st.Listeners, ls)
	}
	accepted := metav1.Condition{Type: string(gwv1.GatewayConditionAccepted), Status: metav1.ConditionTrue, Reason: string(gwv1.GatewayReasonAccepted), ObservedGeneration: gen}
	programmed := metav1.Condition{Type: string(gwv1.GatewayConditionProgrammed), Status: metav1.ConditionTrue,
		Reason: string(gwv1.GatewayReasonProgrammed), Message: "listening on " + g.ip, ObservedGeneration: gen}
	if invalid > 0 {
		accepted.Reason, accepted.Message = string(gwv1.GatewayReasonListenersNotValid), fmt.Sprintf("%d of %d listeners are not valid", invalid, len(g.listeners))
	}
	if invalid == len(g.listeners) {
		// Nothing to serve: the spec has the Gateway not accepted.
		accepted.Status = metav1.ConditionFalse
		programmed.Status, programmed.Reason, programmed.Message = metav1.ConditionFalse, string(gwv1.GatewayReasonInvalid), "no listener is valid: see the listeners' conditions"
	}
	meta.SetStatusCondition(&st.Conditions, accepted)
	meta.SetStatusCondition(&st.Conditions, programmed)
	return st
}

// addresses are the data plane addresses of the valid listeners.
func (g *gatewayState) addresses() map[gwv1.SectionName]string {
	out := map[gwv1.SectionName]string{}
	for _, l := range g.listeners {
		if l.valid() {
			out[l.spec.Name] = l.address
		}
	}
	return out
}
