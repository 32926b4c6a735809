package node

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestProbe(t *testing.T) {
	t.Parallel()
	yes := func() (bool, string) { return true, "" }
	noRoot := func() (bool, string) { return false, "skiff is not running as root" }
	noNFT := func() (bool, string) { return false, "no nftables" }
	tests := []struct {
		name                          string
		sandboxes, limits, podNetwork check
		want                          Capabilities
	}{
		{name: "everything", sandboxes: yes, limits: yes, podNetwork: yes,
			want: Capabilities{Sandboxes: Capability{OK: true}, Cgroups: Capability{OK: true}, PodNetwork: Capability{OK: true}}},
		{name: "no pod network", sandboxes: yes, limits: yes, podNetwork: noNFT,
			want: Capabilities{Sandboxes: Capability{OK: true}, Cgroups: Capability{OK: true}, PodNetwork: Capability{Why: "no nftables"}}},
		{name: "no sandboxes means no pod network", sandboxes: noRoot, limits: yes, podNetwork: yes,
			want: Capabilities{Sandboxes: Capability{Why: "skiff is not running as root"}, Cgroups: Capability{OK: true},
				PodNetwork: Capability{Why: "skiff is not running as root"}}},
		{name: "no cgroups", sandboxes: yes, limits: noRoot, podNetwork: yes,
			want: Capabilities{Sandboxes: Capability{OK: true}, Cgroups: Capability{Why: "skiff is not running as root"}, PodNetwork: Capability{OK: true}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if diff := cmp.Diff(tt.want, probe(tt.sandboxes, tt.limits, tt.podNetwork)); diff != "" {
				t.Errorf("probe (-want +got):\n%s", diff)
			}
		})
	}
}
