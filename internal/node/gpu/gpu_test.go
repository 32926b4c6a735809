package gpu

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

func TestParse(t *testing.T) {
	out := []byte("0, GPU-aaaa, NVIDIA H100 80GB HBM3, 81559, 00000000:18:00.0\n1, GPU-bbbb, NVIDIA H100 80GB HBM3, 81559, 00000000:2A:00.0\n")
	minors := map[string]int{"00000000:2A:00.0": 4}
	got, err := parse(out, func(bus string) (int, bool) { m, ok := minors[bus]; return m, ok })
	if err != nil {
		t.Fatal(err)
	}
	want := []Device{
		{Index: 0, UUID: "GPU-aaaa", Name: "NVIDIA H100 80GB HBM3", MemoryMiB: 81559, Minor: 0},
		{Index: 1, UUID: "GPU-bbbb", Name: "NVIDIA H100 80GB HBM3", MemoryMiB: 81559, Minor: 4},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("devices (-want +got):\n%s", diff)
	}
	if got[1].Path() != "/dev/nvidia4" {
		t.Errorf("path %s", got[1].Path())
	}
	if _, err := parse([]byte("garbage\n"), nil); err == nil {
		t.Error("a malformed line was accepted")
	}
}

func TestAllocator(t *testing.T) {
	a := NewAllocator([]Device{{UUID: "GPU-a"}, {UUID: "GPU-b"}, {UUID: "GPU-c"}})
	uuids := func(devs []Device) []string {
		var out []string
		for _, d := range devs {
			out = append(out, d.UUID)
		}
		return out
	}
	first, err := a.Allocate("pod1/train", 2)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"GPU-a", "GPU-b"}, uuids(first)); diff != "" {
		t.Errorf("first allocation (-want +got):\n%s", diff)
	}
	// A restarted container keeps its devices.
	again, _ := a.Allocate("pod1/train", 2)
	if diff := cmp.Diff(uuids(first), uuids(again)); diff != "" {
		t.Errorf("restart changed devices (-want +got):\n%s", diff)
	}
	if _, err := a.Allocate("pod2/train", 2); err == nil {
		t.Error("allocated 2 GPUs with 1 free")
	}
	a.Release("pod1/")
	if got, err := a.Allocate("pod2/train", 3); err != nil || len(got) != 3 {
		t.Errorf("after release: %v, %v", got, err)
	}
}

func TestRequestedAndEnv(t *testing.T) {
	c := &corev1.Container{Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{Resource: resource.MustParse("2")}}}
	if n := Requested(c); n != 2 {
		t.Errorf("requested %d", n)
	}
	if diff := cmp.Diff([]string{"CUDA_VISIBLE_DEVICES=GPU-a,GPU-b", "NVIDIA_VISIBLE_DEVICES=GPU-a,GPU-b"}, Env([]Device{{UUID: "GPU-a"}, {UUID: "GPU-b"}})); diff != "" {
		t.Errorf("env (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"CUDA_VISIBLE_DEVICES=", "NVIDIA_VISIBLE_DEVICES=void"}, Env(nil)); diff != "" {
		t.Errorf("env without GPUs (-want +got):\n%s", diff)
	}
}
