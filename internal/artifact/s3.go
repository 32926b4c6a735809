package artifact

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path"
	"strings"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// S3Config is how to reach S3-compatible object storage.
type S3Config struct {
	// Endpoint is host:port, without a scheme.
	Endpoint string
	// Insecure talks plain HTTP (a server on the cluster's network).
	Insecure  bool
	Region    string
	AccessKey string
	SecretKey string
}

// S3 is a store in a bucket of S3-compatible object storage, below a
// prefix; it also reads s3:// sources in any bucket its keys can read.
type S3 struct {
	client *minio.Client
	bucket string
	prefix string
}

// NewS3 is a store at s3://<bucket>/<prefix>.
func NewS3(cfg S3Config, uri string) (*S3, error) {
	bucket, prefix, err := ParseS3(uri)
	if err != nil {
		return nil, err
	}
	client, err := NewS3Client(cfg)
	if err != nil {
		return nil, err
	}
	return &S3{client: client, bucket: bucket, prefix: strings.Trim(prefix, "/")}, nil
}

// NewS3Client is a client of the object storage cfg names.
func NewS3Client(cfg S3Config) (*minio.Client, error) {
	if cfg.Endpoint == "" {
		return nil, fmt.Errorf("the S3 endpoint is not set: give host:port")
	}
	if strings.Contains(cfg.Endpoint, "://") {
		return nil, fmt.Errorf("S3 endpoint %q: give host:port, without a scheme (plain HTTP is the insecure setting)", cfg.Endpoint)
	}
	client, err := minio.New(cfg.Endpoint, &minio.Options{
		Creds:  credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, ""),
		Secure: !cfg.Insecure,
		Region: cfg.Region,
	})
	if err != nil {
		return nil, fmt.Errorf("S3 endpoint %s: %w", cfg.Endpoint, err)
	}
	return client, nil
}

// ParseS3 splits s3://<bucket>/<key>.
func ParseS3(uri string) (bucket, key string, err error) {
	rest, ok := strings.CutPrefix(uri, "s3://")
	if !ok {
		return "", "", fmt.Errorf("%q is not an s3://<bucket>/<key> URI", uri)
	}
	bucket, key, _ = strings.Cut(rest, "/")
	if bucket == "" {
		return "", "", fmt.Errorf("%q names no bucket: want s3://<bucket>/<key>", uri)
	}
	return bucket, key, nil
}

func (s *S3) String() string { return "s3://" + path.Join(s.bucket, s.prefix) }

func (s *S3) key(digest Digest) string { return path.Join(s.prefix, digest.key()) }

func (s *S3) uri(digest Digest) string { return "s3://" + s.bucket + "/" + s.key(digest) }

// Stat implements Store.
func (s *S3) Stat(ctx context.Context, digest Digest) (string, bool, error) {
	if !digest.Valid() {
		return "", false, fmt.Errorf("digest %q is not a sha256", digest)
	}
	_, err := s.client.StatObject(ctx, s.bucket, s.key(digest), minio.StatObjectOptions{})
	if err == nil {
		return s.uri(digest), true, nil
	}
	if minio.ToErrorResponse(err).StatusCode == http.StatusNotFound {
		return s.uri(digest), false, nil
	}
	return "", false, fmt.Errorf("registry %s: %w", s, err)
}

// Put implements Store. An object appears whole or not at all, so a crash
// mid-upload leaves nothing.
func (s *S3) Put(ctx context.Context, digest Digest, src string) (string, error) {
	if uri, ok, err := s.Stat(ctx, digest); err != nil || ok {
		return uri, err
	}
	in, err := os.Open(src)
	if err != nil {
		return "", err
	}
	defer in.Close()
	// The digest is checked before the upload: an object, once there, is
	// trusted by its key.
	got, err := copyHashing(io.Discard, in, 0)
	if err != nil {
		return "", fmt.Errorf("registry %s: reading %s: %w", s, src, err)
	}
	if got.Digest != digest {
		return "", fmt.Errorf("registry %s: %s has sha256 %s, expected %s (it changed after it was hashed)", s, src, got.Digest, digest)
	}
	if _, err := in.Seek(0, io.SeekStart); err != nil {
		return "", err
	}
	_, err = s.client.PutObject(ctx, s.bucket, s.key(digest), in, got.Size, minio.PutObjectOptions{
		ContentType:  "application/octet-stream",
		UserMetadata: map[string]string{"sha256": string(digest)},
	})
	if err != nil {
		return "", fmt.Errorf("registry %s: uploading %s: %w", s, src, err)
	}
	return s.uri(digest), nil
}

// Open implements Store, and reads any s3:// object the keys can.
func (s *S3) Open(ctx context.Context, uri string) (io.ReadCloser, error) {
	bucket, key, err := ParseS3(uri)
	if err != nil {
		return nil, err
	}
	return OpenS3(ctx, s.client, bucket, key)
}

// OpenS3 reads one object; a missing one is an error now, not at the
// first read.
func OpenS3(ctx context.Context, client *minio.Client, bucket, key string) (io.ReadCloser, error) {
	obj, err := client.GetObject(ctx, bucket, key, minio.GetObjectOptions{})
	if err != nil {
		return nil, fmt.Errorf("s3://%s/%s: %w", bucket, key, err)
	}
	if _, err := obj.Stat(); err != nil {
		obj.Close()
		return nil, fmt.Errorf("s3://%s/%s: %w", bucket, key, err)
	}
	return obj, nil
}
