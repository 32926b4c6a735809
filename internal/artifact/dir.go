package artifact

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Dir is a store in a folder: skiff's data dir on its node, or a
// PersistentVolumeClaim mounted into the operator. URIPrefix is what the
// folder is called where models are served from (file:///<root> on the
// node, pvc://<claim>/<path> for a claim).
type Dir struct {
	Root      string
	URIPrefix string
}

// NewDir is a store in root, whose artifacts are named below uriPrefix
// ("" names them file://<root>).
func NewDir(root, uriPrefix string) (*Dir, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("registry folder %s: %w", root, err)
	}
	if uriPrefix == "" {
		uriPrefix = "file://" + abs
	}
	if err := os.MkdirAll(filepath.Join(abs, "tmp"), 0o755); err != nil {
		return nil, fmt.Errorf("registry folder %s: %w", abs, err)
	}
	d := &Dir{Root: abs, URIPrefix: strings.TrimSuffix(uriPrefix, "/")}
	d.removeStale(time.Now().Add(-staleScratch))
	return d, nil
}

// staleScratch is the age of a scratch file no copy is still writing: one
// a crash (kill -9) left behind.
const staleScratch = time.Hour

// removeStale deletes scratch files last written before cutoff. Newer
// ones may be another process's copy in progress (several operator
// replicas, or pods on one node, share the folder).
func (d *Dir) removeStale(cutoff time.Time) {
	entries, err := os.ReadDir(filepath.Join(d.Root, "tmp"))
	if err != nil {
		return
	}
	for _, e := range entries {
		if fi, err := e.Info(); err == nil && fi.Mode().IsRegular() && fi.ModTime().Before(cutoff) {
			_ = os.Remove(filepath.Join(d.Root, "tmp", e.Name()))
		}
	}
}

func (d *Dir) String() string { return d.URIPrefix }

func (d *Dir) uri(digest Digest) string { return d.URIPrefix + "/" + digest.key() }

func (d *Dir) path(digest Digest) string {
	return filepath.Join(d.Root, filepath.FromSlash(digest.key()))
}

// Stat implements Store.
func (d *Dir) Stat(_ context.Context, digest Digest) (string, bool, error) {
	if !digest.Valid() {
		return "", false, fmt.Errorf("digest %q is not a sha256", digest)
	}
	_, err := os.Stat(d.path(digest))
	switch {
	case err == nil:
		return d.uri(digest), true, nil
	case errors.Is(err, fs.ErrNotExist):
		return d.uri(digest), false, nil
	default:
		return "", false, fmt.Errorf("registry %s: %w", d, err)
	}
}

// Put implements Store: the file is copied to a scratch file in the
// store, synced, made read-only and renamed into place, so a crash leaves
// either nothing or the whole file.
func (d *Dir) Put(ctx context.Context, digest Digest, src string) (string, error) {
	if uri, ok, err := d.Stat(ctx, digest); err != nil || ok {
		return uri, err
	}
	in, err := os.Open(src)
	if err != nil {
		return "", err
	}
	defer in.Close()
	uri, err := d.Write(digest, in)
	if err != nil {
		return "", fmt.Errorf("copying %s: %w", src, err)
	}
	return uri, nil
}

// Write stores what r reads, which must hash to digest: into a scratch
// file renamed into place, so a crash or a wrong digest leaves nothing a
// Stat finds.
func (d *Dir) Write(digest Digest, r io.Reader) (string, error) {
	tmp, err := os.CreateTemp(filepath.Join(d.Root, "tmp"), "put-*")
	if err != nil {
		return "", fmt.Errorf("registry %s: %w", d, err)
	}
	defer os.Remove(tmp.Name()) // fails harmlessly once renamed
	got, err := copyHashing(tmp, r, 0)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", fmt.Errorf("registry %s: %w", d, err)
	}
	if got.Digest != digest {
		return "", fmt.Errorf("registry %s: the file changed while it was copied (sha256 %s, expected %s)", d, got.Digest, digest)
	}
	if err := os.Chmod(tmp.Name(), 0o444); err != nil {
		return "", err
	}
	dst := d.path(digest)
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return "", fmt.Errorf("registry %s: %w", d, err)
	}
	if err := os.Rename(tmp.Name(), dst); err != nil {
		return "", fmt.Errorf("registry %s: %w", d, err)
	}
	return d.uri(digest), syncDir(filepath.Dir(dst))
}

// Open implements Store.
func (d *Dir) Open(_ context.Context, uri string) (io.ReadCloser, error) {
	key, ok := strings.CutPrefix(uri, d.URIPrefix+"/")
	if !ok || !isKey(key) {
		return nil, fmt.Errorf("%s is not an artifact of registry %s", uri, d)
	}
	return os.Open(filepath.Join(d.Root, filepath.FromSlash(key)))
}

// isKey says whether key is sha256/<hex>/model.json.
func isKey(key string) bool {
	parts := strings.Split(key, "/")
	return len(parts) == 3 && parts[0] == "sha256" && Digest(parts[1]).Valid() && parts[2] == FileName
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}
