package gateway

import (
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/skiff-dev/skiff/internal/gateway/dataplane"
)

// h2cAppProtocol on a Service port says it speaks HTTP/2 without TLS.
const h2cAppProtocol = "kubernetes.io/h2c"

// refError is the first reference of a route that did not resolve.
type refError struct {
	reason gwv1.RouteConditionReason
	msg    string
}

func (r *routeState) fail(reason gwv1.RouteConditionReason, msg string) {
	if r.refError == nil {
		r.refError = &refError{reason: reason, msg: msg}
	}
}

// backend resolves a Service reference to its ready endpoints; a
// reference that does not resolve answers 500, as the spec says.
func (t *translation) backend(r *routeState, ref gwv1.BackendObjectReference, weight *int32, filters dataplane.Filters) dataplane.Backend {
	ns := string(ptr.Deref(ref.Namespace, gwv1.Namespace(r.key.Namespace)))
	port := ptr.Deref(ref.Port, 0)
	b := dataplane.Backend{Name: fmt.Sprintf("%s/%s:%d", ns, ref.Name, port), Weight: ptr.Deref(weight, 1), Filters: filters}
	fail := func(reason gwv1.RouteConditionReason, format string, args ...any) dataplane.Backend {
		r.fail(reason, fmt.Sprintf(format, args...))
		b.Status = 500
		return b
	}
	if ptr.Deref(ref.Group, "") != "" || ptr.Deref(ref.Kind, "Service") != "Service" {
		return fail(gwv1.RouteReasonInvalidKind, "backendRef %s is a %s: only Services are supported", ref.Name, ptr.Deref(ref.Kind, ""))
	}
	if ns != r.key.Namespace && !t.granted(gwv1.GroupName, r.kind, r.key.Namespace, "", "Service", ns, string(ref.Name)) {
		return fail(gwv1.RouteReasonRefNotPermitted, "Service %s/%s is in another namespace and no ReferenceGrant there allows it", ns, ref.Name)
	}
	svc := t.services[types.NamespacedName{Namespace: ns, Name: string(ref.Name)}]
	if svc == nil {
		return fail(gwv1.RouteReasonBackendNotFound, "Service %s/%s not found", ns, ref.Name)
	}
	i := slices.IndexFunc(svc.Spec.Ports, func(p corev1.ServicePort) bool { return p.Port == int32(port) })
	if i < 0 {
		return fail(gwv1.RouteReasonBackendNotFound, "Service %s/%s has no port %d", ns, ref.Name, port)
	}
	sp := svc.Spec.Ports[i]
	b.H2C = ptr.Deref(sp.AppProtocol, "") == h2cAppProtocol
	b.Endpoints = t.endpoints(types.NamespacedName{Namespace: ns, Name: svc.Name}, sp)
	if err := holding(svc, &b); err != nil {
		r.fail(gwv1.RouteReasonUnsupportedValue, fmt.Sprintf("Service %s/%s: %v", ns, svc.Name, err))
	}
	return b
}

// Annotations on a Service that tune how skiff's gateway sends requests
// to it (as Contour's and Istio's do): ModelServices set them on each
// revision's Service.
const (
	// AnnotationContainerConcurrency is the most requests one endpoint
	// gets at once (0 or absent: no limit).
	AnnotationContainerConcurrency = "gateway.skiff.dev/container-concurrency"
	// AnnotationHoldTimeout, a duration, makes the gateway hold requests
	// while the Service has no ready endpoint, each for up to this long.
	AnnotationHoldTimeout = "gateway.skiff.dev/hold-timeout"
	// AnnotationMaxHeldRequests bounds the requests held at once.
	AnnotationMaxHeldRequests = "gateway.skiff.dev/max-held-requests"
)

// defaultMaxHeld is the held requests' bound without the annotation.
const defaultMaxHeld = 1000

// holding reads a Service's annotations into b; a malformed one is
// ignored and named in the error.
func holding(svc *corev1.Service, b *dataplane.Backend) error {
	a := svc.Annotations
	var errs []error
	if v, ok := a[AnnotationContainerConcurrency]; ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			errs = append(errs, fmt.Errorf("annotation %s=%q is not a count of requests (0 or more)", AnnotationContainerConcurrency, v))
		} else {
			b.ContainerConcurrency = n
		}
	}
	v, ok := a[AnnotationHoldTimeout]
	if !ok {
		return errors.Join(errs...)
	}
	timeout, err := time.ParseDuration(v)
	if err != nil || timeout <= 0 {
		return errors.Join(append(errs, fmt.Errorf("annotation %s=%q is not a duration above 0, such as 300s", AnnotationHoldTimeout, v))...)
	}
	hold := &dataplane.Hold{Timeout: timeout, MaxHeld: defaultMaxHeld}
	if v, ok := a[AnnotationMaxHeldRequests]; ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			errs = append(errs, fmt.Errorf("annotation %s=%q is not a count of requests (1 or more)", AnnotationMaxHeldRequests, v))
		} else {
			hold.MaxHeld = n
		}
	}
	b.Hold = hold
	return errors.Join(errs...)
}

// endpoints are the ready addresses behind a Service port, sorted.
func (t *translation) endpoints(svc types.NamespacedName, sp corev1.ServicePort) []string {
	var out []string
	for _, s := range t.slices[svc] {
		var port int32
		for _, p := range s.Ports {
			if ptr.Deref(p.Name, "") == sp.Name && p.Port != nil {
				port = *p.Port
			}
		}
		if port == 0 {
			continue
		}
		for _, e := range s.Endpoints {
			if !ptr.Deref(e.Conditions.Ready, true) || len(e.Addresses) == 0 {
				continue
			}
			out = append(out, net.JoinHostPort(e.Addresses[0], strconv.Itoa(int(port))))
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// mirror resolves a RequestMirror's backend and share.
func (t *translation) mirror(r *routeState, ref gwv1.BackendObjectReference, percent *int32, fraction *gwv1.Fraction) dataplane.Mirror {
	pct := 100.0
	switch {
	case percent != nil:
		pct = float64(*percent)
	case fraction != nil && ptr.Deref(fraction.Denominator, 100) > 0:
		pct = 100 * float64(fraction.Numerator) / float64(ptr.Deref(fraction.Denominator, 100))
	}
	return dataplane.Mirror{Backend: t.backend(r, ref, ptr.To[int32](1), dataplane.Filters{}), Percent: pct}
}

// granted says whether a ReferenceGrant in toNS lets fromKind objects in
// fromNS refer to the named toKind object.
func (t *translation) granted(fromGroup, fromKind, fromNS, toGroup, toKind, toNS, toName string) bool {
	for _, g := range t.in.ReferenceGrants {
		if g.Namespace != toNS {
			continue
		}
		fromOK := slices.ContainsFunc(g.Spec.From, func(f gwv1.ReferenceGrantFrom) bool {
			return string(f.Group) == fromGroup && string(f.Kind) == fromKind && string(f.Namespace) == fromNS
		})
		toOK := slices.ContainsFunc(g.Spec.To, func(to gwv1.ReferenceGrantTo) bool {
			return string(to.Group) == toGroup && string(to.Kind) == toKind && (to.Name == nil || string(*to.Name) == toName)
		})
		if fromOK && toOK {
			return true
		}
	}
	return false
}
