package pki

import (
	"crypto/x509"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func testOptions(now time.Time) Options {
	return Options{
		APIServerIPs:   []net.IP{net.IPv4(127, 0, 0, 1), net.IPv4(10, 43, 0, 1)},
		APIServerNames: []string{"localhost", "kubernetes.default.svc"},
		NodeName:       "worker-1",
		NodeIPs:        []net.IP{net.IPv4(192, 0, 2, 2)},
		Now:            func() time.Time { return now },
	}
}

func TestEnsureCreatesChainsAndModes(t *testing.T) {
	p := PathsIn(t.TempDir())
	now := time.Now()
	if err := Ensure(p, testOptions(now)); err != nil {
		t.Fatal(err)
	}
	ca, err := Load(p.CACert, p.CAKey)
	if err != nil {
		t.Fatal(err)
	}
	etcdCA, err := Load(p.EtcdCACert, p.EtcdCAKey)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		cert, key string
		ca        *KeyPair
		cn        string
		orgs      []string
		usage     []x509.ExtKeyUsage
	}{
		{p.APIServerCert, p.APIServerKey, ca, "kube-apiserver", nil, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}},
		{p.AdminCert, p.AdminKey, ca, "skiff-admin", []string{"system:masters"}, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}},
		{p.ControllerManagerCert, p.ControllerManagerKey, ca, "system:kube-controller-manager", nil, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}},
		{p.SchedulerCert, p.SchedulerKey, ca, "system:kube-scheduler", nil, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}},
		{p.NodeClientCert, p.NodeClientKey, ca, "system:node:worker-1", []string{"system:nodes"}, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}},
		{p.KubeletCert, p.KubeletKey, ca, "worker-1", nil, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}},
		{p.EtcdServerCert, p.EtcdServerKey, etcdCA, "skiff-etcd", nil, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}},
		{p.APIServerEtcdCert, p.APIServerEtcdKey, etcdCA, "kube-apiserver-etcd-client", nil, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}},
	}
	for _, tt := range tests {
		t.Run(filepath.Base(tt.cert), func(t *testing.T) {
			kp, err := Load(tt.cert, tt.key)
			if err != nil {
				t.Fatal(err)
			}
			if err := kp.Cert.CheckSignatureFrom(tt.ca.Cert); err != nil {
				t.Errorf("not signed by %s: %v", tt.ca.Cert.Subject.CommonName, err)
			}
			if diff := cmp.Diff(tt.cn, kp.Cert.Subject.CommonName); diff != "" {
				t.Errorf("common name (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.orgs, kp.Cert.Subject.Organization); diff != "" {
				t.Errorf("organization (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.usage, kp.Cert.ExtKeyUsage); diff != "" {
				t.Errorf("usage (-want +got):\n%s", diff)
			}
			assertMode(t, tt.key, 0o600)
		})
	}
	for _, k := range []string{p.CAKey, p.EtcdCAKey, p.FrontProxyCAKey, p.ServiceAccountKey} {
		assertMode(t, k, 0o600)
	}
	api, _ := Load(p.APIServerCert, p.APIServerKey)
	if diff := cmp.Diff([]string{"localhost", "kubernetes.default.svc"}, api.Cert.DNSNames); diff != "" {
		t.Errorf("apiserver DNS names (-want +got):\n%s", diff)
	}
}

func assertMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != want {
		t.Errorf("%s mode = %o, want %o", filepath.Base(path), got, want)
	}
}

func TestEnsureIsIdempotent(t *testing.T) {
	p := PathsIn(t.TempDir())
	now := time.Now()
	if err := Ensure(p, testOptions(now)); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(p.AdminCert)
	caBefore, _ := os.ReadFile(p.CACert)
	if err := Ensure(p, testOptions(now.Add(time.Hour))); err != nil {
		t.Fatal(err)
	}
	after, _ := os.ReadFile(p.AdminCert)
	caAfter, _ := os.ReadFile(p.CACert)
	if string(before) != string(after) || string(caBefore) != string(caAfter) {
		t.Error("a second Ensure rewrote certificates that were still valid")
	}
}

