package cgroups

import (
	"os"
	"path/filepath"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestCleanAllRemovesTheTreeAndTheSharedParent(t *testing.T) {
	if ok, why := Available(); !ok {
		t.Skipf("cgroups unavailable: %s", why)
	}
	a, b := ForInstance("tree-test-a"), ForInstance("tree-test-b")
	ga, err := a.New("pod1", "main", Resources(corev1.ResourceRequirements{}))
	if err != nil {
		t.Fatal(err)
	}
	paths := ga.m.GetPaths()
	gb, err := b.New("pod2", "main", Resources(corev1.ResourceRequirements{}))
	if err != nil {
		t.Fatal(err)
	}
	var others []string // b's container cgroups that exist (skiff leaves devices alone)
	for _, p := range gb.m.GetPaths() {
		if _, err := os.Stat(p); err == nil {
			others = append(others, p)
		}
	}
	if _, err := a.CleanAll(); err != nil {
		t.Fatal(err)
	}
	for _, p := range paths {
		tree := filepath.Dir(filepath.Dir(p)) // <...>/skiff/tree-test-a
		if _, err := os.Stat(tree); err == nil {
			t.Errorf("%s left after CleanAll", tree)
		}
	}
	for _, p := range others {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("the other instance's cgroup went too: %v", err)
		}
	}
	if _, err := b.CleanAll(); err != nil {
		t.Fatal(err)
	}
	for _, p := range paths {
		parent := filepath.Dir(filepath.Dir(filepath.Dir(p))) // <...>/skiff
		if _, err := os.Stat(parent); err == nil {
			t.Errorf("the shared parent %s is left after the last instance", parent)
		}
	}
}
