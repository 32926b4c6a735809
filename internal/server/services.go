package server

import (
	"context"
	"net"
	"path/filepath"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/skiff-dev/skiff/internal/cluster"
	"github.com/skiff-dev/skiff/internal/datadir"
	"github.com/skiff-dev/skiff/internal/metricsapi"
)

// clusterServices are what runs beside the control plane for the whole
// cluster: with a pod network, Services and DNS; always, the resource
// metrics API.
func clusterServices(netHost *podNetwork, layout datadir.Layout, o cluster.Options, nodeName string, nodeIP net.IP) ([]component, error) {
	rest, err := clientcmd.BuildConfigFromFlags("", layout.Kubeconfig)
	if err != nil {
		return nil, err
	}
	client, err := kubernetes.NewForConfig(rest)
	if err != nil {
		return nil, err
	}
	// metrics-server listens where the API server reaches it: the pod
	// network's gateway, or the node's address.
	listen := nodeIP
	var comps []component
	if netHost != nil {
		listen = net.IP(netHost.Gateway().AsSlice())
		comps = networkServices(netHost, layout, o, client, nodeName, nodeIP)
	}
	metrics := metricsapi.Config{
		Kubeconfig: layout.Kubeconfig, CAFile: layout.PKI.CACert, CertDir: filepath.Join(layout.PKI.Dir, "metrics-server"),
		Listen: listen, Port: o.MetricsPort, Resolution: 15 * time.Second,
	}
	comps = append(comps, component{"metrics-server", func(ctx context.Context, ready func()) error {
		ready() // its API answers once a first scrape is in; nothing waits on it
		return metricsapi.Run(ctx, metrics)
	}})
	return comps, nil
}
