package podruntime

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/skiff-dev/skiff/internal/node/cgroups"
)

func TestMemoryLimitEndsOOMKilled(t *testing.T) {
	events := &eventLog{}
	rt := cgroupRuntime(t, withRecorder(events.record))
	// Allocates and touches 256 MiB against a 32 MiB limit.
	pod := newPod("hog").container("main", "python3", "-c", "b = bytearray(256 << 20); print('survived')").pod
	pod.Spec.Containers[0].Resources.Limits = corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("32Mi")}
	if err := rt.CreatePod(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	p := waitFor(t, rt, "hog", "Failed", phase(corev1.PodFailed))
	term := p.Status.ContainerStatuses[0].State.Terminated
	if term.Reason != "OOMKilled" || term.ExitCode != 137 {
		t.Errorf("terminated %s (exit %d), want OOMKilled (137); logs: %s", term.Reason, term.ExitCode,
			logsOf(t, rt, "hog", "main", LogOptions{Tail: -1}))
	}
	if !events.has("OOMKilling", "memory limit") {
		t.Errorf("no OOMKilling event in %v", events.lines)
	}
}

func TestWithinLimitsRunsNormally(t *testing.T) {
	rt := cgroupRuntime(t)
	pod := newPod("small").container("main", "python3", "-c", "b = bytearray(8 << 20); print('fine')").pod
	pod.Spec.Containers[0].Resources.Limits = corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("128Mi"), corev1.ResourceCPU: resource.MustParse("500m")}
	if err := rt.CreatePod(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	waitFor(t, rt, "small", "Succeeded", phase(corev1.PodSucceeded))
	if got := logsOf(t, rt, "small", "main", LogOptions{Tail: -1}); got != "fine\n" {
		t.Errorf("logs = %q", got)
	}
}

// cgroupRuntime runs containers in sandboxes and cgroups, skipping the
// test where either is missing.
func cgroupRuntime(t testing.TB, opts ...option) *Runtime {
	t.Helper()
	if ok, why := cgroups.Available(); !ok {
		t.Skipf("cgroups unavailable: %s", why)
	}
	tree := cgroups.ForInstance("runtime-test")
	rt := sandboxedRuntime(t, append([]option{withCgroups(tree)}, opts...)...)
	// Stops the pods, then removes the test's cgroups.
	t.Cleanup(func() {
		rt.Shutdown(2 * time.Second)
		if _, err := tree.CleanAll(); err != nil {
			t.Errorf("removing skiff cgroups: %v", err)
		}
	})
	return rt
}

func TestUsageCountsCPUAndMemory(t *testing.T) {
	rt := cgroupRuntime(t)
	// Burns CPU and holds 64 MiB (touched) until killed.
	script := "b = bytearray(64 << 20)\nwhile True: pass"
	pod := newPod("burn").container("main", "python3", "-c", script).restart(corev1.RestartPolicyAlways).pod
	if err := rt.CreatePod(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	waitFor(t, rt, "burn", "Running", phase(corev1.PodRunning))
	first := usageOf(t, rt, "burn")
	time.Sleep(time.Second)
	second := usageOf(t, rt, "burn")
	cores := float64(second.CPUNanos-first.CPUNanos) / 1e9
	// One busy thread: about a core, whatever else the machine does.
	if cores < 0.5 || cores > 1.3 {
		t.Errorf("a busy loop used %.2f cores over a second", cores)
	}
	if second.WorkingSetBytes < 64<<20 || second.WorkingSetBytes > 256<<20 {
		t.Errorf("working set %d bytes, want a little over 64 MiB", second.WorkingSetBytes)
	}
}

func usageOf(t *testing.T, rt *Runtime, pod string) cgroups.Usage {
	t.Helper()
	for _, pu := range rt.Usage() {
		if pu.Name == pod && len(pu.Containers) == 1 {
			return pu.Containers[0].Usage
		}
	}
	t.Fatalf("no usage for pod %s", pod)
	return cgroups.Usage{}
}
