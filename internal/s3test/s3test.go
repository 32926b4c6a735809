// Package s3test runs a real S3-compatible server for tests: versitygw's
// gateway over a temporary folder, built from the Go module pinned in
// test/s3server (go tool caches the build) and listening on loopback.
package s3test

import (
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// Credentials of every server this package starts.
const (
	AccessKey = "skiff-test"
	SecretKey = "skiff-test-secret"
)

// Server is a running S3 server.
type Server struct {
	// Endpoint is host:port on loopback, plain HTTP.
	Endpoint string
	// Root is the folder the server keeps its buckets in.
	Root   string
	Client *minio.Client
}

// Start runs a server until the test ends, with the buckets given
// already made.
func Start(t testing.TB, buckets ...string) *Server {
	t.Helper()
	return StartOn(t, "127.0.0.1", buckets...)
}

// StartOn is Start on an address of this machine other than loopback
// (one that pods reach: skiff's pod network gateway).
func StartOn(t testing.TB, host string, buckets ...string) *Server {
	t.Helper()
	bin := binary(t)
	root := t.TempDir()
	port := freePort(t, host)
	endpoint := net.JoinHostPort(host, strconv.Itoa(port))
	var logs bytes.Buffer
	cmd := exec.Command(bin, "--access", AccessKey, "--secret", SecretKey, "--port", endpoint, "posix", "--nometa", root)
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting versitygw: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("versitygw's output:\n%s", logs.String())
		}
	})
	client, err := minio.New(endpoint, &minio.Options{Creds: credentials.NewStaticV4(AccessKey, SecretKey, ""), Region: "us-east-1"})
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Endpoint: endpoint, Root: root, Client: client}
	s.waitReady(t)
	for _, b := range buckets {
		if err := client.MakeBucket(context.Background(), b, minio.MakeBucketOptions{}); err != nil {
			t.Fatalf("making bucket %s: %v", b, err)
		}
	}
	return s
}

func (s *Server) waitReady(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := s.Client.ListBuckets(ctx)
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("versitygw at %s did not answer in 30s: %v", s.Endpoint, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// binary is versitygw's path, built by go tool in test/s3server on first
// use and cached with the module cache.
func binary(t testing.TB) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	dir := filepath.Join(filepath.Dir(file), "..", "..", "test", "s3server")
	cmd := exec.Command("go", "tool", "-n", "versitygw")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOWORK=off")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("building versitygw (go tool -n versitygw in %s): %v\n%s", dir, err, out)
	}
	return strings.TrimSpace(string(out))
}

func freePort(t testing.TB, host string) int {
	t.Helper()
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
