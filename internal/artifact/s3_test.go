package artifact_test

import (
	"context"
	"io"
	"strings"
	"testing"

	"github.com/minio/minio-go/v7"

	"github.com/skiff-dev/skiff/internal/artifact"
	"github.com/skiff-dev/skiff/internal/s3test"
)

func s3Config(s *s3test.Server) artifact.S3Config {
	return artifact.S3Config{Endpoint: s.Endpoint, Insecure: true, Region: "us-east-1", AccessKey: s3test.AccessKey, SecretKey: s3test.SecretKey}
}

func TestS3(t *testing.T) {
	server := s3test.Start(t, "registry")
	store, err := artifact.NewS3(s3Config(server), "s3://registry/team-a/")
	if err != nil {
		t.Fatal(err)
	}
	storeContract(t, store, "s3://registry/team-a")
}

func TestS3Sources(t *testing.T) {
	server := s3test.Start(t, "models")
	ctx := context.Background()
	for key, body := range map[string]string{"housing/model.json": "folder model", "iris.json": "file model"} {
		if _, err := server.Client.PutObject(ctx, "models", key, strings.NewReader(body), int64(len(body)), minio.PutObjectOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	client, err := artifact.NewS3Client(s3Config(server))
	if err != nil {
		t.Fatal(err)
	}
	sources := artifact.Sources{S3: client}
	for uri, want := range map[string]string{"s3://models/housing": "folder model", "s3://models/housing/": "folder model", "s3://models/iris.json": "file model"} {
		r, err := sources.Open(ctx, uri)
		if err != nil {
			t.Errorf("Open(%s): %v", uri, err)
			continue
		}
		data, _ := io.ReadAll(r)
		r.Close()
		if string(data) != want {
			t.Errorf("Open(%s) read %q, want %q", uri, data, want)
		}
	}
	if _, err := sources.Open(ctx, "s3://models/missing.json"); err == nil {
		t.Error("Open of a missing object succeeded")
	}
}

func TestNewS3Refuses(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  artifact.S3Config
		uri  string
	}{
		{name: "no endpoint", uri: "s3://b/p"},
		{name: "endpoint with a scheme", cfg: artifact.S3Config{Endpoint: "http://127.0.0.1:9000"}, uri: "s3://b/p"},
		{name: "not s3", cfg: artifact.S3Config{Endpoint: "127.0.0.1:9000"}, uri: "file:///b/p"},
		{name: "no bucket", cfg: artifact.S3Config{Endpoint: "127.0.0.1:9000"}, uri: "s3:///p"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := artifact.NewS3(tc.cfg, tc.uri); err == nil {
				t.Error("NewS3 succeeded, want an error")
			}
		})
	}
}
