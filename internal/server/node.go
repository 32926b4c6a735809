package server

import (
	"context"
	"fmt"
	"os"

	"github.com/skiff-dev/skiff/internal/instance"
	"github.com/skiff-dev/skiff/internal/node"
	"github.com/skiff-dev/skiff/internal/node/images"
	"github.com/skiff-dev/skiff/internal/node/podruntime"
)

// runNode registers this machine as the cluster's node and runs its pods
// until ctx ends, with the isolation the machine supports.
func runNode(ctx context.Context, h *house, ready func()) error {
	if err := node.EnsureRBAC(ctx, h.layout.Kubeconfig, h.nodeName); err != nil {
		return fmt.Errorf("node permissions: %w", err)
	}
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find the skiff binary: %w", err)
	}
	caps := node.Probe()
	if !caps.Sandboxes.OK {
		h.report.Warn("%s, so pods run as plain processes: no private filesystem view, PID, IPC or hostname per pod", caps.Sandboxes.Why)
	}
	if !caps.Cgroups.OK {
		h.report.Warn("%s, so container resource limits are not enforced", caps.Cgroups.Why)
	}
	cfg := node.Config{
		Name:       h.nodeName,
		InternalIP: h.advertise,
		Port:       h.o.KubeletPort,
		Kubeconfig: h.nodeKubeconfig,
		CAFile:     h.layout.PKI.CACert,
		CertFile:   h.layout.PKI.KubeletCert,
		KeyFile:    h.layout.PKI.KubeletKey,
		PodsDir:    podsDir(h.layout),
		DataDir:    h.layout.Root,
		Hidden:     []string{h.volumesDir()},
		// skiff's image means this binary, so the ML controllers' model
		// servers need no image map.
		BuiltinImages: []images.Image{{Pattern: instance.ImageRepository + ":*", Command: []string{self}, Source: "built-in"}},
		Self:          self,
		Version:       instance.CurrentVersions().Kubernetes,
		Sandboxes:     caps.Sandboxes.OK,
		Cgroups:       caps.Cgroups.OK,
		Progress:      h.report,
	}
	if h.net != nil {
		cfg.Network, cfg.DNS = h.net.Host, podDNS(h.net, h.o.ClusterDomain, h.o.ResolvConf)
	}
	n, err := node.New(ctx, cfg)
	if err != nil {
		return err
	}
	return n.Run(ctx, ready)
}

// podDNS is what pods' resolv.conf points at: the cluster DNS on the
// gateway, the node's search domains after the cluster's.
func podDNS(h *podNetwork, domain, resolvConf string) podruntime.DNS {
	// Without the node's file, pods get the cluster's search domains only.
	var hostResolv []byte
	if resolvConf != "" {
		hostResolv, _ = os.ReadFile(resolvConf)
	}
	return podruntime.DNS{Nameserver: h.Gateway().String(), ClusterDomain: domain, HostResolv: string(hostResolv)}
}
