// Package metricsapi serves the resource metrics API (metrics.k8s.io) with
// the upstream metrics-server, run in skiff's process: it scrapes the
// node's /metrics/resource every resolution period and answers `kubectl
// top` and the HPA controller, registered in the control plane as an
// APIService exactly as a metrics-server Deployment would be.
package metricsapi

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/spf13/pflag"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	apiregv1 "k8s.io/kube-aggregator/pkg/apis/apiregistration/v1"
	aggregator "k8s.io/kube-aggregator/pkg/client/clientset_generated/clientset"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/metrics-server/cmd/metrics-server/app/options"
)

// Config says where metrics-server listens and how it reaches the API
// and the node.
type Config struct {
	Kubeconfig string // admin: lists nodes and pods, scrapes the kubelet
	CAFile     string // verifies the kubelet's serving certificate
	CertDir    string // metrics-server's own serving certificate (self-signed)
	// Listen is an address the API server reaches (the pod network's
	// gateway, or the node's address); Port on it.
	Listen     net.IP
	Port       int
	Resolution time.Duration // scrape period (at least 10s)
}

// Names of the objects that register the API.
const (
	namespace   = "kube-system"
	serviceName = "metrics-server"
	apiService  = "v1beta1.metrics.k8s.io"
	managedBy   = "skiff"
)

func (c Config) args() []string {
	return []string{
		"--kubeconfig=" + c.Kubeconfig,
		"--authentication-kubeconfig=" + c.Kubeconfig,
		"--authorization-kubeconfig=" + c.Kubeconfig,
		"--bind-address=" + c.Listen.String(),
		"--secure-port=" + strconv.Itoa(c.Port),
		"--cert-dir=" + c.CertDir,
		"--kubelet-certificate-authority=" + c.CAFile,
		"--kubelet-use-node-status-port",
		"--kubelet-preferred-address-types=InternalIP,Hostname",
		"--metric-resolution=" + c.Resolution.String(),
	}
}

// Run registers the API and serves it until ctx ends.
func Run(ctx context.Context, c Config) error {
	o := options.NewOptions()
	fs := pflag.NewFlagSet("metrics-server", pflag.ContinueOnError)
	for _, f := range o.Flags().FlagSets {
		fs.AddFlagSet(f)
	}
	if err := fs.Parse(c.args()); err != nil {
		return fmt.Errorf("metrics-server flags: %w", err)
	}
	// Not o.Validate(): it also applies logging, which the control plane
	// in this process has done already (once per process).
	errs := append(o.KubeletClient.Validate(), o.GenericServerRunOptions.Validate()...)
	if c.Resolution < 10*time.Second {
		errs = append(errs, fmt.Errorf("resolution %s is under metrics-server's minimum of 10s", c.Resolution))
	}
	if len(errs) > 0 {
		return fmt.Errorf("metrics-server options: %w", errs[0])
	}
	cfg, err := o.ServerConfig()
	if err != nil {
		return fmt.Errorf("metrics-server: %w", err)
	}
	fixOpenAPI(cfg.Apiserver)
	srv, err := cfg.Complete()
	if err != nil {
		return fmt.Errorf("metrics-server: %w", err)
	}
	if err := register(ctx, c); err != nil {
		return fmt.Errorf("registering %s: %w", apiService, err)
	}
	return srv.RunUntil(ctx.Done())
}

// register points the APIService at this process: a selector-less
// Service whose EndpointSlice is the listen address (the API server's
// aggregator routes to endpoints).
func register(ctx context.Context, c Config) error {
	rest, err := clientcmd.BuildConfigFromFlags("", c.Kubeconfig)
	if err != nil {
		return err
	}
	kube, err := kubernetes.NewForConfig(rest)
	if err != nil {
		return err
	}
	agg, err := aggregator.NewForConfig(rest)
	if err != nil {
		return err
	}
	labels := map[string]string{"app.kubernetes.io/managed-by": managedBy}
	port := int32(c.Port)
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: serviceName, Namespace: namespace, Labels: labels},
		Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "https", Port: 443, TargetPort: intstr.FromInt32(port)}}},
	}
	if err := createOrUpdate(ctx, kube.CoreV1().Services(namespace).Get, kube.CoreV1().Services(namespace).Create, func(old *corev1.Service) (*corev1.Service, error) {
		old.Spec.Ports = svc.Spec.Ports
		return kube.CoreV1().Services(namespace).Update(ctx, old, metav1.UpdateOptions{})
	}, svc); err != nil {
		return err
	}
	sliceLabels := map[string]string{discoveryv1.LabelServiceName: serviceName, discoveryv1.LabelManagedBy: managedBy}
	ready := true
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: serviceName, Namespace: namespace, Labels: sliceLabels},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{c.Listen.String()}, Conditions: discoveryv1.EndpointConditions{Ready: &ready}}},
		Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("https"), Port: &port, Protocol: ptr.To(corev1.ProtocolTCP)}},
	}
	slices := kube.DiscoveryV1().EndpointSlices(namespace)
	if err := createOrUpdate(ctx, slices.Get, slices.Create, func(old *discoveryv1.EndpointSlice) (*discoveryv1.EndpointSlice, error) {
		old.Endpoints, old.Ports, old.Labels = slice.Endpoints, slice.Ports, sliceLabels
		return slices.Update(ctx, old, metav1.UpdateOptions{})
	}, slice); err != nil {
		return err
	}
	// As metrics-server's own manifest: its certificate is self-signed.
	as := &apiregv1.APIService{
		ObjectMeta: metav1.ObjectMeta{Name: apiService, Labels: labels},
		Spec: apiregv1.APIServiceSpec{
			Service: &apiregv1.ServiceReference{Namespace: namespace, Name: serviceName, Port: ptr.To(int32(443))},
			Group:   "metrics.k8s.io", Version: "v1beta1", InsecureSkipTLSVerify: true,
			GroupPriorityMinimum: 100, VersionPriority: 100,
		},
	}
	services := agg.ApiregistrationV1().APIServices()
	return createOrUpdate(ctx, services.Get, services.Create, func(old *apiregv1.APIService) (*apiregv1.APIService, error) {
		old.Spec = as.Spec
		return services.Update(ctx, old, metav1.UpdateOptions{})
	}, as)
}

// createOrUpdate creates obj, or updates the existing one of its name.
func createOrUpdate[T interface{ GetName() string }](ctx context.Context,
	get func(context.Context, string, metav1.GetOptions) (T, error),
	create func(context.Context, T, metav1.CreateOptions) (T, error),
	update func(T) (T, error), obj T) error {
	old, err := get(ctx, obj.GetName(), metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		_, err = create(ctx, obj, metav1.CreateOptions{})
		return err
	}
	if err != nil {
		return err
	}
	_, err = update(old)
	return err
}
