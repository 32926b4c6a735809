package atomicfile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWrite(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "state.json")
	for _, content := range []string{"first", "second"} {
		if err := Write(path, []byte(content), 0o600); err != nil {
			t.Fatalf("Write: %v", err)
		}
		got, err := os.ReadFile(path)
		if err != nil || string(got) != content {
			t.Fatalf("read back %q, %v; want %q", got, err, content)
		}
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("left %d entries beside the file, want none", len(entries)-1)
	}
}

func TestWriteSetsExactlyTheMode(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "f")
	// 0666 is more than a usual umask (022) lets through, and each write
	// changes the mode of the file before it.
	for _, perm := range []os.FileMode{0o644, 0o400, 0o666, 0o600} {
		if err := Write(path, []byte("x"), perm); err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != perm {
			t.Errorf("mode %v after writing with %v", got, perm)
		}
	}
}

func TestWriteNamesThePath(t *testing.T) {
	t.Parallel()
	blocker := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(blocker, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	err := Write(filepath.Join(blocker, "x"), []byte("x"), 0o600)
	if err == nil {
		t.Fatal("Write under a file: no error")
	}
	if !strings.Contains(err.Error(), blocker) {
		t.Errorf("error %q does not name %s", err, blocker)
	}
}