func TestEnsureReissuesServerCertForNewAddress(t *testing.T) {
	p := PathsIn(t.TempDir())
	now := time.Now()
	if err := Ensure(p, testOptions(now)); err != nil {
		t.Fatal(err)
	}
	opts := testOptions(now)
	opts.APIServerIPs = append(opts.APIServerIPs, net.IPv4(192, 0, 2, 7))
	if err := Ensure(p, opts); err != nil {
		t.Fatal(err)
	}
	api, err := Load(p.APIServerCert, p.APIServerKey)
	if err != nil {
		t.Fatal(err)
	}
	if !coversNames(api.Cert, CertSpec{IPs: opts.APIServerIPs}) {
		t.Errorf("apiserver certificate IPs %v lack 192.0.2.7", api.Cert.IPAddresses)
	}
}

func TestEnsureReissuesNodeCertsForNewName(t *testing.T) {
	p := PathsIn(t.TempDir())
	now := time.Now()
	if err := Ensure(p, testOptions(now)); err != nil {
		t.Fatal(err)
	}
	opts := testOptions(now)
	opts.NodeName = "renamed"
	if err := Ensure(p, opts); err != nil {
		t.Fatal(err)
	}
	for _, f := range [][2]string{{p.NodeClientCert, p.NodeClientKey}, {p.KubeletCert, p.KubeletKey}} {
		kp, err := Load(f[0], f[1])
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasSuffix(kp.Cert.Subject.CommonName, "renamed") {
			t.Errorf("%s CN = %q after the node was renamed", filepath.Base(f[0]), kp.Cert.Subject.CommonName)
		}
	}
}

func TestEnsureRefusesBadCertificates(t *testing.T) {
	tests := []struct {
		name    string
		damage  func(t *testing.T, p Paths)
		when    time.Duration // Ensure runs this long after creation
		wantIn  func(p Paths) string
		wantMsg string
	}{
		{
			name:    "expired leaf",
			damage:  func(*testing.T, Paths) {},
			when:    leafValidity + 24*time.Hour,
			wantIn:  func(p Paths) string { return p.EtcdServerCert },
			wantMsg: "expired on",
		},
		{
			name: "key does not match",
			damage: func(t *testing.T, p Paths) {
				copyFile(t, p.SchedulerKey, p.AdminKey)
			},
			wantIn:  func(p Paths) string { return p.AdminCert },
			wantMsg: "does not match its key",
		},
		{
			name: "signed by another CA",
			damage: func(t *testing.T, p Paths) {
				other := PathsIn(t.TempDir())
				if err := Ensure(other, testOptions(time.Now())); err != nil {
					t.Fatal(err)
				}
				copyFile(t, other.AdminCert, p.AdminCert)
				copyFile(t, other.AdminKey, p.AdminKey)
			},
			wantIn:  func(p Paths) string { return p.AdminCert },
			wantMsg: "was not signed by the cluster CA",
		},
		{
			name: "garbage certificate",
			damage: func(t *testing.T, p Paths) {
				if err := os.WriteFile(p.CACert, []byte("not a cert"), 0o644); err != nil {
					t.Fatal(err)
				}
			},
			wantIn:  func(p Paths) string { return p.CACert },
			wantMsg: "no PEM certificate block",
		},
		{
			name: "CA key lost",
			damage: func(t *testing.T, p Paths) {
				if err := os.Remove(p.CACert); err != nil {
					t.Fatal(err)
				}
			},
			wantIn:  func(p Paths) string { return p.CACert },
			wantMsg: "is missing but its key",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := PathsIn(t.TempDir())
			now := time.Now()
			if err := Ensure(p, testOptions(now)); err != nil {
				t.Fatal(err)
			}
			tt.damage(t, p)
			err := Ensure(p, testOptions(now.Add(tt.when)))
			if err == nil {
				t.Fatal("Ensure accepted a damaged PKI")
			}
			if !IsCertError(err) {
				t.Errorf("error %v is not a CertError", err)
			}
			for _, want := range []string{tt.wantIn(p), tt.wantMsg} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not mention %q", err, want)
				}
			}
		})
	}
}

func TestMissingLeafIsReissued(t *testing.T) {
	p := PathsIn(t.TempDir())
	if err := Ensure(p, testOptions(time.Now())); err != nil {
		t.Fatal(err)
	}
	os.Remove(p.AdminCert)
	os.Remove(p.AdminKey)
	if err := Ensure(p, testOptions(time.Now())); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(p.AdminCert, p.AdminKey); err != nil {
		t.Errorf("admin certificate not reissued: %v", err)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, data, 0o600); err != nil {
		t.Fatal(err)
	}
}
