package node

import (
	"net"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/skiff-dev/skiff/internal/node/gpu"
)

func TestNodeObjectCapacity(t *testing.T) {
	cfg := Config{Name: "ml-box", InternalIP: net.ParseIP("192.0.2.2"), DataDir: t.TempDir(), Version: "v1.37.2"}
	for _, tt := range []struct {
		gpus int
		want string // nvidia.com/gpu capacity; "" for none
	}{{0, ""}, {2, "2"}} {
		n, err := nodeObject(cfg, tt.gpus)
		if err != nil {
			t.Fatal(err)
		}
		q, ok := n.Status.Capacity[gpu.Resource]
		if got := map[bool]string{true: q.String()}[ok]; got != tt.want {
			t.Errorf("%d GPUs: capacity %s = %q, want %q", tt.gpus, gpu.Resource, got, tt.want)
		}
		if a := n.Status.Allocatable[gpu.Resource]; ok && a.String() != tt.want {
			t.Errorf("%d GPUs: allocatable %s = %s", tt.gpus, gpu.Resource, a.String())
		}
		for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourcePods, corev1.ResourceEphemeralStorage} {
			if q := n.Status.Capacity[r]; q.IsZero() {
				t.Errorf("capacity %s is zero", r)
			}
		}
	}
}
