package server

import (
	"context"
	"net"
	"path/filepath"
	"strconv"

	"github.com/skiff-dev/skiff/internal/controllers/modelservice"
	"github.com/skiff-dev/skiff/internal/instance"
	"github.com/skiff-dev/skiff/internal/operator"
	"github.com/skiff-dev/skiff/internal/stage"
)

// The default Gateway of skiff up, where ModelServices' URLs point.
const (
	defaultGatewayNamespace = "skiff-system"
	defaultGatewayName      = "skiff"
)

// mlControllers run the ML kinds' controllers, the same ones `skiff
// operator` runs, after the CRDs are installed; they start last, so the
// first predictor pods find a node, and stop first.
func (h *house) mlControllers() stage.Stage {
	o := operator.Options{
		InstallCRDs: true,
		ModelService: modelservice.Options{
			ModelServerImage: instance.Image(),
			// The machine reaches cluster IPs through the node's Service rules.
			URLFromClusterIP: h.net != nil,
			ClusterDomain:    h.o.ClusterDomain,
			ModelCacheDir:    filepath.Join(h.layout.Root, "model-cache"),
			S3:               modelservice.S3Access{CredentialsSecret: modelservice.DefaultS3CredentialsSecret},
		},
		// Serving pods mount the registry's copies from the node.
		Registry: operator.RegistryOptions{Dir: filepath.Join(h.layout.Root, "registry")},
	}
	if h.gatewayOn() {
		o.ModelService.Gateway = &modelservice.GatewayRef{Namespace: defaultGatewayNamespace, Name: defaultGatewayName}
		if h.o.GatewayMetricsPort != 0 {
			o.ModelService.GatewayMetricsURL = "http://" + loopback(h.o.GatewayMetricsPort) + "/metrics"
		}
	}
	return stage.Stage{Name: "ML controllers", Run: func(ctx context.Context, ready func()) error {
		return operator.Run(ctx, h.rest, o, ready)
	}}
}

func (h *house) gatewayOn() bool { return h.o.MLControllers && h.o.GatewayPort != 0 }

// gateway is skiff's Gateway API implementation, in process: it installs
// the Gateway API's CRDs and the default Gateway, and serves the routes of
// every Gateway of class skiff.
func (h *house) gateway() stage.Stage {
	o := operator.GatewayOptions{
		InstallCRDs: true,
		Default: &operator.DefaultGateway{
			Namespace: defaultGatewayNamespace, Name: defaultGatewayName,
			Address: h.o.GatewayAddress, Port: int32(h.o.GatewayPort),
		},
		MetricsAddress: loopback(h.o.GatewayMetricsPort),
	}
	return stage.Stage{Name: "gateway", Run: func(ctx context.Context, ready func()) error {
		return operator.RunGateway(ctx, h.rest, o, ready)
	}}
}

func loopback(port int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) }
