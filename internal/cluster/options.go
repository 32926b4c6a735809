// Package cluster assembles a skiff single-node cluster from its parts (data
// dir, PKI, control plane) and runs it in the foreground.
package cluster

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"

	"github.com/skiff-dev/skiff/internal/datadir"

	"k8s.io/apimachinery/pkg/util/validation"
)

// Options are the settings of `skiff up`.
type Options struct {
	DataDir          string
	BindAddress      string
	AdvertiseAddress string // empty: the address of the default route's interface
	APIPort          int
	EtcdPort         int
	ServiceCIDR      string
	PodCIDR          string
	ClusterDomain    string
	// ResolvConf is the node's resolver configuration, as the kubelet's
	// --resolv-conf: pods with dnsPolicy Default get it, the cluster's
	// pods its search domains, and the cluster DNS forwards to its
	// nameservers.
	ResolvConf  string
	PodNetwork  bool   // pods get their own network; false: the host's
	NodeName    string // empty: this machine's hostname
	KubeletPort int
	MetricsPort int // metrics-server (the metrics.k8s.io API)
	// VolumesDir holds the local-path PersistentVolumes' folders; empty:
	// the data dir's volumes/.
	VolumesDir      string
	WriteKubeconfig bool
	// MLControllers runs the controllers of the ML kinds (ModelService,
	// ...) and installs their CRDs.
	MLControllers bool
	// GatewayPort is where the default Gateway answers (with the ML
	// controllers); 0 turns skiff's gateway off.
	GatewayPort int
	// GatewayAddress is the IP the default Gateway listens on.
	GatewayAddress string
	// GatewayMetricsPort serves the gateway's Prometheus metrics on
	// loopback.
	GatewayMetricsPort int
	// Verbosity is the component log's level (klog's -v; 0 is the
	// default, higher is chattier).
	Verbosity      int
	UserKubeconfig string // where --write-kubeconfig merges; empty: ~/.kube/config
}

// Defaults returns the options `skiff up` starts from.
func Defaults() Options {
	return Options{
		BindAddress:        "127.0.0.1",
		APIPort:            6443,
		EtcdPort:           2379,
		ServiceCIDR:        "10.43.0.0/16",
		PodCIDR:            "10.42.0.0/16",
		ClusterDomain:      "cluster.local",
		ResolvConf:         "/etc/resolv.conf",
		PodNetwork:         true,
		KubeletPort:        10250,
		MetricsPort:        10251,
		WriteKubeconfig:    true,
		MLControllers:      true,
		GatewayPort:        8080,
		GatewayAddress:     "127.0.0.1",
		GatewayMetricsPort: 10252,
	}
}

