package server

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/skiff-dev/skiff/internal/cluster"
	"github.com/skiff-dev/skiff/internal/datadir"
	"github.com/skiff-dev/skiff/internal/netplane/serviceproxy"
	"github.com/skiff-dev/skiff/internal/node"
	"github.com/skiff-dev/skiff/internal/node/network"
	"github.com/skiff-dev/skiff/internal/progress"
)

// machineStateDir holds what is one per machine, not per data dir: the
// service proxy's claim on its nftables table. Under /run, so it goes
// with a reboot, as the table does.
const machineStateDir = "/run/skiff"

// podNetwork is the node's side of pod networking and its hold on the
// machine's kube-proxy table.
type podNetwork struct {
	*network.Host
	claim   *serviceproxy.TableClaim
	podCIDR netip.Prefix
}

// close removes the network and gives up the claim (if the service proxy
// never ran to release it).
func (n *podNetwork) close() error {
	return errors.Join(n.Host.Close(), n.claim.Release())
}

// setupNetwork prepares the node's side of pod networking, or returns
// nil (after a warning) where pods must share the host's network.
func setupNetwork(layout datadir.Layout, o cluster.Options, report *progress.Reporter) (*podNetwork, error) {
	if !o.PodNetwork {
		report.Info("pod network off (--pod-network=false): pods share the host's network, and Services and cluster DNS are not served")
		return nil, nil
	}
	if c := node.Probe().PodNetwork; !c.OK {
		report.Warn("%s, so pods share the host's network: no pod IPs, Services or cluster DNS", c.Why)
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
	report.Info("pod network %s on bridge %s (gateway %s), services %s", pods, h.Bridge(), h.Gateway(), services)
	return &podNetwork{Host: h, claim: claim, podCIDR: pods}, nil
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
