// Package gateway is the controller of skiff's Gateway API
// implementation: on any change to the objects a route may depend on, it
// translates them all (internal/gateway), hands the result to the data
// plane, and writes the status of the GatewayClasses, Gateways and routes
// it handles. One work item covers everything, so a burst of changes
// costs one translation.
package gateway

import (
	"context"
	"fmt"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/skiff-dev/skiff/internal/gateway"
	"github.com/skiff-dev/skiff/internal/gateway/dataplane"
)

// DataPlane is where the translated routes go.
type DataPlane interface {
	Apply(dataplane.Config) map[string]error
}

// Reconciler keeps the data plane and the status of Gateway API objects
// in line with the cluster.
type Reconciler struct {
	Client    client.Client
	DataPlane DataPlane
	// BindAddress is the IP a Gateway without spec.addresses listens on.
	BindAddress func(*gwv1.Gateway) string
	// AddressService, if set, is the Service in front of the gateway's
	// pods: its load balancer IP (or cluster IP) is the address status
	// reports for Gateways without spec.addresses.
	AddressService *types.NamespacedName
}

// everything is the one work item.
var everything = ctrl.Request{NamespacedName: types.NamespacedName{Name: "gateway-api"}}

// +kubebuilder:rbac:groups=gateway.networking.k8s.io,resources=gatewayclasses;gateways;httproutes;grpcroutes;referencegrants,verbs=get;list;watch
// +kubebuilder:rbac:groups=gateway.networking.k8s.io,resources=gatewayclasses/status;gateways/status;httproutes/status;grpcroutes/status,verbs=get;update;patch
// +kubebuilder:rbac:groups="",resources=services;secrets;namespaces,verbs=get;list;watch
// +kubebuilder:rbac:groups=discovery.k8s.io,resources=endpointslices,verbs=get;list;watch
// skiff gateway --default-gateway makes its GatewayClass and Gateway:
// +kubebuilder:rbac:groups=gateway.networking.k8s.io,resources=gatewayclasses;gateways,verbs=create;patch

// SetupWithManager watches every kind the translation reads.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	all := handler.EnqueueRequestsFromMapFunc(func(context.Context, client.Object) []ctrl.Request { return []ctrl.Request{everything} })
	b := ctrl.NewControllerManagedBy(mgr).Named("gateway").For(&gwv1.GatewayClass{})
	for _, o := range []client.Object{
		&gwv1.Gateway{}, &gwv1.HTTPRoute{}, &gwv1.GRPCRoute{}, &gwv1.ReferenceGrant{},
		&corev1.Service{}, &discoveryv1.EndpointSlice{}, &corev1.Secret{}, &corev1.Namespace{},
	} {
		b = b.Watches(o, all)
	}
	return b.Complete(r)
}

// Reconcile translates the whole cluster's Gateway API objects.
func (r *Reconciler) Reconcile(ctx context.Context, _ ctrl.Request) (ctrl.Result, error) {
	in, err := r.input(ctx)
	if err != nil {
		return ctrl.Result{}, err
	}
	out := gateway.Translate(in)
	bindErrs := r.DataPlane.Apply(out.Config)
	for addr, err := range bindErrs {
		logr.FromContextOrDiscard(ctx).Error(err, "gateway listener not served", "address", addr)
	}
	return ctrl.Result{}, r.writeStatus(ctx, in, out, bindErrs)
}

func (r *Reconciler) input(ctx context.Context) (*gateway.Input, error) {
	in := &gateway.Input{BindAddress: r.BindAddress}
	var (
		classes   gwv1.GatewayClassList
		gateways  gwv1.GatewayList
		http      gwv1.HTTPRouteList
		grpc      gwv1.GRPCRouteList
		grants    gwv1.ReferenceGrantList
		services  corev1.ServiceList
		endpoints discoveryv1.EndpointSliceList
		secrets   corev1.SecretList
		nss       corev1.NamespaceList
	)
	for _, l := range []client.ObjectList{&classes, &gateways, &http, &grpc, &grants, &services, &endpoints, &secrets, &nss} {
		if err := r.Client.List(ctx, l); err != nil {
			return nil, fmt.Errorf("list %T: %w", l, err)
		}
	}
	in.GatewayClasses, in.Gateways, in.HTTPRoutes, in.GRPCRoutes = classes.Items, gateways.Items, http.Items, grpc.Items
	in.ReferenceGrants, in.Services, in.EndpointSlices, in.Secrets, in.Namespaces = grants.Items, services.Items, endpoints.Items, secrets.Items, nss.Items
	if key := r.AddressService; key != nil {
		addr := serviceAddress(services.Items, *key)
		in.StatusAddress = func(*gwv1.Gateway) string { return addr }
	}
	return in, nil
}

// serviceAddress is where a Service is reached from outside: its load
// balancer's IP, else its cluster IP; "" while it has neither.
func serviceAddress(svcs []corev1.Service, key types.NamespacedName) string {
	for _, s := range svcs {
		if s.Namespace != key.Namespace || s.Name != key.Name {
			continue
		}
		for _, in := range s.Status.LoadBalancer.Ingress {
			if in.IP != "" {
				return in.IP
			}
		}
		if s.Spec.ClusterIP != corev1.ClusterIPNone {
			return s.Spec.ClusterIP
		}
	}
	return ""
}
