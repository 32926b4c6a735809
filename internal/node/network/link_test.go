package network

import (
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/skiff-dev/skiff/internal/node/sandbox"
)

// listenIn opens a TCP listener inside the network namespace at nsPath.
func listenIn(t *testing.T, nsPath string) net.Listener {
	t.Helper()
	return listenInAt(t, nsPath, ":0")
}

// listenInAt opens a TCP listener on addr inside the network namespace.
func listenInAt(t *testing.T, nsPath, addr string) net.Listener {
	t.Helper()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		t.Fatal(err)
	}
	defer orig.Close()
	ns, err := netns.GetFromPath(nsPath)
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	if err := netns.Set(ns); err != nil {
		t.Fatal(err)
	}
	l, lerr := net.Listen("tcp4", addr)
	if err := netns.Set(orig); err != nil {
		t.Fatalf("returning to the test's namespace: %v", err)
	}
	if lerr != nil {
		t.Fatal(lerr)
	}
	return l
}

func TestAttachPodReachesItFromTheHost(t *testing.T) {
	if ok, why := sandbox.Available(); !ok {
		t.Skipf("namespaces unavailable: %s", why)
	}
	suffix := time.Now().UnixNano() % 10000
	bridge := fmt.Sprintf("skftest%d", suffix)
	prefix := netip.MustParsePrefix(fmt.Sprintf("10.250.%d.0/24", suffix%250))
	ipam, err := NewIPAM(prefix.String())
	if err != nil {
		t.Fatal(err)
	}
	if err := EnsureBridge(bridge, ipam.Gateway(), prefix); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = DeleteLink(bridge) })
	// Idempotent, as after a restart.
	if err := EnsureBridge(bridge, ipam.Gateway(), prefix); err != nil {
		t.Fatalf("second EnsureBridge: %v", err)
	}
	pod, err := sandbox.NewPod(filepath.Join(t.TempDir(), "ns"), "web", true)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pod.Remove() })
	addr, _ := ipam.Allocate("pod-1")
	hostIf := HostVeth("pod-1")
	if err := AttachPod(pod.NetNS(), bridge, hostIf, addr, prefix, ipam.Gateway()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = DeleteLink(hostIf) })

	l := listenIn(t, pod.NetNS())
	defer l.Close()
	go func() {
		if c, err := l.Accept(); err == nil {
			_, _ = io.WriteString(c, "from the pod\n")
			c.Close()
		}
	}()
	port := l.Addr().(*net.TCPAddr).Port
	c, err := net.DialTimeout("tcp4", net.JoinHostPort(addr.String(), fmt.Sprint(port)), 3*time.Second)
	if err != nil {
		t.Fatalf("dialing the pod at %s: %v", addr, err)
	}
	got, _ := io.ReadAll(c)
	c.Close()
	if string(got) != "from the pod\n" {
		t.Errorf("read %q", got)
	}

	// Inside: eth0 with the address and a default route via the gateway.
	ns, _ := netns.GetFromPath(pod.NetNS())
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	eth, err := h.LinkByName("eth0")
	if err != nil {
		t.Fatal(err)
	}
	routes, _ := h.RouteList(eth, netlink.FAMILY_V4)
	var gw string
	for _, r := range routes {
		if r.Dst == nil || r.Dst.String() == "0.0.0.0/0" {
			gw = r.Gw.String()
		}
	}
	if gw != ipam.Gateway().String() {
		t.Errorf("default route via %q, want %s", gw, ipam.Gateway())
	}
	if _, err := os.Stat("/sys/class/net/" + hostIf); err != nil {
		t.Errorf("host end %s missing: %v", hostIf, err)
	}
}

func TestEnsureBridgeRefusesAForeignLink(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	name := fmt.Sprintf("skfveth%d", time.Now().UnixNano()%1000)
	if err := netlink.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: name}, PeerName: name + "b"}); err != nil {
		t.Skipf("cannot create a veth pair: %v", err)
	}
	t.Cleanup(func() { _ = DeleteLink(name) })
	if err := EnsureBridge(name, netip.MustParseAddr("10.251.0.1"), netip.MustParsePrefix("10.251.0.0/24")); err == nil {
		t.Error("EnsureBridge took over a link that is not a bridge")
	}
}
