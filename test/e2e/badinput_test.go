package e2e

import (
	"bytes"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// expectFailure runs skiff and requires a non-zero exit with every want in
// its output.
func expectFailure(t *testing.T, in *instance, args []string, wants ...string) string {
	t.Helper()
	out, err := in.skiff(args...)
	if err == nil {
		t.Fatalf("skiff %s succeeded, want failure:\n%s", strings.Join(args, " "), out)
	}
	for _, w := range wants {
		if !strings.Contains(out, w) {
			t.Errorf("output of skiff %s lacks %q:\n%s", strings.Join(args, " "), w, out)
		}
	}
	return out
}

func TestBadInput(t *testing.T) {
	t.Run("unknown flag", func(t *testing.T) {
		in := newInstance(t)
		expectFailure(t, in, []string{"up", "--gpus-please"}, "unknown flag: --gpus-please", "skiff up --help")
	})
	t.Run("port in use", func(t *testing.T) {
		in := newInstance(t)
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		port := l.Addr().(*net.TCPAddr).Port
		in.apiPort = port
		expectFailure(t, in, in.upArgs(), "port "+strconv.Itoa(port), "--api-port")
	})
	t.Run("data dir not writable", func(t *testing.T) {
		in := newInstance(t)
		file := filepath.Join(t.TempDir(), "plain-file")
		if err := os.WriteFile(file, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		in.dataDir = filepath.Join(file, "data")
		expectFailure(t, in, in.upArgs(), "data dir is not writable", "not a directory")
	})
}

// TestRefusals covers a running instance and a stopped one with damaged
// state: each refusal names the cause, and nothing is wiped.
func TestRefusals(t *testing.T) {
	in := newInstance(t)
	in.up("--write-kubeconfig=false")

	t.Run("second up on the same data dir", func(t *testing.T) {
		expectFailure(t, in, in.upArgs(), "already running", "skiff down")
		expectFailure(t, in, []string{"up", "--api-port", strconv.Itoa(freePort(t, 1)), "--etcd-port", strconv.Itoa(freePort(t, 2)),
			"--kubelet-port", strconv.Itoa(freePort(t, 1))}, "data dir is in use")
	})
	t.Run("second networked skiff on the machine", func(t *testing.T) {
		other := newInstance(t)
		expectFailure(t, other, other.upArgs("--write-kubeconfig=false"), "another skiff runs the service proxy", "--pod-network=false")
		other.assertNoNetworkLeft(t)
		// Without a pod network it runs beside the first.
		other.up("--write-kubeconfig=false", "--pod-network=false")
		other.mustKubectl("run", "hostnet", "--image=python:3.6", "--restart=Never", "--", "true")
		other.waitPhase(t, "hostnet", "Succeeded")
		other.down()
	})
	in.down()

	t.Run("certificate does not match its key", func(t *testing.T) {
		pki := filepath.Join(in.dataDir, "pki")
		orig, err := os.ReadFile(filepath.Join(pki, "admin.key"))
		if err != nil {
			t.Fatal(err)
		}
		other, _ := os.ReadFile(filepath.Join(pki, "scheduler.key"))
		os.WriteFile(filepath.Join(pki, "admin.key"), other, 0o600)
		expectFailure(t, in, in.upArgs(), "admin.crt", "does not match its key")
		os.WriteFile(filepath.Join(pki, "admin.key"), orig, 0o600)
	})
	t.Run("corrupted etcd", func(t *testing.T) {
		db := filepath.Join(in.dataDir, "etcd", "member", "snap", "db")
		orig, err := os.ReadFile(db)
		if err != nil {
			t.Fatal(err)
		}
		damaged := append(bytes.Repeat([]byte{0xde, 0xad}, 4096), orig[8192:]...)
		if err := os.WriteFile(db, damaged, 0o600); err != nil {
			t.Fatal(err)
		}
		expectFailure(t, in, in.upArgs(), "etcd data is damaged", "will not wipe")
		after, _ := os.ReadFile(db)
		if !bytes.Equal(after, damaged) {
			t.Error("skiff changed the damaged etcd database")
		}
		os.WriteFile(db, orig, 0o600)
	})
	// Repaired, the same data dir starts again.
	in.up("--write-kubeconfig=false")
	in.mustKubectl("get", "ns", "default")
}
