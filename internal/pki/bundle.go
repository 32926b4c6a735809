package pki

import (
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// Paths names every file of the cluster's PKI, relative to nothing: each is a
// full path inside the PKI directory.
type Paths struct {
	Dir string

	CACert, CAKey                 string
	EtcdCACert, EtcdCAKey         string
	FrontProxyCACert              string
	FrontProxyCAKey               string
	EtcdServerCert, EtcdServerKey string
	APIServerCert, APIServerKey   string
	APIServerEtcdCert             string
	APIServerEtcdKey              string
	APIServerKubeletCert          string
	APIServerKubeletKey           string
	FrontProxyClientCert          string
	FrontProxyClientKey           string
	AdminCert, AdminKey           string
	ControllerManagerCert         string
	ControllerManagerKey          string
	SchedulerCert, SchedulerKey   string
	NodeClientCert, NodeClientKey string
	KubeletCert, KubeletKey       string
	ServiceAccountKey             string
	ServiceAccountPub             string
}

// PathsIn lays out the PKI files under dir.
func PathsIn(dir string) Paths {
	f := func(name string) string { return filepath.Join(dir, name) }
	return Paths{
		Dir:    dir,
		CACert: f("ca.crt"), CAKey: f("ca.key"),
		EtcdCACert: f("etcd-ca.crt"), EtcdCAKey: f("etcd-ca.key"),
		FrontProxyCACert: f("front-proxy-ca.crt"), FrontProxyCAKey: f("front-proxy-ca.key"),
		EtcdServerCert: f("etcd-server.crt"), EtcdServerKey: f("etcd-server.key"),
		APIServerCert: f("apiserver.crt"), APIServerKey: f("apiserver.key"),
		APIServerEtcdCert: f("apiserver-etcd-client.crt"), APIServerEtcdKey: f("apiserver-etcd-client.key"),
		APIServerKubeletCert: f("apiserver-kubelet-client.crt"), APIServerKubeletKey: f("apiserver-kubelet-client.key"),
		FrontProxyClientCert: f("front-proxy-client.crt"), FrontProxyClientKey: f("front-proxy-client.key"),
		AdminCert: f("admin.crt"), AdminKey: f("admin.key"),
		ControllerManagerCert: f("controller-manager.crt"), ControllerManagerKey: f("controller-manager.key"),
		SchedulerCert: f("scheduler.crt"), SchedulerKey: f("scheduler.key"),
		NodeClientCert: f("node-client.crt"), NodeClientKey: f("node-client.key"),
		KubeletCert: f("kubelet.crt"), KubeletKey: f("kubelet.key"),
		ServiceAccountKey: f("sa.key"), ServiceAccountPub: f("sa.pub"),
	}
}

// Options are the names and addresses the certificates must carry.
type Options struct {
	APIServerIPs   []net.IP
	APIServerNames []string
	// NodeName is the node's name: its client certificate is
	// system:node:<NodeName>, and its kubelet API serves NodeIPs.
	NodeName string
	NodeIPs  []net.IP
	Now      func() time.Time
}

// CertError says which certificate file is unusable and why.
type CertError struct {
	File   string
	Reason string
}

func (e *CertError) Error() string {
	return fmt.Sprintf("certificate %s %s; move it and its key aside and run skiff up again to issue a new one from the cluster CA", e.File, e.Reason)
}

// IsCertError reports whether err is a problem with an existing certificate.
func IsCertError(err error) bool {
	var ce *CertError
	return errors.As(err, &ce)
}

type leaf struct {
	cert, key string
	ca        string // which CA signs it: "cluster", "etcd" or "front-proxy"
	spec      CertSpec
}

// Ensure creates whatever is missing of the PKI in p.Dir and checks what is
// there: every certificate must be current, match its key and chain to its
// CA. A server certificate missing a required name is reissued (same CA).
func Ensure(p Paths, opts Options) error {
	now := time.Now
	if opts.Now != nil {
		now = opts.Now
	}
	if err := os.MkdirAll(p.Dir, 0o700); err != nil {
		return fmt.Errorf("creating PKI directory: %w", err)
	}
	cas := map[string]*KeyPair{}
	for _, c := range []struct{ name, cert, key, cn string }{
		{"cluster", p.CACert, p.CAKey, "skiff-ca"},
		{"etcd", p.EtcdCACert, p.EtcdCAKey, "skiff-etcd-ca"},
		{"front-proxy", p.FrontProxyCACert, p.FrontProxyCAKey, "skiff-front-proxy-ca"},
	} {
		kp, err := ensureCA(c.cert, c.key, c.cn, now())
		if err != nil {
			return err
		}
		cas[c.name] = kp
	}
	localhost := []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}
	leaves := []leaf{
		{p.EtcdServerCert, p.EtcdServerKey, "etcd", CertSpec{CommonName: "skiff-etcd", Server: true, Client: true, DNSNames: []string{"localhost"}, IPs: localhost}},
		{p.APIServerEtcdCert, p.APIServerEtcdKey, "etcd", CertSpec{CommonName: "kube-apiserver-etcd-client", Client: true}},
		{p.APIServerCert, p.APIServerKey, "cluster", CertSpec{CommonName: "kube-apiserver", Server: true, DNSNames: opts.APIServerNames, IPs: opts.APIServerIPs}},
		{p.APIServerKubeletCert, p.APIServerKubeletKey, "cluster", CertSpec{CommonName: "kube-apiserver-kubelet-client", Organization: []string{"system:masters"}, Client: true}},
		{p.FrontProxyClientCert, p.FrontProxyClientKey, "front-proxy", CertSpec{CommonName: "front-proxy-client", Client: true}},
		{p.AdminCert, p.AdminKey, "cluster", CertSpec{CommonName: "skiff-admin", Organization: []string{"system:masters"}, Client: true}},
		{p.ControllerManagerCert, p.ControllerManagerKey, "cluster", CertSpec{CommonName: "system:kube-controller-manager", Client: true}},
		{p.SchedulerCert, p.SchedulerKey, "cluster", CertSpec{CommonName: "system:kube-scheduler", Client: true}},
	}
	if opts.NodeName != "" {
		leaves = append(leaves,
			leaf{p.NodeClientCert, p.NodeClientKey, "cluster", CertSpec{CommonName: "system:node:" + opts.NodeName, Organization: []string{"system:nodes"}, Client: true}},
			leaf{p.KubeletCert, p.KubeletKey, "cluster", CertSpec{CommonName: opts.NodeName, Server: true,
				DNSNames: []string{opts.NodeName, "localhost"}, IPs: append([]net.IP{net.IPv4(127, 0, 0, 1)}, opts.NodeIPs...)}})
	}
	for _, l := range leaves {
		if err := ensureLeaf(l, cas[l.ca], now()); err != nil {
			return err
		}
	}
	return ensureServiceAccountKey(p.ServiceAccountKey, p.ServiceAccountPub)
}

