package registry

import (
	"context"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/minio/minio-go/v7"

	"github.com/skiff-dev/skiff/internal/artifact"
	"github.com/skiff-dev/skiff/internal/s3test"
)

// A version registered from s3:// into a registry kept in S3, against a
// real S3-compatible server.
func TestRegisterInS3(t *testing.T) {
	server := s3test.Start(t, "models", "registry")
	data, err := os.ReadFile(testdataPath("logistic.json"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := server.Client.PutObject(ctx, "models", "housing/v1/model.json", strings.NewReader(string(data)), int64(len(data)), minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	cfg := artifact.S3Config{Endpoint: server.Endpoint, Insecure: true, Region: "us-east-1", AccessKey: s3test.AccessKey, SecretKey: s3test.SecretKey}
	store, err := artifact.NewS3(cfg, "s3://registry/team-a")
	if err != nil {
		t.Fatal(err)
	}
	client, err := artifact.NewS3Client(cfg)
	if err != nil {
		t.Fatal(err)
	}

	h := newHarness(t, newModel("housing").obj(), newVersion("housing-1", "housing", 0).number(1).source("s3://models/housing/v1").obj())
	h.version.Options.Store, h.version.Options.Sources = store, artifact.Sources{S3: client}
	h.reconcileVersion("housing-1")

	v := h.mv("housing-1")
	if got := readyOf(v.Status.Conditions); got != "True "+ReasonRegistered {
		t.Fatalf("Ready = %s (%+v)", got, v.Status.Conditions)
	}
	digest := fileDigest(t, testdataPath("logistic.json"))
	if want := "s3://registry/team-a/sha256/" + digest + "/model.json"; v.Status.ArtifactURI != want {
		t.Errorf("artifactUri = %s, want %s", v.Status.ArtifactURI, want)
	}
	r, err := store.Open(ctx, v.Status.ArtifactURI)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if stored, _ := io.ReadAll(r); string(stored) != string(data) {
		t.Errorf("the registry's copy in S3 differs from the source")
	}
	if v.Spec.Signature == nil || len(v.Spec.Signature.Inputs) != 3 {
		t.Errorf("signature = %+v", v.Spec.Signature)
	}
}
