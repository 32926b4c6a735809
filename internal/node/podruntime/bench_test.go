package podruntime

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/skiff-dev/skiff/internal/node/cgroups"
	"github.com/skiff-dev/skiff/internal/node/sandbox"
)

// BenchmarkPodStart measures the runtime alone: CreatePod to the container
// running (its status published), for plain processes, sandboxes, and
// sandboxes with cgroups.
func BenchmarkPodStart(b *testing.B) {
	modes := []struct {
		name             string
		sandbox, cgroups bool
	}{{"process", false, false}, {"sandbox", true, false}, {"sandbox+cgroups", true, true}}
	for _, m := range modes {
		b.Run(m.name, func(b *testing.B) {
			if m.sandbox {
				if ok, why := sandbox.Available(); !ok {
					b.Skip(why)
				}
			}
			if m.cgroups {
				if ok, why := cgroups.Available(); !ok {
					b.Skip(why)
				}
			}
			cfg := Config{PodsDir: b.TempDir(), HostIP: "127.0.0.1"}
			if m.sandbox {
				withSandboxes(b)(&cfg)
			}
			if m.cgroups {
				tree := cgroups.ForInstance("bench")
				withCgroups(tree)(&cfg)
				defer tree.CleanAll()
			}
			rt, err := New(cfg)
			if err != nil {
				b.Fatal(err)
			}
			defer rt.Shutdown(5 * time.Second)
			running := make(chan string, 16)
			rt.NotifyPods(context.Background(), func(p *corev1.Pod) {
				if len(p.Status.ContainerStatuses) == 1 && p.Status.ContainerStatuses[0].State.Running != nil {
					select {
					case running <- p.Name:
					default:
					}
				}
			})
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				pod := newPod(fmt.Sprintf("bench-%d", i)).container("main", "sleep", "5").pod
				pod.UID = types.UID(fmt.Sprintf("uid-bench-%d", i))
				if err := rt.CreatePod(context.Background(), pod); err != nil {
					b.Fatal(err)
				}
				for name := range running {
					if name == pod.Name {
						break
					}
				}
				b.StopTimer()
				_ = rt.DeletePod(context.Background(), pod)
				b.StartTimer()
			}
		})
	}
}