func exists(path string) (bool, error) {
	_, err := os.Stat(path)
	if err == nil {
		return true, nil
	}
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return false, err
}

func ensureCA(certFile, keyFile, cn string, now time.Time) (*KeyPair, error) {
	ok, err := exists(certFile)
	if err != nil {
		return nil, err
	}
	if !ok {
		if keyOK, _ := exists(keyFile); keyOK {
			return nil, &CertError{File: certFile, Reason: "is missing but its key " + keyFile + " exists"}
		}
		kp, err := NewCA(cn, now)
		if err != nil {
			return nil, err
		}
		return kp, kp.Save(certFile, keyFile)
	}
	kp, err := Load(certFile, keyFile)
	if err != nil {
		return nil, &CertError{File: certFile, Reason: "cannot be used: " + err.Error()}
	}
	if err := checkTime(kp.Cert, now); err != nil {
		return nil, &CertError{File: certFile, Reason: err.Error()}
	}
	if !kp.Cert.IsCA {
		return nil, &CertError{File: certFile, Reason: "is not a CA certificate"}
	}
	return kp, nil
}

func checkTime(c *x509.Certificate, now time.Time) error {
	if now.After(c.NotAfter) {
		return fmt.Errorf("expired on %s", c.NotAfter.UTC().Format(time.RFC3339))
	}
	if now.Before(c.NotBefore) {
		return fmt.Errorf("is not valid before %s (check the clock)", c.NotBefore.UTC().Format(time.RFC3339))
	}
	return nil
}

func ensureLeaf(l leaf, ca *KeyPair, now time.Time) error {
	ok, err := exists(l.cert)
	if err != nil {
		return err
	}
	if ok {
		kp, err := Load(l.cert, l.key)
		if err != nil {
			return &CertError{File: l.cert, Reason: "cannot be used: " + err.Error()}
		}
		if err := checkTime(kp.Cert, now); err != nil {
			return &CertError{File: l.cert, Reason: err.Error()}
		}
		if err := kp.Cert.CheckSignatureFrom(ca.Cert); err != nil {
			return &CertError{File: l.cert, Reason: "was not signed by the cluster CA " + ca.Cert.Subject.CommonName}
		}
		if matchesSpec(kp.Cert, l.spec) {
			return nil
		}
		// The node's name or a server's addresses changed: reissue from the
		// same CA, so every client that trusts the CA keeps working.
	}
	kp, err := ca.Issue(l.spec, now)
	if err != nil {
		return err
	}
	return kp.Save(l.cert, l.key)
}

func matchesSpec(c *x509.Certificate, spec CertSpec) bool {
	if c.Subject.CommonName != spec.CommonName {
		return false
	}
	return !spec.Server || coversNames(c, spec)
}

func coversNames(c *x509.Certificate, spec CertSpec) bool {
	for _, n := range spec.DNSNames {
		if !slices.Contains(c.DNSNames, n) {
			return false
		}
	}
	for _, ip := range spec.IPs {
		if !slices.ContainsFunc(c.IPAddresses, ip.Equal) {
			return false
		}
	}
	return true
}
