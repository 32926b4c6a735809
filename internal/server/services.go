package server

import (
	"context"
	"net"
	"path/filepath"
	"time"

	"github.com/skiff-dev/skiff/internal/metricsapi"
	"github.com/skiff-dev/skiff/internal/netplane/clusterdns"
	"github.com/skiff-dev/skiff/internal/netplane/portcheck"
	"github.com/skiff-dev/skiff/internal/netplane/servicelb"
	"github.com/skiff-dev/skiff/internal/netplane/serviceproxy"
	"github.com/skiff-dev/skiff/internal/stage"
	"github.com/skiff-dev/skiff/internal/storage/localpath"
)

// controlPlane is etcd, the API server, the controller-manager and the
// scheduler: first to start, last to stop.
func (h *house) controlPlane() stage.Stage {
	return stage.Stage{Name: "control plane", Run: h.cp.Run}
}

// clusterServices run beside the control plane for the whole cluster:
// with a pod network, Services and DNS; always, the resource metrics API.
// They start before the node, so that its first pods resolve names, and
// stop after it.
func (h *house) clusterServices() stage.Stage {
	var stages []stage.Stage
	if h.net != nil {
		stages = h.networkServices()
	}
	stages = append(stages, h.metricsServer(), h.localPath())
	group := stage.Group("cluster services", stages...)
	run := group.Run
	group.Run = func(ctx context.Context, ready func()) error {
		return run(ctx, func() {
			if h.net != nil {
				h.report.Info("services: kube-proxy (nftables), cluster DNS at %s (%s), load balancers on %s", h.net.Gateway(), h.o.ClusterDomain, h.advertise)
			}
			ready()
		})
	}
	return group
}

// networkServices are kube-proxy, the cluster DNS, the service load
// balancer and the check of Services' named target ports.
func (h *house) networkServices() []stage.Stage {
	proxy := serviceproxy.Config{Kubeconfig: h.layout.Kubeconfig, NodeName: h.nodeName, NodeIP: h.advertise, PodCIDR: h.net.podCIDR, Claim: h.net.claim}
	dns := clusterdns.Config{Client: h.client, Listen: h.net.Gateway(), Domain: h.o.ClusterDomain, ResolvConf: h.o.ResolvConf}
	lb := servicelb.Config{Client: h.client, NodeIP: h.advertise, Loopback: true}
	return []stage.Stage{
		{Name: "kube-proxy", Run: func(ctx context.Context, ready func()) error { return serviceproxy.Run(ctx, proxy, ready) }},
		{Name: "cluster DNS", Run: func(ctx context.Context, ready func()) error { return clusterdns.Run(ctx, dns, ready) }},
		stage.Serve("service load balancer", func(ctx context.Context) error { return servicelb.Run(ctx, lb) }),
		stage.Serve("target port check", func(ctx context.Context) error { return portcheck.Run(ctx, h.client) }),
	}
}

// metricsServer serves metrics.k8s.io where the API server reaches it: the
// pod network's gateway, or the node's address. Its API answers once a
// first scrape is in; nothing waits on it.
func (h *house) metricsServer() stage.Stage {
	listen := h.advertise
	if h.net != nil {
		listen = net.IP(h.net.Gateway().AsSlice())
	}
	cfg := metricsapi.Config{
		Kubeconfig: h.layout.Kubeconfig, CAFile: h.layout.PKI.CACert, CertDir: filepath.Join(h.layout.PKI.Dir, "metrics-server"),
		Listen: listen, Port: h.o.MetricsPort, Resolution: 15 * time.Second,
	}
	return stage.Serve("metrics-server", func(ctx context.Context) error { return metricsapi.Run(ctx, cfg) })
}

// localPath provisions the default StorageClass's volumes: folders
// under --volumes-dir, by default the data dir's volumes/.
func (h *house) localPath() stage.Stage {
	p := &localpath.Provisioner{Root: h.volumesDir(), Node: h.nodeName}
	return stage.Serve("local-path provisioner", func(ctx context.Context) error { return localpath.Run(ctx, h.client, p) })
}

func (h *house) volumesDir() string {
	if h.o.VolumesDir != "" {
		return filepath.Clean(h.o.VolumesDir)
	}
	return filepath.Join(h.layout.Root, "volumes")
}

// node registers this machine and runs its pods; it stops first, so that
// pods stop while the API and their Services still answer.
func (h *house) node() stage.Stage {
	return stage.Stage{Name: "node", Run: func(ctx context.Context, ready func()) error {
		h.report.Info("starting node %s (kubelet API on %s:%d)", h.nodeName, h.advertise, h.o.KubeletPort)
		err := runNode(ctx, h, ready)
		h.report.Info("node %s stopped", h.nodeName)
		return err
	}}
}
