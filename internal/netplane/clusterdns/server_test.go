package clusterdns

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"sort"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
)

func service(name, clusterIP string, ports ...corev1.ServicePort) *corev1.Service {
	return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: corev1.ServiceSpec{ClusterIP: clusterIP, Ports: ports}}
}

func slice(svc string, eps ...discoveryv1.Endpoint) *discoveryv1.EndpointSlice {
	name, port := "http", int32(5000)
	return &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: svc + "-x", Namespace: "default", Labels: map[string]string{discoveryv1.LabelServiceName: svc}},
		AddressType: discoveryv1.AddressTypeIPv4, Endpoints: eps,
		Ports: []discoveryv1.EndpointPort{{Name: &name, Port: &port}},
	}
}

func newEndpoint(ip, hostname string, ready bool) discoveryv1.Endpoint {
	ep := discoveryv1.Endpoint{Addresses: []string{ip}, Conditions: discoveryv1.EndpointConditions{Ready: &ready}}
	if hostname != "" {
		ep.Hostname = &hostname
	}
	return ep
}

// startUpstream answers every query for outside.test. with 192.0.2.99.
func startUpstream(t *testing.T) string {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: r.Question[0].Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: net.ParseIP("192.0.2.99")})
		_ = w.WriteMsg(m)
	})}
	go func() { _ = srv.ActivateAndServe() }()
	t.Cleanup(func() { _ = srv.Shutdown() })
	return pc.LocalAddr().String()
}

func TestClusterNames(t *testing.T) {
	http := corev1.ServicePort{Name: "http", Protocol: corev1.ProtocolTCP, Port: 80}
	objs := []runtime.Object{
		service("k8-model-api", "10.43.0.20", http),
		service("db", corev1.ClusterIPNone, http),
		slice("db", newEndpoint("10.42.0.7", "db-0", true), newEndpoint("10.42.0.8", "", true), newEndpoint("10.42.0.9", "", false)),
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "ext", Namespace: "default"},
			Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "outside.test"}},
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	port := freeUDPPort(t)
	ready := make(chan struct{})
	errc := make(chan error, 1)
	go func() {
		errc <- Run(ctx, Config{Client: fake.NewClientset(objs...), Listen: netip.MustParseAddr("127.0.0.1"), Port: port,
			Domain: "cluster.local", Upstreams: []string{startUpstream(t)}}, func() { close(ready) })
	}()
	select {
	case <-ready:
	case err := <-errc:
		t.Fatal(err)
	case <-time.After(10 * time.Second):
		t.Fatal("server not ready")
	}
	server := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), port).String()

	tests := []struct {
		name  string
		qtype uint16
		want  []string // answer values, sorted; nil with rcode NXDOMAIN
		rcode int
	}{
		{"k8-model-api.default.svc.cluster.local.", dns.TypeA, []string{"10.43.0.20"}, dns.RcodeSuccess},
		{"K8-Model-API.default.svc.cluster.local.", dns.TypeA, []string{"10.43.0.20"}, dns.RcodeSuccess},
		{"db.default.svc.cluster.local.", dns.TypeA, []string{"10.42.0.7", "10.42.0.8"}, dns.RcodeSuccess},
		{"db-0.db.default.svc.cluster.local.", dns.TypeA, []string{"10.42.0.7"}, dns.RcodeSuccess},
		{"10-42-0-8.db.default.svc.cluster.local.", dns.TypeA, []string{"10.42.0.8"}, dns.RcodeSuccess},
		{"_http._tcp.k8-model-api.default.svc.cluster.local.", dns.TypeSRV, []string{"80 k8-model-api.default.svc.cluster.local."}, dns.RcodeSuccess},
		{"_http._tcp.db.default.svc.cluster.local.", dns.TypeSRV, []string{"5000 10-42-0-8.db.default.svc.cluster.local.", "5000 db-0.db.default.svc.cluster.local."}, dns.RcodeSuccess},
		{"10-42-0-5.default.pod.cluster.local.", dns.TypeA, []string{"10.42.0.5"}, dns.RcodeSuccess},
		{"ext.default.svc.cluster.local.", dns.TypeA, []string{"outside.test."}, dns.RcodeSuccess},
		{"k8-model-api.default.svc.cluster.local.", dns.TypeAAAA, nil, dns.RcodeSuccess},
		{"missing.default.svc.cluster.local.", dns.TypeA, nil, dns.RcodeNameError},
		{"outside.test.", dns.TypeA, []string{"192.0.2.99"}, dns.RcodeSuccess},
	}
	for _, tc := range tests {
		t.Run(tc.name+dns.TypeToString[tc.qtype], func(t *testing.T) {
			m := new(dns.Msg)
			m.SetQuestion(tc.name, tc.qtype)
			resp, err := dns.Exchange(m, server)
			if err != nil {
				t.Fatal(err)
			}
			if resp.Rcode != tc.rcode {
				t.Errorf("rcode %s, want %s", dns.RcodeToString[resp.Rcode], dns.RcodeToString[tc.rcode])
			}
			var got []string
			for _, rr := range resp.Answer {
				switch rr := rr.(type) {
				case *dns.A:
					got = append(got, rr.A.String())
				case *dns.SRV:
					got = append(got, fmt.Sprintf("%d %s", rr.Port, rr.Target))
				case *dns.CNAME:
					got = append(got, rr.Target)
				}
			}
			sort.Strings(got)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("answers (-want +got):\n%s", diff)
			}
		})
	}
}

func freeUDPPort(t *testing.T) uint16 {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	return uint16(pc.LocalAddr().(*net.UDPAddr).Port)
}
