package artifact

import (
	"context"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/minio/minio-go/v7"
)

// Sources reads the files versions are registered from.
type Sources struct {
	// S3 reads s3:// sources; nil refuses them.
	S3 *minio.Client
}

// Open reads a source: file:///<path> (a .json file, or a folder holding
// model.json) or s3://<bucket>/<key> (the same: an object ending in
// .json, or a prefix holding model.json).
func (s Sources) Open(ctx context.Context, uri string) (io.ReadCloser, error) {
	switch {
	case strings.HasPrefix(uri, "file://"):
		p := filepath.Clean(strings.TrimPrefix(uri, "file://"))
		if !isJSON(p) {
			p = filepath.Join(p, FileName)
		}
		f, err := os.Open(p)
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", uri, err)
		}
		return f, nil
	case strings.HasPrefix(uri, "s3://"):
		if s.S3 == nil {
			return nil, fmt.Errorf("reading %s: the registry has no S3 endpoint configured (the operator's --registry-s3-endpoint)", uri)
		}
		bucket, key, err := ParseS3(uri)
		if err != nil {
			return nil, err
		}
		if !isJSON(key) {
			key = path.Join(key, FileName)
		}
		return OpenS3(ctx, s.S3, bucket, key)
	default:
		return nil, fmt.Errorf("%q: a source is file:///<path> or s3://<bucket>/<key>", uri)
	}
}

func isJSON(p string) bool { return strings.HasSuffix(strings.ToLower(p), ".json") }
