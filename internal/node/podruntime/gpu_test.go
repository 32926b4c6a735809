package podruntime

import (
	"context"
	"os/exec"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/skiff-dev/skiff/internal/node/gpu"
)

func (b *podBuilder) gpus(n int) *podBuilder {
	c := &b.pod.Spec.Containers[len(b.pod.Spec.Containers)-1]
	c.Resources.Limits = corev1.ResourceList{gpu.Resource: *resource.NewQuantity(int64(n), resource.DecimalSI)}
	return b
}

// Without a sandbox, the env is what keeps a container to its GPUs.
func TestGPUEnvNamesOnlyTheContainersDevices(t *testing.T) {
	rt := newRuntime(t, withGPUs(gpu.NewAllocator([]gpu.Device{{UUID: "GPU-a"}, {UUID: "GPU-b"}})))
	show := "echo cuda=$CUDA_VISIBLE_DEVICES nvidia=$NVIDIA_VISIBLE_DEVICES"
	pod := newPod("gpus").
		container("train", "sh", "-c", show).gpus(1).env("CUDA_VISIBLE_DEVICES", "all").
		container("cpu-only", "sh", "-c", show).pod
	if err := rt.CreatePod(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	waitFor(t, rt, "gpus", "succeeded", phase(corev1.PodSucceeded))
	train := logsOf(t, rt, "gpus", "train", LogOptions{Tail: -1})
	if train != "cuda=GPU-a nvidia=GPU-a\n" && train != "cuda=GPU-b nvidia=GPU-b\n" {
		t.Errorf("GPU container sees %q", train)
	}
	if cpu := logsOf(t, rt, "gpus", "cpu-only", LogOptions{Tail: -1}); cpu != "cuda= nvidia=void\n" {
		t.Errorf("CPU container sees %q", cpu)
	}

	greedy := newPod("greedy").container("train", "true").gpus(3).pod
	if err := rt.CreatePod(context.Background(), greedy); err != nil {
		t.Fatal(err)
	}
	p := waitFor(t, rt, "greedy", "failed", phase(corev1.PodFailed))
	if cs := find(p.Status.ContainerStatuses, "train"); cs == nil || cs.State.Terminated == nil || !strings.Contains(cs.State.Terminated.Message, "3 nvidia.com/gpu requested") {
		t.Errorf("asking for 3 of 2 GPUs: %+v", cs)
	}
}

// On a machine with NVIDIA GPUs: a sandboxed container sees its GPU
// only, and a container without GPUs sees none.
func TestGPUsInSandboxes(t *testing.T) {
	devs, err := gpu.Detect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(devs) == 0 {
		t.Skip("no NVIDIA GPU here")
	}
	rt := sandboxedRuntime(t, withGPUs(gpu.NewAllocator(devs)))
	pod := newPod("cuda").
		container("train", "sh", "-c", "nvidia-smi -L; echo cuda=$CUDA_VISIBLE_DEVICES").gpus(1).
		container("cpu-only", "sh", "-c", "ls /dev | grep -c nvidia; nvidia-smi -L || echo no-gpu").pod
	if err := rt.CreatePod(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	p := waitFor(t, rt, "cuda", "finished", func(p *corev1.Pod) bool {
		return p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed
	})
	train := logsOf(t, rt, "cuda", "train", LogOptions{Tail: -1})
	cpu := logsOf(t, rt, "cuda", "cpu-only", LogOptions{Tail: -1})
	t.Logf("host: %d GPU(s)\ntrain:\n%scpu-only:\n%s", len(devs), train, cpu)
	if p.Status.Phase != corev1.PodSucceeded {
		t.Fatalf("phase %s", p.Status.Phase)
	}
	if n := strings.Count(train, "GPU "); n != 1 || !strings.Contains(train, "cuda=GPU-") {
		t.Errorf("the GPU container lists %d GPUs (want its 1) or lacks CUDA_VISIBLE_DEVICES", n)
	}
	if !strings.HasPrefix(cpu, "0\n") || !strings.Contains(cpu, "no-gpu") {
		t.Errorf("the CPU-only container reaches a GPU")
	}
	if out, err := exec.Command("nvidia-smi", "-L").Output(); err == nil {
		t.Logf("host nvidia-smi -L:\n%s", out)
	}
}
