package artifact

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Fetch is what a serving pod's storage initializer does before its model
// server starts: it brings a model file from uri onto the node.
type Fetch struct {
	Sources Sources
	// Cache, with Digest, is the node's cache of model files by sha256: a
	// file already there is not fetched again, and one fetched is checked
	// against the digest before it goes in.
	Cache  *Dir
	Digest Digest
	// To is the folder the file is written to as model.json when there is
	// no cache or no digest.
	To string
}

// Result says where the file is and whether the cache had it.
type Result struct {
	Path   string
	Cached bool
	Size   int64
}

// Run fetches the file.
func (f Fetch) Run(ctx context.Context, uri string) (Result, error) {
	if f.Cache != nil && f.Digest != "" {
		return f.intoCache(ctx, uri)
	}
	if f.To == "" {
		return Result{}, fmt.Errorf("fetching %s: give a folder to write it to, or a cache and the file's checksum", uri)
	}
	src, err := f.Sources.Open(ctx, uri)
	if err != nil {
		return Result{}, err
	}
	defer src.Close()
	got, err := CopyToFile(src, f.To, 0)
	if err != nil {
		return Result{}, fmt.Errorf("fetching %s: %w", uri, err)
	}
	dst := filepath.Join(f.To, FileName)
	if err := os.Rename(got.Path, dst); err != nil {
		os.Remove(got.Path)
		return Result{}, err
	}
	return Result{Path: dst, Size: got.Size}, nil
}

func (f Fetch) intoCache(ctx context.Context, uri string) (Result, error) {
	if !f.Digest.Valid() {
		return Result{}, fmt.Errorf("checksum %q is not sha256:<64 hex digits>", f.Digest.Checksum())
	}
	path := f.Cache.path(f.Digest)
	if fi, err := os.Stat(path); err == nil {
		return Result{Path: path, Cached: true, Size: fi.Size()}, nil
	}
	src, err := f.Sources.Open(ctx, uri)
	if err != nil {
		return Result{}, err
	}
	defer src.Close()
	if _, err := f.Cache.Write(f.Digest, src); err != nil {
		return Result{}, fmt.Errorf("fetching %s into the node's model cache: %w", uri, err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return Result{}, err
	}
	return Result{Path: path, Size: fi.Size()}, nil
}

// ParseChecksum reads "sha256:<hex>".
func ParseChecksum(s string) (Digest, error) {
	d := Digest(strings.TrimPrefix(s, "sha256:"))
	if !strings.HasPrefix(s, "sha256:") || !d.Valid() {
		return "", fmt.Errorf("checksum %q is not sha256:<64 hex digits>", s)
	}
	return d, nil
}

// CachePath is where a digest's file lives below a cache's root, the
// subPath a model server mounts.
func CachePath(d Digest) string { return filepath.Dir(filepath.FromSlash(d.key())) }
