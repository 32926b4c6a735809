package clusterdns

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	corelisters "k8s.io/client-go/listers/core/v1"
	discoverylisters "k8s.io/client-go/listers/discovery/v1"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/cache"
)

func TestUpstreamsRestAfterFailuresInARow(t *testing.T) {
	now := time.Unix(1700000000, 0)
	u := newUpstreams([]string{"a:53", "b:53"})
	u.now = func() time.Time { return now }
	lost := errors.New("i/o timeout")
	u.report("a:53", lost)
	if diff := cmp.Diff([]string{"a:53", "b:53"}, u.usable()); diff != "" {
		t.Errorf("after one lost query (-want +got):\n%s", diff)
	}
	u.report("a:53", lost)
	if diff := cmp.Diff([]string{"b:53"}, u.usable()); diff != "" {
		t.Errorf("after two in a row (-want +got):\n%s", diff)
	}
	now = now.Add(restAfterFailure + time.Second)
	if diff := cmp.Diff([]string{"a:53", "b:53"}, u.usable()); diff != "" {
		t.Errorf("after the rest (-want +got):\n%s", diff)
	}
	u.report("a:53", lost)
	u.report("a:53", nil)
	u.report("a:53", lost)
	if diff := cmp.Diff([]string{"a:53", "b:53"}, u.usable()); diff != "" {
		t.Errorf("an answer between failures resets the count (-want +got):\n%s", diff)
	}
}

// startBlackHole is a resolver that reads queries and never answers.
func startBlackHole(t *testing.T) (addr string, queries *atomic.Int32) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	queries = &atomic.Int32{}
	go func() {
		buf := make([]byte, 512)
		for {
			if _, _, err := pc.ReadFrom(buf); err != nil {
				return
			}
			queries.Add(1)
		}
	}()
	return pc.LocalAddr().String(), queries
}

// A name that only a silent resolver could answer fails with SERVFAIL,
// and once the resolver has been silent twice in a row the next queries
// (a pod's search path and retries) fail without waiting on it.
func TestSilentUpstreamFailsFast(t *testing.T) {
	hole, queries := startBlackHole(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	port := freeUDPPort(t)
	ready := make(chan struct{})
	go func() {
		_ = Run(ctx, Config{Client: fake.NewClientset(), Listen: netip.MustParseAddr("127.0.0.1"), Port: port,
			Domain: "cluster.local", Upstreams: []string{hole}}, func() { close(ready) })
	}()
	select {
	case <-ready:
	case <-time.After(10 * time.Second):
		t.Fatal("server not ready")
	}
	server := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), port).String()
	for i := range 4 {
		m := new(dns.Msg)
		m.SetQuestion("nosuch.example.", dns.TypeA)
		resp, err := dns.Exchange(m, server)
		if err != nil {
			t.Fatalf("query %d: %v (the cluster DNS should answer SERVFAIL itself)", i, err)
		}
		if resp.Rcode != dns.RcodeServerFailure {
			t.Errorf("query %d: rcode %s, want SERVFAIL", i, dns.RcodeToString[resp.Rcode])
		}
	}
	if n := queries.Load(); n != failuresToRest {
		t.Errorf("the silent resolver got %d queries, want %d (then it rests)", n, failuresToRest)
	}
}

// A Service the informer has not delivered yet is read from the API, and
// a name the API lacks too is not asked for again at once.
func TestServiceAnswersBeforeTheInformerHasIt(t *testing.T) {
	client := fake.NewClientset(runtime.Object(&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "fresh", Namespace: "default"},
		Spec: corev1.ServiceSpec{ClusterIP: "10.43.0.9"}}))
	var gets atomic.Int32
	client.PrependReactor("get", "services", func(k8stesting.Action) (bool, runtime.Object, error) {
		gets.Add(1)
		return false, nil, nil
	})
	empty := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
	r := &resolver{domain: "cluster.local", services: corelisters.NewServiceLister(empty),
		endpoints: discoverylisters.NewEndpointSliceLister(empty), live: newLiveServices(client).get}
	got := r.lookup("fresh.default.svc.cluster.local")
	if diff := cmp.Diff([]netip.Addr{netip.MustParseAddr("10.43.0.9")}, got.addrs, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" || !got.found {
		t.Errorf("fresh Service (-want +got):\n%s", diff)
	}
	for range 3 {
		if a := r.lookup("missing.default.svc.cluster.local"); a.found {
			t.Errorf("missing Service found: %+v", a)
		}
	}
	if n := gets.Load(); n != 2 {
		t.Errorf("%d API reads, want 2 (fresh once, missing once, then remembered)", n)
	}
}
