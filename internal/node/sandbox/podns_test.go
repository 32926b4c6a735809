package sandbox

import (
	"os"
	"path/filepath"
	"testing"
)

func BenchmarkPodNamespaces(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("needs root")
	}
	dir := b.TempDir()
	for i := 0; i < b.N; i++ {
		p, err := NewPod(filepath.Join(dir, "ns"), "bench", false)
		if err != nil {
			b.Fatal(err)
		}
		if err := p.Remove(); err != nil {
			b.Fatal(err)
		}
	}
}
