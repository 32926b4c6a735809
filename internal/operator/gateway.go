package operator

import (
	"context"
	"fmt"
	"hash/fnv"
	"net"
	"net/http"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	gwcontroller "github.com/skiff-dev/skiff/internal/controllers/gateway"
	"github.com/skiff-dev/skiff/internal/gateway"
	"github.com/skiff-dev/skiff/internal/gateway/dataplane"
)

// GatewayOptions configure skiff's gateway.
type GatewayOptions struct {
	// InstallCRDs applies the Gateway API's standard CRDs first.
	InstallCRDs bool
	// Default, if set, is a Gateway made (or brought back) at start.
	Default *DefaultGateway
	// MetricsAddress serves the data plane's Prometheus metrics; "" is off.
	MetricsAddress string
	// BindAddress is the IP a Gateway without spec.addresses listens on.
	BindAddress func(*gwv1.Gateway) string
	// AddressService, if set, is the Service in front of the gateway,
	// whose address Gateways without spec.addresses report.
	AddressService *types.NamespacedName
}

// DefaultGateway is the Gateway skiff up answers on, of GatewayClass
// skiff.
type DefaultGateway struct {
	Namespace, Name string
	// Address is its spec.addresses; "" leaves the address to the gateway.
	Address string
	Port    int32
}

// GatewayClassName is the GatewayClass of skiff's gateway.
const GatewayClassName = "skiff"

// RunGateway runs the gateway (its controller and data plane) until ctx
// ends; ready is called once it has its first view of the cluster.
func RunGateway(ctx context.Context, cfg *rest.Config, o GatewayOptions, ready func()) error {
	scheme, err := Scheme()
	if err != nil {
		return err
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return err
	}
	if o.InstallCRDs {
		crds, err := GatewayAPICRDs()
		if err != nil {
			return err
		}
		if err := applyCRDs(ctx, c, crds); err != nil {
			return err
		}
	}
	if o.Default != nil {
		if err := applyDefaultGateway(ctx, c, o.Default); err != nil {
			return err
		}
	}
	ctrl.SetLogger(logr.FromContextOrDiscard(ctx))
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:  scheme,
		Metrics: metricsserver.Options{BindAddress: "0"},
		Cache: cache.Options{ByObject: map[client.Object]cache.ByObject{
			// Only certificates, not every Secret of the cluster.
			&corev1.Secret{}: {Field: fields.OneTermEqualSelector("type", string(corev1.SecretTypeTLS))},
		}},
	})
	if err != nil {
		return fmt.Errorf("gateway controller manager: %w", err)
	}
	dp := dataplane.New(logr.FromContextOrDiscard(ctx).WithName("gateway"))
	defer func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = dp.Close(sctx)
	}()
	bind := o.BindAddress
	if bind == nil {
		bind = LoopbackAddress
	}
	r := &gwcontroller.Reconciler{Client: mgr.GetClient(), DataPlane: dp, BindAddress: bind, AddressService: o.AddressService}
	if err := r.SetupWithManager(mgr); err != nil {
		return fmt.Errorf("gateway controller: %w", err)
	}
	if o.MetricsAddress != "" {
		stop, err := serveMetrics(o.MetricsAddress, dp)
		if err != nil {
			return err
		}
		defer stop()
	}
	go func() {
		if mgr.GetCache().WaitForCacheSync(ctx) {
			ready()
		}
	}()
	return mgr.Start(ctx)
}

// applyDefaultGateway makes the GatewayClass skiff and the default
// Gateway: one HTTP listener that takes routes from every namespace.
func applyDefaultGateway(ctx context.Context, c client.Client, d *DefaultGateway) error {
	ns := &corev1.Namespace{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"}, ObjectMeta: metav1.ObjectMeta{Name: d.Namespace}}
	class := &gwv1.GatewayClass{
		TypeMeta:   metav1.TypeMeta{APIVersion: gwv1.GroupVersion.String(), Kind: "GatewayClass"},
		ObjectMeta: metav1.ObjectMeta{Name: GatewayClassName},
		Spec: gwv1.GatewayClassSpec{
			ControllerName: gateway.ControllerName,
			Description:    ptr.To("skiff's own gateway: HTTP and HTTPS, HTTPRoute and GRPCRoute"),
		},
	}
	gw := &gwv1.Gateway{
		TypeMeta:   metav1.TypeMeta{APIVersion: gwv1.GroupVersion.String(), Kind: "Gateway"},
		ObjectMeta: metav1.ObjectMeta{Namespace: d.Namespace, Name: d.Name},
		Spec: gwv1.GatewaySpec{
			GatewayClassName: GatewayClassName,
			Listeners: []gwv1.Listener{{
				Name: "http", Protocol: gwv1.HTTPProtocolType, Port: gwv1.PortNumber(d.Port),
				AllowedRoutes: &gwv1.AllowedRoutes{Namespaces: &gwv1.RouteNamespaces{From: ptr.To(gwv1.NamespacesFromAll)}},
			}},
		},
	}
	if d.Address != "" {
		gw.Spec.Addresses = []gwv1.GatewaySpecAddress{{Type: ptr.To(gwv1.IPAddressType), Value: d.Address}}
	}
	objs := []client.Object{class, gw}
	// A gateway in a cluster may read namespaces but not make them.
	if err := c.Get(ctx, client.ObjectKeyFromObject(ns), &corev1.Namespace{}); err != nil {
		objs = append([]client.Object{ns}, objs...)
	}
	for _, o := range objs {
		if err := c.Patch(ctx, o, client.Apply, client.FieldOwner(fieldOwner), client.ForceOwnership); err != nil { //nolint:staticcheck // a typed object applies as it is
			return fmt.Errorf("apply %s %s: %w", o.GetObjectKind().GroupVersionKind().Kind, client.ObjectKeyFromObject(o), err)
		}
	}
	return nil
}

// LoopbackAddress gives each Gateway an address of its own in
// 127.77.0.0/16, so Gateways with the same port do not collide on the
// machine (any 127/8 address reaches the loopback device on Linux).
func LoopbackAddress(gw *gwv1.Gateway) string {
	h := fnv.New32a()
	h.Write([]byte(gw.Namespace + "/" + gw.Name))
	n := h.Sum32()%65534 + 1
	return net.IPv4(127, 77, byte(n>>8), byte(n)).String()
}

func serveMetrics(addr string, dp *dataplane.Gateway) (func(), error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("gateway metrics on %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", dp.Metrics())
	// What the ModelService autoscaler reads: requests and concurrency by
	// backend, and wakes of backends at zero.
	mux.Handle("/stats", dp.Stats())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }() // ends with Close
	return func() { _ = srv.Close() }, nil
}
