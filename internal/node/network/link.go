package network

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// linkPrefix starts the name of every link skiff creates, so that cleanup
// after a crash finds them and never touches another's.
const linkPrefix = "skf"

// HostVeth names the host end of a pod's veth pair (at most 15 bytes).
func HostVeth(podUID string) string {
	sum := sha256.Sum256([]byte(podUID))
	return linkPrefix + hex.EncodeToString(sum[:6])
}

// EnsureBridge creates the bridge (if missing) with gw/prefix as its
// address, and brings it up.
func EnsureBridge(name string, gw netip.Addr, prefix netip.Prefix) error {
	link, err := netlink.LinkByName(name)
	var notFound netlink.LinkNotFoundError
	switch {
	case errors.As(err, &notFound):
		br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: name}}
		if err := netlink.LinkAdd(br); err != nil {
			return fmt.Errorf("creating bridge %s: %w", name, err)
		}
		if link, err = netlink.LinkByName(name); err != nil {
			return err
		}
	case err != nil:
		return fmt.Errorf("bridge %s: %w", name, err)
	case link.Type() != "bridge":
		return fmt.Errorf("link %s exists and is a %s, not skiff's bridge; remove it or choose another name", name, link.Type())
	}
	addr := &netlink.Addr{IPNet: ipNet(gw, prefix)}
	if err := netlink.AddrReplace(link, addr); err != nil {
		return fmt.Errorf("addressing bridge %s: %w", name, err)
	}
	if err := netlink.LinkSetUp(link); err != nil {
		return fmt.Errorf("bringing up bridge %s: %w", name, err)
	}
	return nil
}

// DeleteLink removes a link skiff made (a bridge, or a veth pair by
// either end); a missing one is no error.
func DeleteLink(name string) error {
	link, err := netlink.LinkByName(name)
	var notFound netlink.LinkNotFoundError
	if errors.As(err, &notFound) {
		return nil
	}
	if err != nil {
		return err
	}
	return netlink.LinkDel(link)
}

// AttachPod connects the network namespace at nsPath to the bridge: a veth
// pair whose host end (hostIf) joins the bridge and whose other end
// becomes the pod's eth0 with addr, a default route via gw, and lo up.
func AttachPod(nsPath, bridge, hostIf string, addr netip.Addr, prefix netip.Prefix, gw netip.Addr) (err error) {
	br, err := netlink.LinkByName(bridge)
	if err != nil {
		return fmt.Errorf("bridge %s: %w", bridge, err)
	}
	ns, err := netns.GetFromPath(nsPath)
	if err != nil {
		return fmt.Errorf("pod network namespace %s: %w", nsPath, err)
	}
	defer ns.Close()
	podIf := "skp" + hostIf[len(linkPrefix):] // renamed eth0 inside
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: hostIf, MasterIndex: br.Attrs().Index}, PeerName: podIf, PeerNamespace: netlink.NsFd(int(ns))}
	if err := netlink.LinkAdd(veth); err != nil {
		return fmt.Errorf("creating veth %s: %w", hostIf, err)
	}
	defer func() {
		if err != nil {
			if derr := DeleteLink(hostIf); derr != nil {
				err = errors.Join(err, fmt.Errorf("removing veth %s: %w", hostIf, derr))
			}
		}
	}()
	host, err := netlink.LinkByName(hostIf)
	if err != nil {
		return err
	}
	if err := netlink.LinkSetUp(host); err != nil {
		return fmt.Errorf("bringing up %s: %w", hostIf, err)
	}
	// A pod reaching itself through a Service comes back on its own port.
	if err := netlink.LinkSetHairpin(host, true); err != nil {
		return fmt.Errorf("hairpin mode on %s: %w", hostIf, err)
	}
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		return fmt.Errorf("entering pod network namespace: %w", err)
	}
	defer h.Close()
	lo, err := h.LinkByName("lo")
	if err == nil {
		err = h.LinkSetUp(lo)
	}
	if err != nil {
		return fmt.Errorf("pod loopback: %w", err)
	}
	eth, err := h.LinkByName(podIf)
	if err != nil {
		return err
	}
	if err := h.LinkSetName(eth, "eth0"); err != nil {
		return fmt.Errorf("naming the pod's eth0: %w", err)
	}
	if err := h.AddrAdd(eth, &netlink.Addr{IPNet: ipNet(addr, prefix)}); err != nil {
		return fmt.Errorf("addressing the pod's eth0: %w", err)
	}
	if err := h.LinkSetUp(eth); err != nil {
		return fmt.Errorf("bringing up the pod's eth0: %w", err)
	}
	route := &netlink.Route{LinkIndex: eth.Attrs().Index, Gw: net.IP(gw.AsSlice()), Family: unix.AF_INET}
	if err := h.RouteAdd(route); err != nil {
		return fmt.Errorf("the pod's default route via %s: %w", gw, err)
	}
	return nil
}

func ipNet(a netip.Addr, p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: net.IP(a.AsSlice()), Mask: net.CIDRMask(p.Bits(), 32)}
}
