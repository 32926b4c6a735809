package podruntime

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// BenchmarkUsage100Pods measures one reading of 100 running containers'
// cgroup counters: what the node pays per metrics scrape or history
// sample (each every 15 s).
func BenchmarkUsage100Pods(b *testing.B) {
	rt := cgroupRuntime(b)
	for i := range 100 {
		pod := newPod(fmt.Sprintf("idle-%d", i)).container("main", "sleep", "600").restart(corev1.RestartPolicyAlways).pod
		if err := rt.CreatePod(context.Background(), pod); err != nil {
			b.Fatal(err)
		}
	}
	deadline := time.Now().Add(2 * time.Minute)
	for len(rt.Usage()) < 100 {
		if time.Now().After(deadline) {
			b.Fatalf("only %d pods running", len(rt.Usage()))
		}
		time.Sleep(100 * time.Millisecond)
	}
	b.ResetTimer()
	for b.Loop() {
		if n := len(rt.Usage()); n != 100 {
			b.Fatalf("%d pods read", n)
		}
	}
}
