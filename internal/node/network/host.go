package network

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Config is the node's network plan.
type Config struct {
	// InstanceID names the bridge and nftables table (one per skiff data
	// dir, so two skiffs never share them).
	InstanceID  string
	PodCIDR     netip.Prefix
	ServiceCIDR netip.Prefix
}

// BridgeName is the instance's bridge: "skf" (every skiff link's prefix),
// "br" and 8 hex digits of the instance ID.
func BridgeName(instanceID string) string {
	return linkPrefix + "br" + instanceID[:min(8, len(instanceID))]
}

// Host is the node side of pod networking: the bridge, the addresses, the
// routes and the nftables rules skiff owns.
type Host struct {
	cfg    Config
	bridge string
	ipam   *IPAM
	rules  *rules

	mu        sync.Mutex
	hostPorts map[string][]HostPort // pod UID -> its host ports
}

// ErrUnsupported means this machine cannot give pods their own network:
// the caller falls back to the host network.
var ErrUnsupported = errors.New("pod networking unavailable")

// Available says whether pod networking can run here, and if not, why.
func Available() (bool, string) {
	if os.Geteuid() != 0 {
		return false, "skiff is not running as root"
	}
	if _, err := os.Stat("/proc/sys/net/ipv4/ip_forward"); err != nil {
		return false, "this kernel has no IPv4 forwarding"
	}
	if err := checkNFT(); err != nil {
		return false, err.Error()
	}
	return true, ""
}

// Setup prepares the host for pods: forwarding, the bridge with the
// gateway address, a route keeping the service CIDR on this machine, and
// skiff's nftables table (NAT to the outside, host ports, rejection of
// pod addresses nobody holds). Whatever an earlier, crashed skiff of the
// same instance left is replaced.
func Setup(cfg Config) (*Host, error) {
	ipam, err := NewIPAM(cfg.PodCIDR.String())
	if err != nil {
		return nil, err
	}
	h := &Host{cfg: cfg, bridge: BridgeName(cfg.InstanceID), ipam: ipam, hostPorts: map[string][]HostPort{}}
	if err := Cleanup(cfg.InstanceID); err != nil {
		return nil, fmt.Errorf("cleaning the network an earlier skiff left: %w", err)
	}
	if err := checkRoutesFree(cfg.PodCIDR, "--pod-cidr"); err != nil {
		return nil, err
	}
	if err := checkRoutesFree(cfg.ServiceCIDR, "--service-cidr"); err != nil {
		return nil, err
	}
	// Bridged pod traffic must pass netfilter, or a reply from a Service
	// backend on the same bridge would skip the reverse NAT.
	for _, s := range []struct{ path, value string }{
		{"/proc/sys/net/ipv4/ip_forward", "1"},
		{"/proc/sys/net/bridge/bridge-nf-call-iptables", "1"},
	} {
		if err := os.WriteFile(s.path, []byte(s.value), 0o644); err != nil {
			return nil, fmt.Errorf("%w: setting %s: %v", ErrUnsupported, s.path, err)
		}
	}
	if err := EnsureBridge(h.bridge, ipam.Gateway(), cfg.PodCIDR); err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			// Setup's error says what failed; what Close leaves, the
			// next Setup removes first (Cleanup).
			_ = h.Close()
		}
	}()
	br, err := netlink.LinkByName(h.bridge)
	if err != nil {
		return nil, err
	}
	svc := &netlink.Route{LinkIndex: br.Attrs().Index, Dst: prefixNet(cfg.ServiceCIDR), Scope: netlink.SCOPE_LINK}
	if err := netlink.RouteReplace(svc); err != nil {
		return nil, fmt.Errorf("routing the service CIDR %s to %s: %w", cfg.ServiceCIDR, h.bridge, err)
	}
	// An address of the pod CIDR that no pod holds stays on the bridge,
	// where nobody answers its ARP: it fails here, soon (one probe of
	// 100 ms rather than three of a second), and never leaves the machine.
	for _, s := range []struct{ name, value string }{{"mcast_solicit", "1"}, {"retrans_time_ms", "100"}} {
		if err := os.WriteFile("/proc/sys/net/ipv4/neigh/"+h.bridge+"/"+s.name, []byte(s.value), 0o644); err != nil {
			return nil, fmt.Errorf("neighbour settings of %s: %w", h.bridge, err)
		}
	}
	if h.rules, err = newRules(cfg.InstanceID, h.bridge, cfg.PodCIDR); err != nil {
		return nil, err
	}
	ok = true
	return h, nil
}

