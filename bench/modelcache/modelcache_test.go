// Package modelcache measures what serving a registry version kept in S3
// adds to a pod's start: the storage initializer's first copy to the node
// (from a real S3 server, versitygw) and, once the node's cache has the
// file, a start that copies nothing, against the floor of any process
// start (skiff version).
//
//	SKIFF_BIN=bin/skiff go test -run '^$' -bench . -benchtime 5x ./bench/modelcache/
package modelcache

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"testing"

	"github.com/minio/minio-go/v7"

	"github.com/skiff-dev/skiff/internal/artifact"
	"github.com/skiff-dev/skiff/internal/s3test"
)

func BenchmarkFetch(b *testing.B) {
	server := s3test.Start(b, "models")
	for _, mb := range []int{1, 100} {
		data := make([]byte, mb<<20)
		if _, err := rand.Read(data); err != nil {
			b.Fatal(err)
		}
		sum := sha256.Sum256(data)
		digest := artifact.Digest(hex.EncodeToString(sum[:]))
		key := fmt.Sprintf("registry/sha256/%s/model.json", digest)
		// One PUT: versitygw over a folder without extended attributes
		// (--nometa) cannot complete a multipart upload.
		if _, err := server.Client.PutObject(context.Background(), "models", key, bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{DisableMultipart: true}); err != nil {
			b.Fatal(err)
		}
		uri := "s3://models/" + key
		sources := artifact.Sources{S3: server.Client}

		b.Run(fmt.Sprintf("first-copy-%dMB", mb), func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				b.StopTimer()
				cache, err := artifact.NewDir(b.TempDir(), "")
				if err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				if res, err := (artifact.Fetch{Sources: sources, Cache: cache, Digest: digest}).Run(context.Background(), uri); err != nil || res.Cached {
					b.Fatalf("fetch: %+v, %v", res, err)
				}
			}
		})

		cache, err := artifact.NewDir(b.TempDir(), "")
		if err != nil {
			b.Fatal(err)
		}
		if _, err := (artifact.Fetch{Sources: sources, Cache: cache, Digest: digest}).Run(context.Background(), uri); err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("cached-%dMB", mb), func(b *testing.B) {
			for b.Loop() {
				if res, err := (artifact.Fetch{Sources: sources, Cache: cache, Digest: digest}).Run(context.Background(), uri); err != nil || !res.Cached {
					b.Fatalf("fetch: %+v, %v", res, err)
				}
			}
		})

		// The init container as a process: on a hit, against any process.
		bin := os.Getenv("SKIFF_BIN")
		if bin == "" {
			continue
		}
		b.Run(fmt.Sprintf("process-cached-%dMB", mb), func(b *testing.B) {
			for b.Loop() {
				cmd := exec.Command(bin, "fetch-model", uri, "--cache", cache.Root, "--checksum", digest.Checksum(), "--s3-endpoint", server.Endpoint, "--s3-insecure")
				cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID="+s3test.AccessKey, "AWS_SECRET_ACCESS_KEY="+s3test.SecretKey, "HOME="+b.TempDir())
				if out, err := cmd.CombinedOutput(); err != nil || !bytes.Contains(out, []byte("already in the node's cache")) {
					b.Fatalf("skiff fetch-model: %v\n%s", err, out)
				}
			}
		})
	}
	if bin := os.Getenv("SKIFF_BIN"); bin != "" {
		b.Run("process-floor", func(b *testing.B) {
			for b.Loop() {
				cmd := exec.Command(bin, "version")
				cmd.Env = append(os.Environ(), "HOME="+b.TempDir())
				if out, err := cmd.CombinedOutput(); err != nil {
					b.Fatalf("skiff version: %v\n%s", err, out)
				}
			}
		})
	}
}
