package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/skiff-dev/skiff/internal/s3test"
)

// TestRegistryInS3 runs `skiff operator` with the registry kept in a real
// S3-compatible server (versitygw) on skiff's pod network: a version
// registered from an s3:// source is copied into the registry's bucket,
// models:/housing@champion is fetched by the pods' storage initializer
// into the node's cache once (a second pod finds it there), and a plain
// s3:// storageUri is served too.
func TestRegistryInS3(t *testing.T) {
	models := t.TempDir()
	want := trainModels(t, models)
	in := newInstance(t)
	in.up("--write-kubeconfig=false", "--ml-controllers=false")
	gateway := podNetworkGateway(t, in)
	server := s3test.StartOn(t, gateway, "models")
	data, err := os.ReadFile(filepath.Join(models, "xgb-v1", "model.json"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := server.Client.PutObject(context.Background(), "models", "src/xgb-v1/model.json", bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	cache := t.TempDir()
	startOperator(t, in, "--registry-s3", "s3://models/registry", "--registry-s3-endpoint", server.Endpoint, "--registry-s3-insecure", "--model-cache-dir", cache)
	in.waitJSONPath(t, time.Minute, "modelversions.ml.skiff.dev", "get", "crd", "modelversions.ml.skiff.dev", "-o", "jsonpath={.metadata.name}")
	in.mustKubectl("create", "secret", "generic", "skiff-s3-credentials", "--from-literal=AWS_ACCESS_KEY_ID="+s3test.AccessKey, "--from-literal=AWS_SECRET_ACCESS_KEY="+s3test.SecretKey)

	in.apply(t, "apiVersion: ml.skiff.dev/v1alpha1\nkind: Model\nmetadata: {name: housing}\n---\n"+registryVersion("housing-a", "s3://models/src/xgb-v1"))
	in.mustKubectl("wait", "mv/housing-a", "--for=condition=Ready", "--timeout=1m")
	artifact := in.jsonpath("get", "mv", "housing-a", "-o", "jsonpath={.status.artifactUri} {.status.checksum}")
	if !strings.HasPrefix(artifact, "s3://models/registry/sha256/") {
		t.Fatalf("artifact %q is not in the registry's bucket", artifact)
	}
	checksum := strings.Fields(artifact)[1]
	in.mustKubectl("patch", "model", "housing", "--type=merge", "-p", `{"spec":{"aliases":{"champion":1}}}`)

	t.Run("models:/ in S3 goes through the node's cache once", func(t *testing.T) {
		in.apply(t, modelService("housing", "xgboost", "models:/housing@champion", ""))
		expectPredictions(t, in.serviceURL(t, "housing"), want.Rows, want.XGBv1)
		cached := filepath.Join(cache, "sha256", strings.TrimPrefix(checksum, "sha256:"), "model.json")
		if got, err := os.ReadFile(cached); err != nil || !bytes.Equal(got, data) {
			t.Errorf("the node's cache %s does not hold the model: %v", cached, err)
		}
		if logs := initLogs(t, in, "housing"); !strings.Contains(logs, "copied") {
			t.Errorf("the first pod's storage initializer: %q", logs)
		}
		// A second pod on the node copies nothing.
		in.mustKubectl("patch", "modelservice", "housing", "--type=merge", "-p", `{"spec":{"predictor":{"minReplicas":2}}}`)
		eventually(t, time.Minute, "a second pod finds the model in the cache", func() error {
			if logs := initLogs(t, in, "housing"); !strings.Contains(logs, "already in the node's cache") {
				return fmt.Errorf("storage initializers said %q", logs)
			}
			return nil
		})
	})

	t.Run("a plain s3:// storageUri", func(t *testing.T) {
		in.apply(t, modelService("direct", "xgboost", "s3://models/src/xgb-v1", ""))
		got, err := inferREST(in.serviceURL(t, "direct"), "direct", want.Rows)
		if err == nil {
			err = sameNumbers(got, want.XGBv1)
		}
		if err != nil {
			t.Errorf("s3://models/src/xgb-v1: %v", err)
		}
	})
	in.mustKubectl("delete", "modelservice", "--all", "--wait", "--timeout=1m")
}

// serviceURL waits for a ModelService of the operator (no gateway) to be
// Ready and answer at its Service's cluster IP.
func (in *instance) serviceURL(t *testing.T, ms string) string {
	t.Helper()
	in.mustKubectl("wait", "modelservice/"+ms, "--for=condition=Ready", "--timeout=2m")
	u := "http://" + in.jsonpath("get", "service", ms+"-predictor", "-o", "jsonpath={.spec.clusterIP}")
	waitAnswers(t, ms, u)
	return u
}

// podNetworkGateway is the host's address on skiff's pod bridge, from
// skiff's log: pods reach the machine there.
func podNetworkGateway(t *testing.T, in *instance) string {
	t.Helper()
	data, _ := os.ReadFile(filepath.Join(in.dataDir, "logs", "skiff.log"))
	m := regexp.MustCompile(`\(gateway ([0-9.]+)\)`).FindSubmatch(data)
	if m == nil {
		t.Fatalf("skiff's log names no pod network gateway:\n%s", in.logTail())
	}
	return string(m[1])
}

// startOperator runs `skiff operator` on this machine against the
// instance until the test ends.
func startOperator(t *testing.T, in *instance, args ...string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, skiffBin, append([]string{"operator", "--kubeconfig", in.kubeconfig(), "--install-crds", "--leader-elect=false"}, args...)...)
	cmd.Env = append(os.Environ(), "HOME="+in.home, "AWS_ACCESS_KEY_ID="+s3test.AccessKey, "AWS_SECRET_ACCESS_KEY="+s3test.SecretKey)
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
		if t.Failed() {
			tail := logs.String()
			if len(tail) > 6000 {
				tail = tail[len(tail)-6000:]
			}
			t.Logf("skiff operator's log:\n%s", tail)
		}
	})
}

// initLogs are the storage initializers' words in a ModelService's pods.
func initLogs(t *testing.T, in *instance, ms string) string {
	t.Helper()
	out, _ := in.kubectl("logs", "-l", "ml.skiff.dev/modelservice="+ms, "-c", "storage-initializer", "--tail=5")
	return out
}
