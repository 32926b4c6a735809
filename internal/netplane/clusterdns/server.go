// Package clusterdns is the cluster's DNS server for pods: Service and
// pod names below the cluster domain from the API (as CoreDNS's
// kubernetes plugin answers them), every other name forwarded to the
// node's own resolvers.
package clusterdns

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/miekg/dns"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"
)

// Config says where the server listens and what it serves.
type Config struct {
	Client kubernetes.Interface
	Listen netip.Addr // UDP and TCP
	Port   uint16     // 0: 53
	Domain string     // cluster.local
	// Upstreams are the node's resolvers ("ip:53"); nil: the nameservers
	// of ResolvConf (none when it is empty too).
	Upstreams  []string
	ResolvConf string
}

// ttl of cluster answers, CoreDNS's default.
const ttl = 5

// forwardTimeout bounds one upstream query: the node's resolvers answer
// in milliseconds, and a pod's resolver waits 5 s before it asks again,
// so a name that goes unanswered fails fast instead (SERVFAIL).
const forwardTimeout = 500 * time.Millisecond

// Server answers DNS queries.
type Server struct {
	cfg       Config
	resolver  *resolver
	upstreams *upstreams
	client    *dns.Client
}

// Run serves until ctx ends; ready is called once the caches are synced
// and both sockets listen.
func Run(ctx context.Context, cfg Config, ready func()) error {
	s := &Server{cfg: cfg, client: &dns.Client{Timeout: forwardTimeout}}
	s.cfg.Domain = strings.ToLower(strings.Trim(cfg.Domain, "."))
	addrs := cfg.Upstreams
	if addrs == nil && cfg.ResolvConf != "" {
		addrs = hostResolvers(cfg.ResolvConf, cfg.Listen)
	}
	s.upstreams = newUpstreams(addrs)
	factory := informers.NewSharedInformerFactory(cfg.Client, 0)
	svc := factory.Core().V1().Services()
	eps := factory.Discovery().V1().EndpointSlices()
	s.resolver = &resolver{domain: s.cfg.Domain, services: svc.Lister(), endpoints: eps.Lister(), live: newLiveServices(cfg.Client).get}
	factory.Start(ctx.Done())
	defer factory.Shutdown()
	if !cache.WaitForCacheSync(ctx.Done(), svc.Informer().HasSynced, eps.Informer().HasSynced) {
		return ctx.Err()
	}
	port := cfg.Port
	if port == 0 {
		port = 53
	}
	addr := netip.AddrPortFrom(cfg.Listen, port).String()
	udp, err := net.ListenPacket("udp", addr)
	if err != nil {
		return fmt.Errorf("cluster DNS on %s/udp: %w", addr, err)
	}
	tcp, err := net.Listen("tcp", addr)
	if err != nil {
		udp.Close()
		return fmt.Errorf("cluster DNS on %s/tcp: %w", addr, err)
	}
	servers := []*dns.Server{
		{PacketConn: udp, Handler: s},
		{Listener: tcp, Handler: s},
	}
	errc := make(chan error, len(servers))
	for _, srv := range servers {
		go func() { errc <- srv.ActivateAndServe() }()
	}
	klog.FromContext(ctx).Info("cluster DNS serving", "address", addr, "domain", s.cfg.Domain, "upstreams", addrs)
	if ready != nil {
		ready()
	}
	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errc:
	}
	for _, srv := range servers {
		_ = srv.Shutdown()
	}
	return runErr
}

// hostResolvers lists the nameservers of a resolv.conf, except self.
func hostResolvers(path string, self netip.Addr) []string {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var out []string
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || f[0] != "nameserver" {
			continue
		}
		if a, err := netip.ParseAddr(f[1]); err == nil && a != self {
			out = append(out, netip.AddrPortFrom(a, 53).String())
		}
	}
	return out
}

// ServeDNS answers one query.
func (s *Server) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	if len(req.Question) != 1 {
		m := new(dns.Msg)
		m.SetRcode(req, dns.RcodeFormatError)
		_ = w.WriteMsg(m)
		return
	}
	q := req.Question[0]
	name := strings.ToLower(strings.TrimSuffix(q.Name, "."))
	if name == s.cfg.Domain || strings.HasSuffix(name, "."+s.cfg.Domain) {
		_ = w.WriteMsg(s.answer(req, q, s.resolver.lookup(name)))
		return
	}
	_ = w.WriteMsg(s.forward(req, w.RemoteAddr().Network()))
}

// answer builds the authoritative reply for a cluster name.
func (s *Server) answer(req *dns.Msg, q dns.Question, a answer) *dns.Msg {
	m := new(dns.Msg)
	m.SetReply(req)
	m.Authoritative = true
	if !a.found {
		m.Rcode = dns.RcodeNameError
		return m
	}
	hdr := func(t uint16) dns.RR_Header {
		return dns.RR_Header{Name: q.Name, Rrtype: t, Class: dns.ClassINET, Ttl: ttl}
	}
	switch {
	case a.cname != "":
		m.Answer = append(m.Answer, &dns.CNAME{Hdr: hdr(dns.TypeCNAME), Target: a.cname})
	case q.Qtype == dns.TypeA:
		for _, ip := range a.addrs {
			m.Answer = append(m.Answer, &dns.A{Hdr: hdr(dns.TypeA), A: net.IP(ip.AsSlice())})
		}
	case q.Qtype == dns.TypeSRV:
		for _, t := range a.srv {
			m.Answer = append(m.Answer, &dns.SRV{Hdr: hdr(dns.TypeSRV), Priority: 0, Weight: 100, Port: t.port, Target: t.target})
		}
	}
	return m
}

// forward relays the query to the node's resolvers, first answer wins;
// resolvers that stopped answering are skipped for a while, so that a
// pod's search-path walk for a name that does not exist costs one
// timeout, not one per suffix and retry.
func (s *Server) forward(req *dns.Msg, network string) *dns.Msg {
	client := *s.client
	if network == "tcp" {
		client.Net = "tcp"
	}
	var errs []error
	for _, up := range s.upstreams.usable() {
		resp, _, err := client.Exchange(req, up)
		s.upstreams.report(up, err)
		if err == nil {
			return resp
		}
		errs = append(errs, err)
	}
	m := new(dns.Msg)
	m.SetRcode(req, dns.RcodeServerFailure)
	if len(errs) == 0 {
		errs = append(errs, errors.New("no resolver of the node answers now"))
	}
	klog.V(2).InfoS("forwarding failed", "name", req.Question[0].Name, "err", errors.Join(errs...))
	return m
}
