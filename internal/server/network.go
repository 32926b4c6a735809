package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"

	"k8s.io/client-go/kubernetes"

	"github.com/skiff-dev/skiff/internal/cluster"
	"github.com/skiff-dev/skiff/internal/clusterdns"
	"github.com/skiff-dev/skiff/internal/datadir"
	"github.com/skiff-dev/skiff/internal/node"
	"github.com/skiff-dev/skiff/internal/node/network"
	"github.com/skiff-dev/skiff/internal/node/runtime"
	"github.com/skiff-dev/skiff/internal/node/sandbox"
	"github.com/skiff-dev/skiff/internal/servicelb"
	"github.com/skiff-dev/skiff/internal/serviceproxy"
)

// machineStateDir holds what is one per machine, not per data dir: the
// service proxy's claim on its nftables table. Under /run, so it goes
// with a reboot, as the table does.
const machineStateDir = "/run/skiff"

// podNetwork is the node's side of pod networking and its hold on the
// machine's kube-proxy table.
type podNetwork struct {
	*network.Host
	claim *serviceproxy.TableClaim
}

// close removes the network and gives up the claim (if the service proxy
// never ran to release it).
func (n *podNetwork) close() error {
	return errors.Join(n.Host.Close(), n.claim.Release())
}

// setupNetwork prepares the node's side of pod networking, or returns
// nil (after a warning) where pods must share the host's network.
func setupNetwork(layout datadir.Layout, o cluster.Options, progress func(string, ...any)) (*podNetwork, error) {
	if !o.PodNetwork {
		progress("pod network off (--pod-network=false): pods share the host's network, and Services and cluster DNS are not served")
		return nil, nil
	}
	if ok, why := sandbox.Available(); !ok {
		progress("warning: %s, so pods share the host's network: no pod IPs, Services or cluster DNS", why)
		return nil, nil
	}
	if ok, why := network.Available(); !ok {
		progress("warning: %s, so pods share the host's network: no pod IPs, Services or cluster DNS", why)
		return nil, nil
	}
	// Refused first, before anything changes, if another skiff has it.
	claim, err := serviceproxy.ClaimTable(machineStateDir)
	if err != nil {
		return nil, err
	}
	pods, _ := netip.ParsePrefix(o.PodCIDR) // validated
	services, _ := netip.ParsePrefix(o.ServiceCIDR)
	h, err := network.Setup(network.Config{InstanceID: datadir.InstanceID(layout.Root), PodCIDR: pods, ServiceCIDR: services})
	if err != nil {
		_ = claim.Release()
		return nil, fmt.Errorf("pod network: %w", err)
	}
	progress("pod network %s on bridge %s (gateway %s), services %s", pods, h.Bridge(), h.Gateway(), services)
	return &podNetwork{Host: h, claim: claim}, nil
}

// gatewayOf is the pod network's gateway for a pod CIDR (its first
// address), known before the network is set up.
func gatewayOf(podCIDR string) net.IP {
	p, err := netip.ParsePrefix(podCIDR)
	if err != nil {
		return nil
	}
	return net.IP(p.Masked().Addr().Next().AsSlice())
}

// podDNS is what pods' resolv.conf points at: the cluster DNS on the
// gateway, the node's search domains after the cluster's.
func podDNS(h *podNetwork, domain string) runtime.DNS {
	hostResolv, _ := os.ReadFile("/etc/resolv.conf")
	return runtime.DNS{Nameserver: h.Gateway().String(), ClusterDomain: domain, HostResolv: string(hostResolv)}
}

// networkServices are kube-proxy, the cluster DNS and the service load
// balancer.
func networkServices(h *podNetwork, layout datadir.Layout, o cluster.Options, client kubernetes.Interface, nodeName string, nodeIP net.IP) []component {
	pods, _ := netip.ParsePrefix(o.PodCIDR)
	return []component{
		{"kube-proxy", func(ctx context.Context, ready func()) error {
			return serviceproxy.Run(ctx, serviceproxy.Config{Kubeconfig: layout.Kubeconfig, NodeName: nodeName, NodeIP: nodeIP, PodCIDR: pods, Claim: h.claim}, ready)
		}},
		{"cluster DNS", func(ctx context.Context, ready func()) error {
			return clusterdns.Run(ctx, clusterdns.Config{Client: client, Listen: h.Gateway(), Domain: o.ClusterDomain}, ready)
		}},
		{"service load balancer", func(ctx context.Context, ready func()) error {
			ready()
			return servicelb.Run(ctx, servicelb.Config{Client: client, NodeIP: nodeIP, Loopback: true})
		}},
	}
}

// Cleanup removes what a skiff on layout left behind if it crashed: pod
// processes and mounts, cgroups, its network links, routes and nftables
// tables. It must run only when no skiff holds the data dir.
func Cleanup(layout datadir.Layout) error {
	return errors.Join(
		node.Cleanup(layout.Root, podsDir(layout)),
		network.Cleanup(datadir.InstanceID(layout.Root)),
		serviceproxy.Cleanup(machineStateDir),
	)
}
