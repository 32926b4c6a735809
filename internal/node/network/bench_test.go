package network

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/skiff-dev/skiff/internal/node/sandbox"
)

// BenchmarkAttach measures what pod networking adds to a pod's start and
// end: a network namespace, attached to the bridge and detached again.
func BenchmarkAttach(b *testing.B) {
	h := testHost(b)
	dir := b.TempDir()
	for i := 0; b.Loop(); i++ {
		uid := fmt.Sprintf("bench-%d", i)
		pod, err := sandbox.NewPod(filepath.Join(dir, uid), uid, true)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := h.Attach(uid, pod.NetNS()); err != nil {
			b.Fatal(err)
		}
		h.Detach(uid)
		if err := pod.Remove(); err != nil {
			b.Fatal(err)
		}
	}
}
