package cli

import (
	"context"
	"fmt"
	"net"
	"strings"

	"github.com/go-logr/logr"
	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/skiff-dev/skiff/internal/instance"
	"github.com/skiff-dev/skiff/internal/operator"
)

// GatewayOptions are skiff gateway's flags.
type GatewayOptions struct {
	g          *globals
	ctx        context.Context
	Kubeconfig string
	LogFormat  string
	// BindAddress is the IP Gateways without spec.addresses listen on.
	BindAddress string
	// AddressService is --address-service, namespace/name.
	AddressService string
	// DefaultGateway is --default-gateway, namespace/name; DefaultPort its
	// listener's port.
	DefaultGateway string
	DefaultPort    int32
	Gateway        operator.GatewayOptions
}

// NewCmdGateway builds skiff gateway; runF, if not nil, runs instead of
// gatewayRun.
func NewCmdGateway(g *globals, runF func(*GatewayOptions) error) *cobra.Command {
	opts := &GatewayOptions{g: g, LogFormat: "text", BindAddress: "0.0.0.0", DefaultPort: 8080}
	cmd := &cobra.Command{
		Use:   "gateway",
		Short: "Run skiff's Gateway API gateway against any Kubernetes cluster",
		Long: `Serve the Gateways of GatewayClass skiff (controller skiff.dev/gateway) and their
HTTPRoutes and GRPCRoutes, as skiff up does inside: the same translator, data plane and
status. In a pod (deploy/gateway) it binds every address of the pod and reports its
Service's address in the Gateways' status; its Prometheus metrics (requests per route,
backend and code, latency histograms) are what a ModelService's rollout analysis reads.`,
		Example: `  # in a pod, behind the Service skiff-system/skiff-gateway
  skiff gateway --address-service skiff-system/skiff-gateway --default-gateway skiff-system/skiff
  # from a laptop, against the kubeconfig's cluster, on loopback
  skiff gateway --bind-address 127.0.0.1`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts.ctx = cmd.Context()
			if runF != nil {
				return runF(opts)
			}
			return gatewayRun(opts)
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.Kubeconfig, "kubeconfig", "", "kubeconfig of the cluster (default: $KUBECONFIG, ~/.kube/config, or the pod's service account)")
	f.BoolVar(&opts.Gateway.InstallCRDs, "install-crds", false, "apply the Gateway API's standard CRDs first (needs the right to write CRDs)")
	f.StringVar(&opts.Gateway.MetricsAddress, "metrics-address", ":10252", "where the gateway's /metrics listens (empty: off)")
	f.StringVar(&opts.BindAddress, "bind-address", opts.BindAddress, "the IP that listeners of Gateways without spec.addresses bind")
	f.StringVar(&opts.AddressService, "address-service", "", "a Service (namespace/name) in front of the gateway: Gateways without spec.addresses report its load balancer or cluster IP (default: the bind address)")
	f.StringVar(&opts.DefaultGateway, "default-gateway", "", "make the GatewayClass skiff and this Gateway (namespace/name), one HTTP listener on --default-port open to routes of every namespace")
	f.Int32Var(&opts.DefaultPort, "default-port", opts.DefaultPort, "the port of --default-gateway's listener")
	f.StringVar(&opts.LogFormat, "log-format", opts.LogFormat, "log format on stderr: text or json")
	return cmd
}

// complete checks the flags and fills in the gateway's options.
func (opts *GatewayOptions) complete() error {
	ip := net.ParseIP(opts.BindAddress)
	if ip == nil {
		return fmt.Errorf("--bind-address %q: give an IP address, e.g. 0.0.0.0 or 127.0.0.1", opts.BindAddress)
	}
	opts.Gateway.BindAddress = func(*gwv1.Gateway) string { return ip.String() }
	if opts.AddressService != "" {
		key, err := namespacedName("--address-service", opts.AddressService)
		if err != nil {
			return err
		}
		opts.Gateway.AddressService = &key
	}
	if opts.DefaultGateway != "" {
		key, err := namespacedName("--default-gateway", opts.DefaultGateway)
		if err != nil {
			return err
		}
		if opts.DefaultPort < 1 || opts.DefaultPort > 65535 {
			return fmt.Errorf("--default-port %d: give a port from 1 to 65535", opts.DefaultPort)
		}
		opts.Gateway.Default = &operator.DefaultGateway{Namespace: key.Namespace, Name: key.Name, Port: opts.DefaultPort}
	}
	return nil
}

// namespacedName parses a flag's namespace/name.
func namespacedName(flag, s string) (types.NamespacedName, error) {
	ns, name, ok := strings.Cut(s, "/")
	if !ok || ns == "" || name == "" || strings.Contains(name, "/") {
		return types.NamespacedName{}, fmt.Errorf("%s %q: give it as namespace/name, e.g. %s skiff-system/skiff", flag, s, flag)
	}
	return types.NamespacedName{Namespace: ns, Name: name}, nil
}

func gatewayRun(opts *GatewayOptions) error {
	if err := opts.complete(); err != nil {
		return err
	}
	return runAgainstCluster(opts.ctx, opts.g, opts.Kubeconfig, opts.LogFormat, func(ctx context.Context, cfg *rest.Config) error {
		return operator.RunGateway(ctx, cfg, opts.Gateway, func() {
			logr.FromContextOrDiscard(ctx).Info("gateway running", "version", instance.Version, "metrics", opts.Gateway.MetricsAddress)
		})
	})
}
