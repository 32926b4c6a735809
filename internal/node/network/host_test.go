package network

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/skiff-dev/skiff/internal/node/sandbox"
)

// testHost sets up a host network on fresh, unused ranges and removes it
// when the test ends.
func testHost(t testing.TB) *Host {
	t.Helper()
	if ok, why := sandbox.Available(); !ok {
		t.Skipf("namespaces unavailable: %s", why)
	}
	if ok, why := Available(); !ok {
		t.Skipf("pod networking unavailable: %s", why)
	}
	n := time.Now().UnixNano() % 200
	cfg := Config{
		InstanceID:  fmt.Sprintf("test%08x", time.Now().UnixNano()&0xffffffff),
		PodCIDR:     netip.MustParsePrefix(fmt.Sprintf("10.246.%d.0/24", n)),
		ServiceCIDR: netip.MustParsePrefix(fmt.Sprintf("10.247.%d.0/24", n)),
	}
	h, err := Setup(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := h.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return h
}

// servePod starts a pod namespace attached to h, answering name on port.
func servePod(t *testing.T, h *Host, uid string, port int, name string) netip.Addr {
	t.Helper()
	pod, err := sandbox.NewPod(filepath.Join(t.TempDir(), "ns"), uid, true)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pod.Remove() })
	addr, err := h.Attach(uid, pod.NetNS())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Detach(uid) })
	l := listenInAt(t, pod.NetNS(), fmt.Sprintf(":%d", port))
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			_, _ = io.WriteString(c, name)
			c.Close()
		}
	}()
	return addr
}

func read(t *testing.T, addr string) string {
	t.Helper()
	c, err := net.DialTimeout("tcp4", addr, 3*time.Second)
	if err != nil {
		t.Fatalf("dialing %s: %v", addr, err)
	}
	defer c.Close()
	b, _ := io.ReadAll(c)
	return string(b)
}

func TestHostGivesPodsTheirOwnAddresses(t *testing.T) {
	h := testHost(t)
	a := servePod(t, h, "pod-a", 5000, "a")
	b := servePod(t, h, "pod-b", 5000, "b")
	if a == b {
		t.Fatalf("both pods got %s", a)
	}
	for addr, want := range map[netip.Addr]string{a: "a", b: "b"} {
		if got := read(t, netip.AddrPortFrom(addr, 5000).String()); got != want {
			t.Errorf("%s:5000 answered %q, want %q", addr, got, want)
		}
	}

	// An address of the pod range nobody holds is refused on the spot.
	unused := h.cfg.PodCIDR.Addr().Next().Next().Next().Next().Next().Next().Next().Next().Next()
	start := time.Now()
	_, err := net.DialTimeout("tcp4", netip.AddrPortFrom(unused, 5000).String(), 5*time.Second)
	if err == nil || !errors.Is(err, syscall.EHOSTUNREACH) {
		t.Errorf("dialing unused %s: %v, want host unreachable", unused, err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("refusal took %s", d)
	}

	// Host ports reach the pod through the node's addresses.
	if err := h.SetHostPorts("pod-b", []HostPort{{Protocol: "TCP", HostPort: 18080, PodIP: b, PodPort: 5000}}); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("nft", "list", "table", "ip", TableName(h.cfg.InstanceID)).CombinedOutput()
	if err != nil || !strings.Contains(string(out), fmt.Sprintf("dnat to %s:5000", b)) {
		t.Errorf("host port rule missing: %v\n%s", err, out)
	}
	if got := read(t, netip.AddrPortFrom(h.Gateway(), 18080).String()); got != "b" {
		t.Errorf("host port answered %q, want b", got)
	}
}

func TestCleanupLeavesNothing(t *testing.T) {
	h := testHost(t)
	servePod(t, h, "pod-c", 5000, "c")
	if err := Cleanup(h.cfg.InstanceID); err != nil {
		t.Fatal(err)
	}
	if _, err := netlink.LinkByName(h.Bridge()); err == nil {
		t.Errorf("bridge %s still there", h.Bridge())
	}
	if _, err := netlink.LinkByName(HostVeth("pod-c")); err == nil {
		t.Errorf("veth %s still there", HostVeth("pod-c"))
	}
	if out, err := exec.Command("nft", "list", "table", "ip", TableName(h.cfg.InstanceID)).CombinedOutput(); err == nil {
		t.Errorf("table still there:\n%s", out)
	}
	routes, _ := netlink.RouteGet(net.IP(h.cfg.ServiceCIDR.Addr().Next().AsSlice()))
	for _, r := range routes {
		if l, err := netlink.LinkByIndex(r.LinkIndex); err == nil && l.Attrs().Name == h.Bridge() {
			t.Errorf("service CIDR still routed to %s", h.Bridge())
		}
	}
}

func TestSetupRefusesARangeInUse(t *testing.T) {
	h := testHost(t)
	cfg := h.cfg
	cfg.InstanceID = "othertest"
	cfg.ServiceCIDR = netip.MustParsePrefix("10.245.255.0/24")
	_, err := Setup(cfg)
	if err == nil || !strings.Contains(err.Error(), "--pod-cidr") {
		t.Fatalf("Setup on a pod range already routed: %v, want an error naming --pod-cidr", err)
	}
	_ = Cleanup(cfg.InstanceID)
}
