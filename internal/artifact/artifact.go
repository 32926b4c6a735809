// Package artifact keeps the model registry's files: immutable copies
// addressed by their sha256, in a folder (skiff's data dir, or a
// PersistentVolumeClaim mounted into the operator) or in S3-compatible
// object storage. It also reads the sources they are registered from.
package artifact

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"regexp"
)

// FileName is the one file of a model artifact (what serve-model reads
// when given the artifact's folder).
const FileName = "model.json"

// Store keeps artifacts by digest. Implementations are safe for concurrent
// use; a Put that fails or is interrupted leaves nothing a Stat finds.
type Store interface {
	// Stat returns the URI of the artifact with this digest, and whether
	// it is stored.
	Stat(ctx context.Context, digest Digest) (uri string, ok bool, err error)
	// Put stores the file at path, whose digest the caller computed, and
	// returns its URI. Storing a digest already there is a no-op.
	Put(ctx context.Context, digest Digest, path string) (uri string, err error)
	// Open reads a stored artifact by its URI (one this store returned).
	Open(ctx context.Context, uri string) (io.ReadCloser, error)
	// String names the store in messages.
	String() string
}

// Digest is a file's sha256, as lowercase hex.
type Digest string

var digestPattern = regexp.MustCompile(`^[0-9a-f]{64}$`)

// Valid says whether d is a sha256 in hex.
func (d Digest) Valid() bool { return digestPattern.MatchString(string(d)) }

// Checksum is the digest as the registry shows it: "sha256:<hex>".
func (d Digest) Checksum() string { return "sha256:" + string(d) }

// key is where a digest's file lives below a store's root.
func (d Digest) key() string { return path.Join("sha256", string(d), FileName) }

// ErrTooLarge marks a source larger than the limit a copy was given.
var ErrTooLarge = errors.New("model file is too large")

// Fetched is a source copied to a local file.
type Fetched struct {
	Path   string
	Digest Digest
	Size   int64
}

// CopyToFile copies r into a new file in dir, hashing it on the way; at
// most limit bytes (0: no limit). On error nothing is left behind.
func CopyToFile(r io.Reader, dir string, limit int64) (Fetched, error) {
	f, err := os.CreateTemp(dir, "fetch-*.json")
	if err != nil {
		return Fetched{}, fmt.Errorf("creating a scratch file: %w", err)
	}
	fetched, err := copyHashing(f, r, limit)
	if cerr := f.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return Fetched{}, err
	}
	fetched.Path = f.Name()
	return fetched, nil
}

func copyHashing(w io.Writer, r io.Reader, limit int64) (Fetched, error) {
	h := sha256.New()
	src := r
	if limit > 0 {
		src = io.LimitReader(r, limit+1)
	}
	n, err := io.Copy(io.MultiWriter(w, h), src)
	if err != nil {
		return Fetched{}, err
	}
	if limit > 0 && n > limit {
		return Fetched{}, fmt.Errorf("%w: more than %d bytes", ErrTooLarge, limit)
	}
	return Fetched{Digest: Digest(hex.EncodeToString(h.Sum(nil))), Size: n}, nil
}
