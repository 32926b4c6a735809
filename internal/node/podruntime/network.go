package podruntime

import (
	"cmp"
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/skiff-dev/skiff/internal/node/network"
)

// PodNetwork connects pods' network namespaces to the node (package
// network's Host).
type PodNetwork interface {
	Attach(podUID, nsPath string) (netip.Addr, error)
	// Detach frees what Attach and SetHostPorts gave the pod; an error
	// says some of it stays.
	Detach(podUID string) error
	SetHostPorts(podUID string, ports []network.HostPort) error
}

// DNS is what pods' resolv.conf points at.
type DNS struct {
	Nameserver    string // the cluster DNS server
	ClusterDomain string // cluster.local
	HostResolv    string // the node's resolv.conf: its search domains follow the cluster's; dnsPolicy Default uses it whole
}

// ownNetwork says whether the pod gets a network namespace of its own.
func (r *Runtime) ownNetwork(pod *corev1.Pod) bool {
	return r.network != nil && r.sandboxSelf != "" && !pod.Spec.HostNetwork
}

// hostPorts lists the pod's hostPort mappings to addr.
func hostPorts(pod *corev1.Pod, addr netip.Addr) []network.HostPort {
	var ports []network.HostPort
	for _, list := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for _, c := range list {
			for _, p := range c.Ports {
				if p.HostPort == 0 {
					continue
				}
				ports = append(ports, network.HostPort{Protocol: p.Protocol, HostIP: p.HostIP, HostPort: p.HostPort, PodIP: addr, PodPort: p.ContainerPort})
			}
		}
	}
	return ports
}

// maxHostname is the kernel's limit (and a DNS label's).
const maxHostname = 63

// hostname is the pod's hostname: spec.hostname, else its name, cut to 63
// characters without a trailing '-' or '.', as the kubelet cuts it
// (generated pod names are often longer).
func hostname(pod *corev1.Pod) string {
	name := cmp.Or(pod.Spec.Hostname, pod.Name)
	if len(name) <= maxHostname {
		return name
	}
	return strings.TrimRight(name[:maxHostname], "-.")
}

// etcHosts is the pod's /etc/hosts, as the kubelet writes it: localhost,
// then the pod's address with its hostname (and FQDN under a subdomain).
func (r *Runtime) etcHosts(pod *corev1.Pod, ip string) string {
	var b strings.Builder
	b.WriteString("# Kubernetes-managed hosts file (skiff).\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n")
	names := hostname(pod)
	if sub := pod.Spec.Subdomain; sub != "" && r.dns.ClusterDomain != "" {
		names = fmt.Sprintf("%s.%s.%s.svc.%s\t%s", hostname(pod), sub, pod.Namespace, r.dns.ClusterDomain, hostname(pod))
	}
	fmt.Fprintf(&b, "%s\t%s\n", ip, names)
	for _, ha := range pod.Spec.HostAliases {
		fmt.Fprintf(&b, "%s\t%s\n", ha.IP, strings.Join(ha.Hostnames, "\t"))
	}
	return b.String()
}

// resolvConf is the pod's /etc/resolv.conf by its dnsPolicy and
// dnsConfig, as the kubelet builds it; "" keeps the node's.
func (r *Runtime) resolvConf(pod *corev1.Pod) string {
	if r.dns.Nameserver == "" {
		return ""
	}
	var servers, searches, options []string
	policy := pod.Spec.DNSPolicy
	if policy == "" {
		policy = corev1.DNSClusterFirst
	}
	switch {
	case policy == corev1.DNSNone:
	case policy == corev1.DNSDefault || policy == corev1.DNSClusterFirst && pod.Spec.HostNetwork:
		if pod.Spec.DNSConfig == nil {
			return ""
		}
		servers, searches, options = parseResolv(r.dns.HostResolv)
	default: // ClusterFirst, ClusterFirstWithHostNet
		d := r.dns.ClusterDomain
		servers = []string{r.dns.Nameserver}
		_, hostSearch, _ := parseResolv(r.dns.HostResolv)
		searches = append([]string{pod.Namespace + ".svc." + d, "svc." + d, d}, hostSearch...)
		options = []string{"ndots:5"}
	}
	if c := pod.Spec.DNSConfig; c != nil {
		servers = appendNew(servers, c.Nameservers...)
		searches = appendNew(searches, c.Searches...)
		for _, o := range c.Options {
			opt := o.Name
			if o.Value != nil {
				opt += ":" + *o.Value
			}
			options = appendNew(removeOption(options, o.Name), opt)
		}
	}
	var b strings.Builder
	for _, s := range servers[:min(len(servers), 3)] {
		fmt.Fprintf(&b, "nameserver %s\n", s)
	}
	if len(searches) > 0 {
		fmt.Fprintf(&b, "search %s\n", strings.Join(searches[:min(len(searches), 32)], " "))
	}
	if len(options) > 0 {
		fmt.Fprintf(&b, "options %s\n", strings.Join(options, " "))
	}
	return b.String()
}

// parseResolv reads the nameserver, search and options lines of a
// resolv.conf.
func parseResolv(text string) (servers, searches, options []string) {
	for _, line := range strings.Split(text, "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		switch f[0] {
		case "nameserver":
			servers = append(servers, f[1])
		case "search", "domain":
			searches = append(searches, f[1:]...)
		case "options":
			options = append(options, f[1:]...)
		}
	}
	return servers, searches, options
}

func appendNew(list []string, items ...string) []string {
	for _, it := range items {
		if !slices.Contains(list, it) {
			list = append(list, it)
		}
	}
	return list
}

// removeOption drops an option (name or name:value) so dnsConfig can
// override it.
func removeOption(options []string, name string) []string {
	out := options[:0:0]
	for _, o := range options {
		if o != name && !strings.HasPrefix(o, name+":") {
			out = append(out, o)
		}
	}
	return out
}

// DialPod connects to port on the pod's loopback: inside its network
// namespace when it has its own, else the node's.
func (r *Runtime) DialPod(ctx context.Context, namespace, name string, port int) (net.Conn, error) {
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	if pr := r.lookup(namespace, name); pr != nil {
		if ns := pr.namespaces(); ns != nil && ns.NetNS() != "" {
			return network.DialIn(ctx, ns.NetNS(), addr)
		}
	}
	var d net.Dialer
	return d.DialContext(ctx, "tcp", addr)
}
