package cluster

import (
	"fmt"
	"net"
	"os"
	"path/filepath"

	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/skiff-dev/skiff/internal/datadir"
	"github.com/skiff-dev/skiff/internal/kubeconfig"
	"github.com/skiff-dev/skiff/internal/pki"
)

// AdvertiseIP is --advertise-address, or this machine's main address.
func (o Options) AdvertiseIP() (net.IP, error) {
	if o.AdvertiseAddress != "" {
		return net.ParseIP(o.AdvertiseAddress), nil
	}
	return defaultAdvertiseAddress()
}

// EnsurePKI creates or checks the cluster certificates for these addresses.
func EnsurePKI(l datadir.Layout, bind, advertise net.IP, serviceCIDR, clusterDomain, nodeName string, extraIPs ...net.IP) error {
	svcIP, err := firstServiceIP(serviceCIDR)
	if err != nil {
		return err
	}
	ips := append([]net.IP{net.IPv4(127, 0, 0, 1), advertise, svcIP}, extraIPs...)
	if !bind.IsUnspecified() && !bind.IsLoopback() {
		ips = append(ips, bind)
	}
	names := []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc." + clusterDomain}
	if h, err := os.Hostname(); err == nil && h != "" {
		names = append(names, h)
	}
	opts := pki.Options{APIServerIPs: ips, APIServerNames: names, NodeName: nodeName, NodeIPs: []net.IP{advertise}}
	if err := pki.Ensure(l.PKI, opts); err != nil {
		return fmt.Errorf("cluster certificates in %s: %w", l.PKI.Dir, err)
	}
	return nil
}

func adminKubeconfig(l datadir.Layout, server string) (*clientcmdapi.Config, error) {
	return kubeconfig.Build(kubeconfig.Client{
		Name: "skiff", Server: server, CAFile: l.PKI.CACert, CertFile: l.PKI.AdminCert, KeyFile: l.PKI.AdminKey, Embed: true,
	})
}

// WriteAdminKubeconfig writes the data dir's kubeconfig (certificates embedded).
func WriteAdminKubeconfig(l datadir.Layout, server string) error {
	cfg, err := adminKubeconfig(l, server)
	if err != nil {
		return err
	}
	return kubeconfig.Write(l.Kubeconfig, cfg)
}

// MergeUserKubeconfig merges the "skiff" context into the user's kubeconfig.
func (o Options) MergeUserKubeconfig(l datadir.Layout, server string) (string, error) {
	path := o.UserKubeconfig
	if path == "" {
		var err error
		if path, err = kubeconfig.UserPath(); err != nil {
			return "", err
		}
	}
	cfg, err := adminKubeconfig(l, server)
	if err != nil {
		return "", err
	}
	return path, kubeconfig.Merge(path, cfg, "skiff")
}

// OpenComponentLog opens logs/kubernetes.log, where the upstream
// components log, so the terminal shows only skiff's own progress.
func OpenComponentLog(l datadir.Layout) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(l.LogsDir, "kubernetes.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening component log: %w", err)
	}
	return f, nil
}

// WriteNodeKubeconfig writes the node agent's kubeconfig (its own
// system:node identity) and returns its path.
func WriteNodeKubeconfig(l datadir.Layout, server string) (string, error) {
	cfg, err := kubeconfig.Build(kubeconfig.Client{
		Name: "node", Server: server, CAFile: l.PKI.CACert, CertFile: l.PKI.NodeClientCert, KeyFile: l.PKI.NodeClientKey,
	})
	if err != nil {
		return "", err
	}
	path := filepath.Join(l.PKI.Dir, "node.kubeconfig")
	return path, kubeconfig.Write(path, cfg)
}
