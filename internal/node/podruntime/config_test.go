package podruntime

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/skiff-dev/skiff/internal/node/network"
)

// fakeNetwork is a PodNetwork that is never used: New only checks it is
// there.
type fakeNetwork struct{}

func (fakeNetwork) Attach(string, string) (netip.Addr, error)     { return netip.Addr{}, nil }
func (fakeNetwork) Detach(string) error                           { return nil }
func (fakeNetwork) SetHostPorts(string, []network.HostPort) error { return nil }

func TestNewChecksTheConfig(t *testing.T) {
	t.Parallel()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dns := DNS{Nameserver: "10.42.0.1", ClusterDomain: "cluster.local"}
	tests := []struct {
		name   string
		change func(*Config)
		// wantErrs are substrings of the error, one per problem; none: New
		// succeeds.
		wantErrs []string
	}{
		{name: "plain processes", change: func(*Config) {}},
		{name: "everything", change: func(c *Config) {
			c.SandboxBinary, c.Network, c.DNS = self, fakeNetwork{}, dns
			c.MaskedPaths, c.ScratchRoots = []string{"/var/lib/skiff"}, []string{"/dev/shm/skiff-volumes/x"}
		}},
		{name: "no pods dir", change: func(c *Config) { c.PodsDir = "" }, wantErrs: []string{"PodsDir is required"}},
		{name: "host IP", change: func(c *Config) { c.HostIP = "localhost" }, wantErrs: []string{"HostIP"}},
		{name: "missing sandbox binary", change: func(c *Config) { c.SandboxBinary = filepath.Join(t.TempDir(), "skiff") },
			wantErrs: []string{"SandboxBinary"}},
		{name: "network without sandboxes", change: func(c *Config) { c.Network, c.DNS = fakeNetwork{}, dns },
			wantErrs: []string{"Network needs SandboxBinary"}},
		{name: "DNS without network", change: func(c *Config) { c.SandboxBinary, c.DNS = self, dns },
			wantErrs: []string{"DNS needs Network"}},
		{name: "DNS nameserver", change: func(c *Config) {
			c.SandboxBinary, c.Network, c.DNS = self, fakeNetwork{}, DNS{Nameserver: "dns.local"}
		}, wantErrs: []string{"DNS nameserver"}},
		{name: "relative paths", change: func(c *Config) { c.MaskedPaths, c.ScratchRoots = []string{"data"}, []string{"scratch"} },
			wantErrs: []string{`MaskedPaths: "data"`, `ScratchRoots: "scratch"`}},
		{name: "every problem at once", change: func(c *Config) { c.PodsDir, c.HostIP, c.Network = "", "x", fakeNetwork{} },
			wantErrs: []string{"PodsDir", "HostIP", "Network needs SandboxBinary"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := Config{PodsDir: filepath.Join(t.TempDir(), "pods"), HostIP: "192.0.2.7"}
			tt.change(&cfg)
			_, err := New(cfg)
			var got []string
			for _, want := range tt.wantErrs {
				if err != nil && strings.Contains(err.Error(), want) {
					got = append(got, want)
				}
			}
			if diff := cmp.Diff(tt.wantErrs, got); diff != "" {
				t.Errorf("New: %v; problems named (-want +got):\n%s", err, diff)
			}
			if len(tt.wantErrs) == 0 && err != nil {
				t.Errorf("New: %v, want no error", err)
			}
		})
	}
}

func TestNewMakesThePodsDir(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "a", "pods")
	if _, err := New(Config{PodsDir: dir}); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		t.Errorf("pods dir %s not created: %v", dir, err)
	}
}
