package gateway

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/skiff-dev/skiff/internal/gateway/dataplane"
)

// Builders for the objects of a translation.

func class() gwv1.GatewayClass {
	return gwv1.GatewayClass{ObjectMeta: metav1.ObjectMeta{Name: "skiff"}, Spec: gwv1.GatewayClassSpec{ControllerName: ControllerName}}
}

func gatewayOf(listeners ...gwv1.Listener) gwv1.Gateway {
	return gwv1.Gateway{ObjectMeta: metav1.ObjectMeta{Namespace: "infra", Name: "gw"}, Spec: gwv1.GatewaySpec{GatewayClassName: "skiff", Listeners: listeners}}
}

func httpListener(name string, port int32, hostname string, from gwv1.FromNamespaces) gwv1.Listener {
	l := gwv1.Listener{Name: gwv1.SectionName(name), Port: gwv1.PortNumber(port), Protocol: gwv1.HTTPProtocolType,
		AllowedRoutes: &gwv1.AllowedRoutes{Namespaces: &gwv1.RouteNamespaces{From: ptr.To(from)}}}
	if hostname != "" {
		l.Hostname = ptr.To(gwv1.Hostname(hostname))
	}
	return l
}

type routeWrapper struct{ gwv1.HTTPRoute }

func route(ns, name string) *routeWrapper {
	return &routeWrapper{gwv1.HTTPRoute{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: gwv1.HTTPRouteSpec{CommonRouteSpec: gwv1.CommonRouteSpec{ParentRefs: []gwv1.ParentReference{{Namespace: ptr.To[gwv1.Namespace]("infra"), Name: "gw"}}}}}}
}

func (w *routeWrapper) section(s string) *routeWrapper {
	w.Spec.ParentRefs[0].SectionName = ptr.To(gwv1.SectionName(s))
	return w
}

func (w *routeWrapper) hosts(hs ...gwv1.Hostname) *routeWrapper { w.Spec.Hostnames = hs; return w }

func (w *routeWrapper) backend(ns, name string, port, weight int32) *routeWrapper {
	ref := gwv1.HTTPBackendRef{BackendRef: gwv1.BackendRef{BackendObjectReference: gwv1.BackendObjectReference{Name: gwv1.ObjectName(name), Port: ptr.To(gwv1.PortNumber(port))}, Weight: ptr.To(weight)}}
	if ns != "" {
		ref.Namespace = ptr.To(gwv1.Namespace(ns))
	}
	if len(w.Spec.Rules) == 0 {
		w.Spec.Rules = []gwv1.HTTPRouteRule{{}}
	}
	w.Spec.Rules[0].BackendRefs = append(w.Spec.Rules[0].BackendRefs, ref)
	return w
}

func (w *routeWrapper) obj() gwv1.HTTPRoute { return *w.DeepCopy() }

func service(ns, name string, port int32) corev1.Service {
	return corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: port}}}}
}

// slice is an EndpointSlice of the Service with one endpoint per address;
// a "!" before an address makes it not ready.
func slice(ns, svc string, port int32, addrs ...string) discoveryv1.EndpointSlice {
	s := discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: svc + "-x", Labels: map[string]string{discoveryv1.LabelServiceName: svc}},
		Ports: []discoveryv1.EndpointPort{{Name: ptr.To("http"), Port: ptr.To(port)}}}
	for _, a := range addrs {
		ready := a[0] != '!'
		if !ready {
			a = a[1:]
		}
		s.Endpoints = append(s.Endpoints, discoveryv1.Endpoint{Addresses: []string{a}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(ready)}})
	}
	return s
}

func translate(in Input) *Output {
	in.GatewayClasses = append(in.GatewayClasses, class())
	in.BindAddress = func(*gwv1.Gateway) string { return "127.0.0.9" }
	return Translate(&in)
}

// parent is "Accepted-reason ResolvedRefs-reason" of a route's first parent.
func parent(out *Output, ns, name string) string {
	ps := out.HTTPRoutes[types.NamespacedName{Namespace: ns, Name: name}]
	if len(ps) == 0 {
		return "<no parent status>"
	}
	c := ps[0].Conditions
	return meta.FindStatusCondition(c, "Accepted").Reason + " " + meta.FindStatusCondition(c, "ResolvedRefs").Reason
}

