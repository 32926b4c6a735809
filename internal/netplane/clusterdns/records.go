package clusterdns

import (
	"net/netip"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/labels"
	corelisters "k8s.io/client-go/listers/core/v1"
	discoverylisters "k8s.io/client-go/listers/discovery/v1"
)

// answer is what a cluster name resolves to.
type answer struct {
	addrs []netip.Addr
	cname string // ExternalName services
	srv   []srvTarget
	found bool // the name exists (possibly without records of the type)
}

type srvTarget struct {
	target string
	port   uint16
}

// resolver answers names below the cluster domain from listers.
type resolver struct {
	domain    string // "cluster.local"
	services  corelisters.ServiceLister
	endpoints discoverylisters.EndpointSliceLister
	// live, when set, reads a Service the informer has not delivered yet,
	// so that a Service's name answers from the first query after it is
	// created (a pod started right after it may ask within the watch's
	// delay); nil when absent.
	live func(ns, name string) *corev1.Service
}

// lookup resolves a lower-case fully qualified name without the trailing
// dot, already known to end in r.domain.
func (r *resolver) lookup(name string) answer {
	rest := strings.TrimSuffix(strings.TrimSuffix(name, r.domain), ".")
	labels := strings.Split(rest, ".")
	if rest == "" {
		return answer{found: true}
	}
	n := len(labels)
	switch labels[n-1] {
	case "pod":
		if n < 3 {
			return answer{found: true} // pod, <ns>.pod: empty non-terminals
		}
		// <a-b-c-d>.<ns>.pod: the address spelled in the name, as
		// CoreDNS's "pods insecure".
		a, err := netip.ParseAddr(strings.ReplaceAll(labels[0], "-", "."))
		if n > 3 || err != nil || !a.Is4() {
			return answer{}
		}
		return answer{addrs: []netip.Addr{a}, found: true}
	case "svc":
		switch {
		case n < 3:
			return answer{found: true}
		case n == 3: // <svc>.<ns>.svc
			return r.service(labels[1], labels[0])
		case n == 4: // <hostname>.<svc>.<ns>.svc: a headless Service's endpoint
			return r.endpointHost(labels[2], labels[1], labels[0])
		case n == 5 && strings.HasPrefix(labels[0], "_") && strings.HasPrefix(labels[1], "_"):
			return r.srv(labels[3], labels[2], labels[0][1:], labels[1][1:])
		}
	}
	return answer{}
}

func (r *resolver) service(ns, name string) answer {
	svc, err := r.services.Services(ns).Get(name)
	if err != nil && r.live != nil {
		svc, err = r.live(ns, name), nil
	}
	if err != nil || svc == nil {
		return answer{}
	}
	switch {
	case svc.Spec.Type == corev1.ServiceTypeExternalName:
		return answer{cname: strings.TrimSuffix(svc.Spec.ExternalName, ".") + ".", found: true}
	case svc.Spec.ClusterIP == corev1.ClusterIPNone:
		var addrs []netip.Addr
		for _, ep := range r.readyEndpoints(ns, name) {
			addrs = append(addrs, ep.addrs...)
		}
		return answer{addrs: addrs, found: true}
	}
	a, err := netip.ParseAddr(svc.Spec.ClusterIP)
	if err != nil {
		return answer{found: true}
	}
	return answer{addrs: []netip.Addr{a}, found: true}
}

func (r *resolver) endpointHost(ns, svc, host string) answer {
	for _, ep := range r.readyEndpoints(ns, svc) {
		if ep.hostname == host || ep.dashed() == host {
			return answer{addrs: ep.addrs, found: true}
		}
	}
	return answer{}
}

// srv answers _<port>._<proto>.<svc>.<ns>.svc: the Service's name for a
// ClusterIP one, each ready endpoint's for a headless one.
func (r *resolver) srv(ns, name, port, proto string) answer {
	svc, err := r.services.Services(ns).Get(name)
	if err != nil {
		return answer{}
	}
	fqdn := name + "." + ns + ".svc." + r.domain + "."
	var out []srvTarget
	for _, p := range svc.Spec.Ports {
		if !strings.EqualFold(p.Name, port) || !strings.EqualFold(string(p.Protocol), proto) {
			continue
		}
		if svc.Spec.ClusterIP != corev1.ClusterIPNone {
			out = append(out, srvTarget{target: fqdn, port: uint16(p.Port)})
			continue
		}
		for _, ep := range r.readyEndpoints(ns, name) {
			if epPort, ok := ep.ports[p.Name]; ok {
				host := ep.hostname
				if host == "" {
					host = ep.dashed()
				}
				out = append(out, srvTarget{target: host + "." + fqdn, port: epPort})
			}
		}
	}
	if len(out) == 0 {
		return answer{}
	}
	return answer{srv: out, found: true}
}

type endpoint struct {
	addrs    []netip.Addr
	hostname string
	ports    map[string]uint16
}

// dashed is the endpoint's first address written as a DNS label.
func (e endpoint) dashed() string {
	if len(e.addrs) == 0 {
		return ""
	}
	return strings.ReplaceAll(e.addrs[0].String(), ".", "-")
}

// readyEndpoints lists the Service's ready IPv4 endpoints (or all, for a
// Service that publishes not-ready addresses).
func (r *resolver) readyEndpoints(ns, svc string) []endpoint {
	sel := labels.SelectorFromSet(labels.Set{discoveryv1.LabelServiceName: svc})
	slices, err := r.endpoints.EndpointSlices(ns).List(sel)
	if err != nil {
		return nil
	}
	publishAll := false
	if s, err := r.services.Services(ns).Get(svc); err == nil {
		publishAll = s.Spec.PublishNotReadyAddresses
	}
	var out []endpoint
	for _, sl := range slices {
		if sl.AddressType != discoveryv1.AddressTypeIPv4 {
			continue
		}
		ports := map[string]uint16{}
		for _, p := range sl.Ports {
			if p.Port != nil {
				name := ""
				if p.Name != nil {
					name = *p.Name
				}
				ports[name] = uint16(*p.Port)
			}
		}
		for _, ep := range sl.Endpoints {
			if !publishAll && ep.Conditions.Ready != nil && !*ep.Conditions.Ready {
				continue
			}
			e := endpoint{ports: ports}
			if ep.Hostname != nil {
				e.hostname = *ep.Hostname
			}
			for _, a := range ep.Addresses {
				if ip, err := netip.ParseAddr(a); err == nil {
					e.addrs = append(e.addrs, ip)
				}
			}
			out = append(out, e)
		}
	}
	return out
}
