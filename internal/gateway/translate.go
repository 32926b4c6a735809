// Package gateway translates Gateway API objects (GatewayClasses,
// Gateways, HTTPRoutes, GRPCRoutes, ReferenceGrants) and the Services and
// EndpointSlices they reach into the data plane's Config, and computes
// the status the spec asks of an implementation: which routes attach to
// which listeners, which references resolve, and why not. It is a pure
// function of its input, so the controller stays small and the rules are
// tested without a cluster.
package gateway

import (
	"cmp"
	"slices"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/skiff-dev/skiff/internal/gateway/dataplane"
)

// ControllerName is skiff's GatewayClass controller name.
const ControllerName gwv1.GatewayController = "skiff.dev/gateway"

// Input is the cluster state the gateway serves.
type Input struct {
	GatewayClasses  []gwv1.GatewayClass
	Gateways        []gwv1.Gateway
	HTTPRoutes      []gwv1.HTTPRoute
	GRPCRoutes      []gwv1.GRPCRoute
	ReferenceGrants []gwv1.ReferenceGrant
	Services        []corev1.Service
	EndpointSlices  []discoveryv1.EndpointSlice
	Secrets         []corev1.Secret
	Namespaces      []corev1.Namespace
	// BindAddress is the IP a Gateway's listeners bind, and the address
	// its status reports.
	BindAddress func(*gwv1.Gateway) string
	// StatusAddress, if set and not "", is the address status reports
	// instead (the gateway's Service, when it runs behind one and binds
	// every address of its pod).
	StatusAddress func(*gwv1.Gateway) string
}

// Output is the data plane's Config and the status of each object.
type Output struct {
	Config         dataplane.Config
	GatewayClasses map[string]metav1.Condition // Accepted, by class name
	Gateways       map[types.NamespacedName]*gwv1.GatewayStatus
	// Routes are the parent statuses this controller owns, by route.
	HTTPRoutes map[types.NamespacedName][]gwv1.RouteParentStatus
	GRPCRoutes map[types.NamespacedName][]gwv1.RouteParentStatus
	// ListenerAddresses says which data plane address each Gateway
	// listener is served on, so bind errors can be reported on them.
	ListenerAddresses map[types.NamespacedName]map[gwv1.SectionName]string
}

// Translate computes what the gateway serves and the status of in.
func Translate(in *Input) *Output {
	t := newTranslation(in)
	out := &Output{
		GatewayClasses:    map[string]metav1.Condition{},
		Gateways:          map[types.NamespacedName]*gwv1.GatewayStatus{},
		HTTPRoutes:        map[types.NamespacedName][]gwv1.RouteParentStatus{},
		GRPCRoutes:        map[types.NamespacedName][]gwv1.RouteParentStatus{},
		ListenerAddresses: map[types.NamespacedName]map[gwv1.SectionName]string{},
	}
	for _, gc := range in.GatewayClasses {
		if gc.Spec.ControllerName == ControllerName {
			out.GatewayClasses[gc.Name] = metav1.Condition{
				Type: string(gwv1.GatewayClassConditionStatusAccepted), Status: metav1.ConditionTrue,
				Reason: string(gwv1.GatewayClassReasonAccepted), Message: "handled by skiff's gateway", ObservedGeneration: gc.Generation,
			}
		}
	}
	for _, g := range t.gateways {
		out.Gateways[g.key] = g.status()
		out.ListenerAddresses[g.key] = g.addresses()
	}
	for _, r := range t.routes {
		if len(r.parents) == 0 {
			continue
		}
		if r.kind == kindGRPCRoute {
			out.GRPCRoutes[r.key] = r.parents
		} else {
			out.HTTPRoutes[r.key] = r.parents
		}
	}
	out.Config = t.config()
	return out
}

// translation is the state of one Translate call.
type translation struct {
	in         *Input
	gateways   []*gatewayState
	routes     []*routeState
	services   map[types.NamespacedName]*corev1.Service
	slices     map[types.NamespacedName][]*discoveryv1.EndpointSlice
	secrets    map[types.NamespacedName]*corev1.Secret
	namespaces map[string]*corev1.Namespace
}

func newTranslation(in *Input) *translation {
	t := &translation{
		in:         in,
		services:   map[types.NamespacedName]*corev1.Service{},
		slices:     map[types.NamespacedName][]*discoveryv1.EndpointSlice{},
		secrets:    map[types.NamespacedName]*corev1.Secret{},
		namespaces: map[string]*corev1.Namespace{},
	}
	for i := range in.Services {
		s := &in.Services[i]
		t.services[key(s)] = s
	}
	for i := range in.EndpointSlices {
		s := &in.EndpointSlices[i]
		if svc := s.Labels[discoveryv1.LabelServiceName]; svc != "" {
			k := types.NamespacedName{Namespace: s.Namespace, Name: svc}
			t.slices[k] = append(t.slices[k], s)
		}
	}
	for i := range in.Secrets {
		t.secrets[key(&in.Secrets[i])] = &in.Secrets[i]
	}
	for i := range in.Namespaces {
		t.namespaces[in.Namespaces[i].Name] = &in.Namespaces[i]
	}
	ours := map[string]bool{}
	for _, gc := range in.GatewayClasses {
		ours[gc.Name] = gc.Spec.ControllerName == ControllerName
	}
	for i := range in.Gateways {
		if gw := &in.Gateways[i]; ours[string(gw.Spec.GatewayClassName)] {
			t.gateways = append(t.gateways, t.gateway(gw))
		}
	}
	for i := range in.HTTPRoutes {
		t.routes = append(t.routes, httpRoute(&in.HTTPRoutes[i]))
	}
	for i := range in.GRPCRoutes {
		t.routes = append(t.routes, grpcRoute(&in.GRPCRoutes[i]))
	}
	// The spec's tie-break between routes: the oldest, then by name.
	slices.SortStableFunc(t.routes, func(a, b *routeState) int {
		return cmp.Or(a.created.Compare(b.created.Time), cmp.Compare(a.key.String(), b.key.String()))
	})
	for i, r := range t.routes {
		r.order = i
		t.attach(r)
	}
	return t
}

func key(o metav1.Object) types.NamespacedName {
	return types.NamespacedName{Namespace: o.GetNamespace(), Name: o.GetName()}
}

// config is the data plane's Config: one listener per bound address and
// port, holding every route attached to a Gateway listener there.
func (t *translation) config() dataplane.Config {
	byAddr := map[string]*dataplane.Listener{}
	var order []string
	for _, g := range t.gateways {
		for _, l := range g.listeners {
			if !l.valid() {
				continue
			}
			dl := byAddr[l.address]
			if dl == nil {
				dl = &dataplane.Listener{Address: l.address}
				byAddr[l.address] = dl
				order = append(order, l.address)
			}
			dl.Certificates = append(dl.Certificates, l.certs...)
			for _, a := range l.attached {
				dl.Routes = append(dl.Routes, a.route.dataplane(a.hostnames))
			}
		}
	}
	var cfg dataplane.Config
	slices.Sort(order)
	for _, a := range order {
		cfg.Listeners = append(cfg.Listeners, *byAddr[a])
	}
	return cfg
}