func TestRouteAttachment(t *testing.T) {
	t.Parallel()
	gw := gatewayOf(httpListener("same", 80, "", gwv1.NamespacesFromSame), httpListener("all", 8080, "*.example.com", gwv1.NamespacesFromAll))
	svc, eps := service("apps", "web", 80), slice("apps", "web", 8080, "10.0.0.1", "!10.0.0.2", "10.0.0.3")
	tests := []struct {
		name  string
		route gwv1.HTTPRoute
		extra func(*Input)
		want  string
	}{
		{name: "allowed by the all-namespaces listener", route: route("apps", "r").backend("", "web", 80, 1).obj(), want: "Accepted ResolvedRefs"},
		{name: "the same-namespace listener refuses another namespace", route: route("apps", "r").section("same").backend("", "web", 80, 1).obj(), want: "NotAllowedByListeners ResolvedRefs"},
		{name: "no such section", route: route("apps", "r").section("nope").obj(), want: "NoMatchingParent ResolvedRefs"},
		{name: "hostnames that do not meet", route: route("apps", "r").section("all").hosts("foo.other.org").obj(), want: "NoMatchingListenerHostname ResolvedRefs"},
		{name: "missing Service", route: route("apps", "r").backend("", "nope", 80, 1).obj(), want: "Accepted BackendNotFound"},
		{name: "missing port", route: route("apps", "r").backend("", "web", 81, 1).obj(), want: "Accepted BackendNotFound"},
		{name: "another namespace without a grant", route: route("other", "r").backend("apps", "web", 80, 1).obj(), want: "Accepted RefNotPermitted"},
		{name: "another namespace with a grant", route: route("other", "r").backend("apps", "web", 80, 1).obj(), extra: func(in *Input) {
			in.ReferenceGrants = []gwv1.ReferenceGrant{{ObjectMeta: metav1.ObjectMeta{Namespace: "apps", Name: "g"}, Spec: gwv1.ReferenceGrantSpec{
				From: []gwv1.ReferenceGrantFrom{{Group: gwv1.GroupName, Kind: "HTTPRoute", Namespace: "other"}},
				To:   []gwv1.ReferenceGrantTo{{Group: "", Kind: "Service"}},
			}}}
		}, want: "Accepted ResolvedRefs"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := Input{Gateways: []gwv1.Gateway{gw}, HTTPRoutes: []gwv1.HTTPRoute{tt.route}, Services: []corev1.Service{svc}, EndpointSlices: []discoveryv1.EndpointSlice{eps}}
			if tt.extra != nil {
				tt.extra(&in)
			}
			out := translate(in)
			if got := parent(out, tt.route.Namespace, tt.route.Name); got != tt.want {
				t.Errorf("route status %q, want %q", got, tt.want)
			}
		})
	}
}

func TestDataPlaneConfig(t *testing.T) {
	t.Parallel()
	gw := gatewayOf(httpListener("all", 8080, "*.example.com", gwv1.NamespacesFromAll))
	r := route("apps", "r").hosts("models.example.com", "other.org").backend("", "a", 80, 80).backend("", "b", 80, 20).backend("", "missing", 80, 5)
	out := translate(Input{
		Gateways:   []gwv1.Gateway{gw},
		HTTPRoutes: []gwv1.HTTPRoute{r.obj()},
		Services:   []corev1.Service{service("apps", "a", 80), service("apps", "b", 80)},
		EndpointSlices: []discoveryv1.EndpointSlice{
			slice("apps", "a", 8080, "10.0.0.2", "!10.0.0.9", "10.0.0.1"),
			slice("apps", "b", 9090, "10.0.1.1"),
		},
	})
	want := dataplane.Config{Listeners: []dataplane.Listener{{
		Address: "127.0.0.9:8080",
		Routes: []dataplane.Route{{
			Name:      "httproute/apps/r",
			Hostnames: []string{"models.example.com"},
			Rules: []dataplane.Rule{{Backends: []dataplane.Backend{
				{Name: "apps/a:80", Weight: 80, Endpoints: []string{"10.0.0.1:8080", "10.0.0.2:8080"}},
				{Name: "apps/b:80", Weight: 20, Endpoints: []string{"10.0.1.1:9090"}},
				{Name: "apps/missing:80", Weight: 5, Status: 500},
			}}},
		}},
	}}}
	if diff := cmp.Diff(want, out.Config, cmp.AllowUnexported(dataplane.Match{}, dataplane.ValueMatch{})); diff != "" {
		t.Errorf("config (-want +got):\n%s", diff)
	}
	st := out.Gateways[types.NamespacedName{Namespace: "infra", Name: "gw"}]
	if st.Listeners[0].AttachedRoutes != 1 || st.Addresses[0].Value != "127.0.0.9" {
		t.Errorf("gateway status: attached %d, address %v", st.Listeners[0].AttachedRoutes, st.Addresses)
	}
}

