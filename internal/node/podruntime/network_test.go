package podruntime

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/skiff-dev/skiff/internal/node/network"
)

func (b *podBuilder) hostNetwork() *podBuilder {
	b.pod.Spec.HostNetwork = true
	return b
}

func TestResolvConfFollowsDNSPolicy(t *testing.T) {
	rt := &Runtime{dns: DNS{Nameserver: "10.42.0.1", ClusterDomain: "cluster.local",
		HostResolv: "nameserver 192.0.2.53\nsearch corp.example\n"}}
	ndots := "2"
	tests := []struct {
		name string
		pod  *podBuilder
		want string
	}{
		{"cluster first", newPod("a"),
			"nameserver 10.42.0.1\nsearch default.svc.cluster.local svc.cluster.local cluster.local corp.example\noptions ndots:5\n"},
		{"host network keeps the node's", newPod("b").hostNetwork(), ""},
		{"cluster first with host net", func() *podBuilder {
			b := newPod("c").hostNetwork()
			b.pod.Spec.DNSPolicy = corev1.DNSClusterFirstWithHostNet
			return b
		}(), "nameserver 10.42.0.1\nsearch default.svc.cluster.local svc.cluster.local cluster.local corp.example\noptions ndots:5\n"},
		{"none with dnsConfig", func() *podBuilder {
			b := newPod("d")
			b.pod.Spec.DNSPolicy = corev1.DNSNone
			b.pod.Spec.DNSConfig = &corev1.PodDNSConfig{Nameservers: []string{"192.0.2.10"}, Searches: []string{"x.test"},
				Options: []corev1.PodDNSConfigOption{{Name: "ndots", Value: &ndots}}}
			return b
		}(), "nameserver 192.0.2.10\nsearch x.test\noptions ndots:2\n"},
		{"dnsConfig overrides an option", func() *podBuilder {
			b := newPod("e")
			b.pod.Spec.DNSConfig = &corev1.PodDNSConfig{Options: []corev1.PodDNSConfigOption{{Name: "ndots", Value: &ndots}, {Name: "edns0"}}}
			return b
		}(), "nameserver 10.42.0.1\nsearch default.svc.cluster.local svc.cluster.local cluster.local corp.example\noptions ndots:2 edns0\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, rt.resolvConf(tc.pod.pod)); diff != "" {
				t.Errorf("resolv.conf (-want +got):\n%s", diff)
			}
		})
	}
}

// networkedRuntime runs pods in sandboxes on a pod network of their own.
func networkedRuntime(t *testing.T) (*Runtime, *network.Host) {
	t.Helper()
	skipWithoutSandboxes(t)
	if ok, why := network.Available(); !ok {
		t.Skipf("pod networking unavailable: %s", why)
	}
	n := time.Now().UnixNano() % 200
	h, err := network.Setup(network.Config{
		InstanceID:  fmt.Sprintf("rtest%07x", time.Now().UnixNano()&0xfffffff),
		PodCIDR:     netip.MustParsePrefix(fmt.Sprintf("10.244.%d.0/24", n)),
		ServiceCIDR: netip.MustParsePrefix(fmt.Sprintf("10.243.%d.0/24", n)),
	})
	if err != nil {
		t.Fatal(err)
	}
	// Pods go before the network (cleanups run last first, and the
	// runtime's is registered after this one).
	t.Cleanup(func() { _ = h.Close() })
	rt := sandboxedRuntime(t, withNetwork(h, DNS{Nameserver: h.Gateway().String(), ClusterDomain: "cluster.local"}))
	return rt, h
}

// webPod serves its hostname and resolv.conf on port 5000, ready once
// the port answers.
func webPod(name string) *corev1.Pod {
	script := `import http.server, socket
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = (socket.gethostname() + "\n" + open("/etc/resolv.conf").read() + open("/etc/hosts").read()).encode()
        self.send_response(200); self.end_headers(); self.wfile.write(body)
http.server.HTTPServer(("", 5000), H).serve_forever()`
	pod := newPod(name).container("web", "python3", "-c", script).restart(corev1.RestartPolicyAlways).pod
	c := &pod.Spec.Containers[0]
	c.Ports = []corev1.ContainerPort{{ContainerPort: 5000}}
	c.ReadinessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(5000)}},
		PeriodSeconds: 1}
	return pod
}

func TestPodsGetTheirOwnAddressesAndPorts(t *testing.T) {
	rt, h := networkedRuntime(t)
	for _, name := range []string{"web-a", "web-b"} {
		if err := rt.CreatePod(context.Background(), webPod(name)); err != nil {
			t.Fatal(err)
		}
	}
	ips := map[string]bool{}
	for _, name := range []string{"web-a", "web-b"} {
		p := waitFor(t, rt, name, "Ready", ready)
		ip := p.Status.PodIP
		if ip == "" || ip == "127.0.0.1" || ips[ip] {
			t.Fatalf("%s has pod IP %q (others: %v)", name, ip, ips)
		}
		ips[ip] = true
		resp, err := http.Get("http://" + net.JoinHostPort(ip, "5000"))
		if err != nil {
			t.Fatalf("GET %s's pod IP: %v", name, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		for _, want := range []string{name + "\n", "nameserver " + h.Gateway().String(), "search default.svc.cluster.local", ip + "\t" + name} {
			if !strings.Contains(string(body), want) {
				t.Errorf("%s's answer lacks %q:\n%s", name, want, body)
			}
		}
	}
	// port-forward reaches the pod's port from inside its namespace.
	conn, err := rt.DialPod(context.Background(), "default", "web-a", 5000)
	if err != nil {
		t.Fatalf("DialPod: %v", err)
	}
	fmt.Fprintf(conn, "GET / HTTP/1.0\r\n\r\n")
	got, _ := io.ReadAll(conn)
	conn.Close()
	if !strings.Contains(string(got), "web-a") {
		t.Errorf("port-forward read %q", got)
	}

	// The pod's link goes with it.
	if err := rt.DeletePod(context.Background(), newPod("web-a").pod); err != nil {
		t.Fatal(err)
	}
	veth := network.HostVeth("uid-web-a")
	deadline := time.Now().Add(10 * time.Second)
	for linkExists(veth) && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if linkExists(veth) {
		t.Errorf("veth %s outlived its pod", veth)
	}
}

func TestHostNetworkPodsShareTheNodes(t *testing.T) {
	rt, h := networkedRuntime(t)
	pod := newPod("hostnet").hostNetwork().container("main", "sh", "-c", "cat /proc/net/dev").pod
	if err := rt.CreatePod(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	p := waitFor(t, rt, "hostnet", "finished", phase(corev1.PodSucceeded))
	if p.Status.PodIP != "127.0.0.1" {
		t.Errorf("pod IP %q, want the node's (127.0.0.1 here)", p.Status.PodIP)
	}
	// Only the node's network has skiff's bridge.
	if logs := logsOf(t, rt, "hostnet", "main", LogOptions{Tail: -1}); !strings.Contains(logs, h.Bridge()+":") {
		t.Errorf("host-network pod does not see the node's links:\n%s", logs)
	}
}

func linkExists(name string) bool {
	_, err := net.InterfaceByName(name)
	return err == nil
}
