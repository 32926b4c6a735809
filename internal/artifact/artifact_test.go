package artifact_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/skiff-dev/skiff/internal/artifact"
)

// storeContract is what every Store does, whatever keeps the files.
func storeContract(t *testing.T, store artifact.Store, wantPrefix string) {
	ctx := context.Background()
	body := `{"learner": "a model"}`
	src := writeFile(t, t.TempDir(), "m.json", body)
	digest := sha(body)

	uri, ok, err := store.Stat(ctx, digest)
	if err != nil || ok {
		t.Fatalf("Stat before Put = %q, %v, %v; want not stored", uri, ok, err)
	}
	got, err := store.Put(ctx, digest, src)
	if err != nil {
		t.Fatal(err)
	}
	want := wantPrefix + "/sha256/" + string(digest) + "/model.json"
	if got != want {
		t.Errorf("Put = %q, want %q", got, want)
	}
	if uri, ok, err := store.Stat(ctx, digest); err != nil || !ok || uri != want {
		t.Errorf("Stat after Put = %q, %v, %v; want %q, true", uri, ok, err, want)
	}
	// Storing it again is a no-op that names the same artifact.
	if again, err := store.Put(ctx, digest, src); err != nil || again != want {
		t.Errorf("second Put = %q, %v; want %q", again, err, want)
	}
	if read := readAll(t, store, got); read != body {
		t.Errorf("Open read %q, want %q", read, body)
	}

	// A source that is not what the digest says is refused, and leaves
	// nothing behind.
	other := sha("something else")
	if _, err := store.Put(ctx, other, src); err == nil {
		t.Error("Put with a digest that is not the file's succeeded")
	}
	if _, ok, _ := store.Stat(ctx, other); ok {
		t.Error("a refused Put left an artifact")
	}
	if _, _, err := store.Stat(ctx, "not-a-digest"); err == nil {
		t.Error("Stat of a malformed digest succeeded")
	}
}

func TestDir(t *testing.T) {
	root := t.TempDir()
	store, err := artifact.NewDir(root, "")
	if err != nil {
		t.Fatal(err)
	}
	storeContract(t, store, "file://"+root)

	entries, err := os.ReadDir(filepath.Join(root, "tmp"))
	if err != nil || len(entries) != 0 {
		t.Errorf("scratch folder holds %v (%v), want it empty after every Put", entries, err)
	}
	digest := sha(`{"learner": "a model"}`)
	info, err := os.Stat(filepath.Join(root, "sha256", string(digest), "model.json"))
	if err != nil {
		t.Fatal(err)
	}
	if perm := info.Mode().Perm(); perm != 0o444 {
		t.Errorf("artifact mode = %v, want read-only", perm)
	}
}

func TestDirOpenRefusesOtherPaths(t *testing.T) {
	store, err := artifact.NewDir(t.TempDir(), "pvc://registry/models")
	if err != nil {
		t.Fatal(err)
	}
	for _, uri := range []string{
		"pvc://registry/models/sha256/../../etc/passwd",
		"pvc://registry/models/tmp/put-1",
		"pvc://other/sha256/" + strings.Repeat("a", 64) + "/model.json",
		"file:///etc/passwd",
	} {
		if _, err := store.Open(context.Background(), uri); err == nil {
			t.Errorf("Open(%q) succeeded, want it refused", uri)
		}
	}
}

func TestCopyToFile(t *testing.T) {
	dir := t.TempDir()
	got, err := artifact.CopyToFile(strings.NewReader("0123456789"), dir, 10)
	if err != nil {
		t.Fatal(err)
	}
	if got.Size != 10 || got.Digest != sha("0123456789") {
		t.Errorf("CopyToFile = %+v, want size 10 and the sha256 of the input", got)
	}
	if data, _ := os.ReadFile(got.Path); string(data) != "0123456789" {
		t.Errorf("copied %q", data)
	}
	os.Remove(got.Path)

	_, err = artifact.CopyToFile(strings.NewReader("0123456789!"), dir, 10)
	if !errors.Is(err, artifact.ErrTooLarge) {
		t.Errorf("CopyToFile over the limit: err = %v, want ErrTooLarge", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("a refused copy left %v", entries)
	}
}

func TestSourcesFile(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "model.json", "folder model")
	writeFile(t, dir, "other.json", "file model")
	for _, tc := range []struct {
		uri, want string
	}{
		{uri: "file://" + dir, want: "folder model"},
		{uri: "file://" + filepath.Join(dir, "other.json"), want: "file model"},
	} {
		r, err := artifact.Sources{}.Open(context.Background(), tc.uri)
		if err != nil {
			t.Errorf("Open(%s): %v", tc.uri, err)
			continue
		}
		data, _ := io.ReadAll(r)
		r.Close()
		if string(data) != tc.want {
			t.Errorf("Open(%s) read %q, want %q", tc.uri, data, tc.want)
		}
	}
	for _, uri := range []string{"file://" + filepath.Join(dir, "missing.json"), "s3://bucket/model.json", "http://example/model.json"} {
		if _, err := (artifact.Sources{}).Open(context.Background(), uri); err == nil {
			t.Errorf("Open(%s) succeeded, want an error", uri)
		}
	}
}

func writeFile(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func readAll(t *testing.T, store artifact.Store, uri string) string {
	t.Helper()
	r, err := store.Open(context.Background(), uri)
	if err != nil {
		t.Fatalf("Open(%s): %v", uri, err)
	}
	defer r.Close()
	data, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func sha(s string) artifact.Digest {
	h := sha256.Sum256([]byte(s))
	return artifact.Digest(hex.EncodeToString(h[:]))
}