func TestListenerValidity(t *testing.T) {
	t.Parallel()
	https := gwv1.Listener{Name: "https", Port: 443, Protocol: gwv1.HTTPSProtocolType,
		TLS: &gwv1.ListenerTLSConfig{CertificateRefs: []gwv1.SecretObjectReference{{Name: "missing"}}}}
	tcp := gwv1.Listener{Name: "tcp", Port: 9000, Protocol: gwv1.TCPProtocolType}
	dup := httpListener("dup", 80, "", gwv1.NamespacesFromSame)
	out := translate(Input{Gateways: []gwv1.Gateway{gatewayOf(httpListener("web", 80, "", gwv1.NamespacesFromSame), dup, https, tcp)}})
	got := map[string]string{}
	for _, l := range out.Gateways[types.NamespacedName{Namespace: "infra", Name: "gw"}].Listeners {
		for _, c := range l.Conditions {
			if c.Status != metav1.ConditionTrue && c.Type != "Conflicted" || c.Type == "Conflicted" && c.Status == metav1.ConditionTrue {
				got[string(l.Name)] += c.Type + "=" + c.Reason + " "
			}
		}
	}
	want := map[string]string{
		"dup":   "Conflicted=HostnameConflict Programmed=Invalid ",
		"https": "ResolvedRefs=InvalidCertificateRef Programmed=Invalid ",
		"tcp":   "Accepted=UnsupportedProtocol Programmed=Invalid ",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("listener problems (-want +got):\n%s", diff)
	}
	if n := len(out.Config.Listeners); n != 1 {
		t.Errorf("%d data plane listeners, want only the valid one", n)
	}
}

func TestIntersect(t *testing.T) {
	t.Parallel()
	tests := []struct {
		listener string
		route    []gwv1.Hostname
		want     []string
		ok       bool
	}{
		{listener: "", route: nil, want: []string{}, ok: true},
		{listener: "*.example.com", route: nil, want: []string{"*.example.com"}, ok: true},
		{listener: "*.example.com", route: []gwv1.Hostname{"a.example.com", "example.com", "*.b.example.com"}, want: []string{"a.example.com", "*.b.example.com"}, ok: true},
		{listener: "a.example.com", route: []gwv1.Hostname{"*.example.com"}, want: []string{"a.example.com"}, ok: true},
		{listener: "a.example.com", route: []gwv1.Hostname{"b.example.com"}, ok: false},
	}
	for _, tt := range tests {
		var l *gwv1.Hostname
		if tt.listener != "" {
			l = ptr.To(gwv1.Hostname(tt.listener))
		}
		got, ok := intersect(l, tt.route)
		if ok != tt.ok || (ok && !cmp.Equal(tt.want, got)) {
			t.Errorf("intersect(%q, %v) = %v, %v; want %v, %v", tt.listener, tt.route, got, ok, tt.want, tt.ok)
		}
	}
}

func TestHoldingAnnotations(t *testing.T) {
	t.Parallel()
	gw := gatewayOf(httpListener("all", 8080, "", gwv1.NamespacesFromAll))
	annotated := func(a map[string]string) corev1.Service {
		s := service("apps", "a", 80)
		s.Annotations = a
		return s
	}
	tests := []struct {
		name        string
		annotations map[string]string
		want        dataplane.Backend
		status      string
	}{
		{name: "none", want: dataplane.Backend{}, status: "Accepted ResolvedRefs"},
		{name: "a limit and a hold", annotations: map[string]string{AnnotationContainerConcurrency: "2", AnnotationHoldTimeout: "90s", AnnotationMaxHeldRequests: "7"},
			want: dataplane.Backend{ContainerConcurrency: 2, Hold: &dataplane.Hold{Timeout: 90 * time.Second, MaxHeld: 7}}, status: "Accepted ResolvedRefs"},
		{name: "a hold with the default bound", annotations: map[string]string{AnnotationHoldTimeout: "5m"},
			want: dataplane.Backend{Hold: &dataplane.Hold{Timeout: 5 * time.Minute, MaxHeld: defaultMaxHeld}}, status: "Accepted ResolvedRefs"},
		{name: "malformed ones are named and left out", annotations: map[string]string{AnnotationContainerConcurrency: "-1", AnnotationHoldTimeout: "soon"},
			want: dataplane.Backend{}, status: "Accepted UnsupportedValue"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := translate(Input{Gateways: []gwv1.Gateway{gw}, HTTPRoutes: []gwv1.HTTPRoute{route("apps", "r").backend("", "a", 80, 1).obj()},
				Services: []corev1.Service{annotated(tt.annotations)}})
			b := out.Config.Listeners[0].Routes[0].Rules[0].Backends[0]
			got := dataplane.Backend{ContainerConcurrency: b.ContainerConcurrency, Hold: b.Hold}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("backend (-want +got):\n%s", diff)
			}
			if got := parent(out, "apps", "r"); got != tt.status {
				t.Errorf("route status %q, want %q", got, tt.status)
			}
		})
	}
}
