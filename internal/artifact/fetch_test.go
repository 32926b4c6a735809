package artifact

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestFetch(t *testing.T) {
	ctx := context.Background()
	srcDir := t.TempDir()
	data := []byte(`{"learner": {}}`)
	src := filepath.Join(srcDir, "m.json")
	if err := os.WriteFile(src, data, 0o644); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	digest := Digest(hex.EncodeToString(sum[:]))
	cache, err := NewDir(t.TempDir(), "")
	if err != nil {
		t.Fatal(err)
	}

	t.Run("into a folder", func(t *testing.T) {
		to := t.TempDir()
		got, err := Fetch{To: to}.Run(ctx, "file://"+src)
		if err != nil || got.Path != filepath.Join(to, FileName) || got.Cached {
			t.Fatalf("Run = %+v, %v", got, err)
		}
		if b, _ := os.ReadFile(got.Path); string(b) != string(data) {
			t.Errorf("fetched %q", b)
		}
	})

	t.Run("a wrong checksum leaves the cache empty", func(t *testing.T) {
		wrong := Digest(strings.Repeat("0", 64))
		_, err := Fetch{Cache: cache, Digest: wrong}.Run(ctx, "file://"+src)
		if err == nil || !strings.Contains(err.Error(), "expected "+string(wrong)) {
			t.Fatalf("error %v, want the digests named", err)
		}
		if _, ok, _ := cache.Stat(ctx, wrong); ok {
			t.Errorf("a file that does not match its checksum is in the cache")
		}
	})

	t.Run("the cache is filled once", func(t *testing.T) {
		got, err := Fetch{Cache: cache, Digest: digest}.Run(ctx, "file://"+src)
		if err != nil || got.Cached || got.Path != filepath.Join(cache.Root, CachePath(digest), FileName) {
			t.Fatalf("first Run = %+v, %v", got, err)
		}
		// The source is gone: a hit reads nothing.
		if err := os.Remove(src); err != nil {
			t.Fatal(err)
		}
		got, err = Fetch{Cache: cache, Digest: digest}.Run(ctx, "file://"+src)
		if err != nil || !got.Cached || got.Size != int64(len(data)) {
			t.Errorf("second Run = %+v, %v, want a hit", got, err)
		}
	})

	if _, err := ParseChecksum("md5:abc"); err == nil {
		t.Errorf("ParseChecksum took md5:abc")
	}
	if d, err := ParseChecksum(digest.Checksum()); err != nil || d != digest {
		t.Errorf("ParseChecksum(%s) = %s, %v", digest.Checksum(), d, err)
	}
}

// TestStaleScratchRemoved: a scratch file a crash left behind goes when
// the folder is next opened; a fresh one (a copy in progress elsewhere)
// stays.
func TestStaleScratchRemoved(t *testing.T) {
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "tmp"), 0o755); err != nil {
		t.Fatal(err)
	}
	old, fresh := filepath.Join(root, "tmp", "fetch-1.json"), filepath.Join(root, "tmp", "put-2")
	for _, p := range []string{old, fresh} {
		if err := os.WriteFile(p, []byte("partial"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	long := time.Now().Add(-2 * staleScratch)
	if err := os.Chtimes(old, long, long); err != nil {
		t.Fatal(err)
	}
	if _, err := NewDir(root, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(old); !os.IsNotExist(err) {
		t.Errorf("the stale scratch file is still there (%v)", err)
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Errorf("a fresh scratch file was removed: %v", err)
	}
}