// ErrInvalid marks a bad option value.
var ErrInvalid = errors.New("invalid option")

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// Validate checks every option and names the flag of the first bad one.
func (o Options) Validate() error {
	if o.DataDir == "" {
		return invalid("--data-dir is empty")
	}
	if o.VolumesDir != "" && !strings.HasPrefix(o.VolumesDir, "/") {
		return invalid("--volumes-dir %q must be an absolute path", o.VolumesDir)
	}
	if net.ParseIP(o.BindAddress) == nil {
		return invalid("--bind-address %q is not an IP address", o.BindAddress)
	}
	if o.AdvertiseAddress != "" {
		ip := net.ParseIP(o.AdvertiseAddress)
		if ip == nil || ip.IsLoopback() || ip.IsUnspecified() {
			return invalid("--advertise-address %q must be a non-loopback IP address of this machine", o.AdvertiseAddress)
		}
	}
	for _, p := range []struct {
		flag string
		port int
	}{{"--api-port", o.APIPort}, {"--etcd-port", o.EtcdPort}, {"--kubelet-port", o.KubeletPort}, {"--metrics-port", o.MetricsPort}, {"--gateway-metrics-port", o.GatewayMetricsPort}} {
		if p.port < 1 || p.port > 65534 {
			return invalid("%s %d is out of range (1-65534)", p.flag, p.port)
		}
	}
	if o.GatewayPort < 0 || o.GatewayPort > 65535 {
		return invalid("--gateway-port %d is out of range (1-65535, or 0 for no gateway)", o.GatewayPort)
	}
	if net.ParseIP(o.GatewayAddress) == nil {
		return invalid("--gateway-address %q is not an IP address", o.GatewayAddress)
	}
	if o.NodeName != "" {
		if errs := validation.IsDNS1123Subdomain(o.NodeName); len(errs) > 0 {
			return invalid("--node-name %q must be a lowercase DNS name (letters, digits, '-' and '.'): %s", o.NodeName, strings.Join(errs, "; "))
		}
	}
	if o.APIPort == o.EtcdPort || o.APIPort == o.EtcdPort+1 {
		return invalid("--api-port %d collides with --etcd-port %d (etcd also uses %d)", o.APIPort, o.EtcdPort, o.EtcdPort+1)
	}
	prefix, err := netip.ParsePrefix(o.ServiceCIDR)
	if err != nil {
		return invalid("--service-cidr %q is not a CIDR such as 10.43.0.0/16", o.ServiceCIDR)
	}
	if prefix.Addr().Is4() && prefix.Bits() < 12 || prefix.Bits() > 28 && prefix.Addr().Is4() {
		return invalid("--service-cidr %s must be between /12 and /28", o.ServiceCIDR)
	}
	pods, err := netip.ParsePrefix(o.PodCIDR)
	if err != nil || !pods.Addr().Is4() {
		return invalid("--pod-cidr %q is not an IPv4 CIDR such as 10.42.0.0/16", o.PodCIDR)
	}
	if pods.Bits() < 8 || pods.Bits() > 28 {
		return invalid("--pod-cidr %s must be between /8 and /28", o.PodCIDR)
	}
	if pods.Overlaps(prefix) {
		return invalid("--pod-cidr %s overlaps --service-cidr %s; give them separate ranges", o.PodCIDR, o.ServiceCIDR)
	}
	if errs := validation.IsDNS1123Subdomain(o.ClusterDomain); len(errs) > 0 {
		return invalid("--cluster-domain %q must be a DNS name such as cluster.local: %s", o.ClusterDomain, strings.Join(errs, "; "))
	}
	if o.ResolvConf != "" {
		if _, err := os.Stat(o.ResolvConf); err != nil {
			return invalid("--resolv-conf %s: %v (name the node's resolver configuration, or \"\" for none)", o.ResolvConf, errors.Unwrap(err))
		}
	}
	return nil
}

// Layout returns the data dir layout of o.
func (o Options) Layout() (datadir.Layout, error) { return datadir.New(o.DataDir) }

// ports lists every TCP port skiff will listen on, with the flag that sets it.
func (o Options) ports() []portUse {
	ports := []portUse{
		{o.BindAddress, o.APIPort, "--api-port"},
		{"127.0.0.1", o.EtcdPort, "--etcd-port"},
		{"127.0.0.1", o.EtcdPort + 1, "--etcd-port (peer, --etcd-port+1)"},
		{"0.0.0.0", o.KubeletPort, "--kubelet-port"},
		{"0.0.0.0", o.MetricsPort, "--metrics-port"},
	}
	if o.MLControllers && o.GatewayPort != 0 {
		ports = append(ports, portUse{o.GatewayAddress, o.GatewayPort, "--gateway-port"}, portUse{"127.0.0.1", o.GatewayMetricsPort, "--gateway-metrics-port"})
	}
	return ports
}

type portUse struct {
	host string
	port int
	flag string
}

func (p portUse) addr() string { return net.JoinHostPort(p.host, strconv.Itoa(p.port)) }

// firstServiceIP is the address the kubernetes Service takes: the first
// host of the service range.
func firstServiceIP(cidr string) (net.IP, error) {
	prefix, err := netip.ParsePrefix(cidr)
	if err != nil {
		return nil, invalid("--service-cidr %q is not a CIDR", cidr)
	}
	return net.IP(prefix.Masked().Addr().Next().AsSlice()), nil
}

// NodeNameOrHost is --node-name, or the hostname made a valid node name.
func (o Options) NodeNameOrHost() (string, error) {
	if o.NodeName != "" {
		return o.NodeName, nil
	}
	h, err := os.Hostname()
	if err != nil {
		return "", fmt.Errorf("reading the hostname for the node name (set --node-name): %w", err)
	}
	name := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-', r == '.':
			return r
		case r >= 'A' && r <= 'Z':
			return r + ('a' - 'A')
		}
		return '-'
	}, h)
	name = strings.Trim(name, "-.")
	if name == "" {
		return "", invalid("hostname %q makes no valid node name; set --node-name", h)
	}
	return name, nil
}
