package cgroups

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/opencontainers/cgroups"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/utils/ptr"
)

func TestResources(t *testing.T) {
	q := resource.MustParse
	tests := []struct {
		name string
		in   corev1.ResourceRequirements
		want *cgroups.Resources
	}{
		{"best effort", corev1.ResourceRequirements{},
			&cgroups.Resources{SkipDevices: true, PidsLimit: ptr.To(int64(DefaultPidsLimit)), CpuShares: 2}},
		{"limits and requests", corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: q("250m")},
			Limits:   corev1.ResourceList{corev1.ResourceCPU: q("1500m"), corev1.ResourceMemory: q("64Mi")},
		}, &cgroups.Resources{SkipDevices: true, PidsLimit: ptr.To(int64(DefaultPidsLimit)),
			CpuShares: 256, CpuQuota: 150000, CpuPeriod: 100000, Memory: 64 << 20, MemorySwap: 64 << 20}},
		{"limit only sets the share too", corev1.ResourceRequirements{
			Limits: corev1.ResourceList{corev1.ResourceCPU: q("2")},
		}, &cgroups.Resources{SkipDevices: true, PidsLimit: ptr.To(int64(DefaultPidsLimit)),
			CpuShares: 2048, CpuQuota: 200000, CpuPeriod: 100000}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, Resources(tt.in)); diff != "" {
				t.Errorf("Resources (-want +got):\n%s", diff)
			}
		})
	}
}

// TestUsageMatchesRuncStats reads a live group both ways.
func TestUsageMatchesRuncStats(t *testing.T) {
	if ok, why := Available(); !ok {
		t.Skip(why)
	}
	tree := ForInstance("usage-test")
	g, err := tree.New("pod", "c", Resources(corev1.ResourceRequirements{}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = tree.CleanAll() })
	fast, err := g.Usage()
	if err != nil {
		t.Fatal(err)
	}
	st, err := g.m.GetStats()
	if err != nil {
		t.Fatal(err)
	}
	// An empty group: nothing used, read the same both ways.
	if diff := cmp.Diff(usageOf(st), fast); diff != "" {
		t.Errorf("Usage vs runc's stats (-runc +fast):\n%s", diff)
	}
}

// TestUsageV2 reads a unified hierarchy's files as the kernel writes them
// (this machine is v1; the GPU test machine, v2, runs the live tests).
func TestUsageV2(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string]string{
		"cpu.stat":       "usage_usec 2500000\nuser_usec 2000000\nsystem_usec 500000\nnr_periods 0\n",
		"memory.current": "73400320\n",
		"memory.stat":    "anon 62914560\nfile 10485760\nactive_file 2097152\ninactive_file 8388608\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := usageV2(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := Usage{CPUNanos: 2.5e9, MemoryUsageBytes: 73400320, WorkingSetBytes: 73400320 - 8388608}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("usage (-want +got):\n%s", diff)
	}
	if _, err := usageV2(t.TempDir()); err == nil {
		t.Error("an empty directory read as usage")
	}
}