// checkRoutesFree refuses a CIDR that another interface already routes:
// pods would be unreachable, or another network hijacked.
func checkRoutesFree(p netip.Prefix, flag string) error {
	routes, err := netlink.RouteList(nil, unix.AF_INET)
	if err != nil {
		return fmt.Errorf("reading routes: %w", err)
	}
	for _, r := range routes {
		if r.Dst == nil {
			continue
		}
		rp, err := netip.ParsePrefix(r.Dst.String())
		if err != nil || !rp.Overlaps(p) || rp.Bits() == 0 {
			continue
		}
		name := fmt.Sprint(r.LinkIndex)
		if l, err := netlink.LinkByIndex(r.LinkIndex); err == nil {
			name = l.Attrs().Name
		}
		hint := ""
		if strings.HasPrefix(name, linkPrefix+"br") {
			hint = " (another skiff's bridge: stop it, or start this one with --pod-network=false)"
		}
		return fmt.Errorf("%s %s overlaps the route to %s on %s%s; choose a free range with %s", flag, p, rp, name, hint, flag)
	}
	return nil
}

// Bridge is the bridge's name.
func (h *Host) Bridge() string { return h.bridge }

// Gateway is the bridge's address: the pods' default route, where node
// services for pods (DNS, the API server) listen.
func (h *Host) Gateway() netip.Addr { return h.ipam.Gateway() }

// Attach gives the pod's network namespace at nsPath an address and a
// link to the bridge.
func (h *Host) Attach(podUID, nsPath string) (netip.Addr, error) {
	addr, err := h.ipam.Allocate(podUID)
	if err != nil {
		return netip.Addr{}, err
	}
	hostIf := HostVeth(podUID)
	// A pod whose earlier try failed half-way left one; usually there is
	// none, and this fails.
	_ = DeleteLink(hostIf)
	if err := AttachPod(nsPath, h.bridge, hostIf, addr, h.cfg.PodCIDR, h.ipam.Gateway()); err != nil {
		h.ipam.Release(podUID)
		return netip.Addr{}, err
	}
	return addr, nil
}

// Detach frees the pod's host ports and address. Its veth pair goes with
// its network namespace (the kernel removes both once the namespace's
// last pin is unmounted), off the pod's path: deleting the link here
// took 30 ms a pod. The error says the host ports' rules stay (the
// address is freed all the same).
func (h *Host) Detach(podUID string) error {
	err := h.SetHostPorts(podUID, nil)
	h.ipam.Release(podUID)
	if err != nil {
		return fmt.Errorf("removing the host ports of pod %s: %w", podUID, err)
	}
	return nil
}

// Close removes everything Setup made.
func (h *Host) Close() error { return Cleanup(h.cfg.InstanceID) }

// Cleanup removes the instance's bridge (its routes go with it), the
// links of pods still on it, and its nftables table. Nothing of another
// instance, or not skiff's, is touched.
func Cleanup(instanceID string) error {
	var errs []error
	bridge := BridgeName(instanceID)
	if br, err := netlink.LinkByName(bridge); err == nil {
		links, _ := netlink.LinkList()
		for _, l := range links {
			if l.Attrs().MasterIndex == br.Attrs().Index && strings.HasPrefix(l.Attrs().Name, linkPrefix) {
				// Gone meanwhile (its pod's namespace went) is fine.
				if err := netlink.LinkDel(l); err != nil && !errors.Is(err, unix.ENODEV) {
					errs = append(errs, fmt.Errorf("deleting %s: %w", l.Attrs().Name, err))
				}
			}
		}
	}
	errs = append(errs, DeleteLink(bridge), deleteTable(instanceID))
	return errors.Join(errs...)
}

func prefixNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: net.IP(p.Masked().Addr().AsSlice()), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}
