// Package e2e drives the built skiff binary with the real kubectl. Each
// test starts skiff on a temporary data dir and free ports and always stops
// it again, even when the test fails.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

var skiffBin string

const kubectlBin = "/usr/bin/kubectl"

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	skiffBin = os.Getenv("SKIFF_BIN")
	if skiffBin == "" {
		dir, err := os.MkdirTemp("", "skiff-e2e-bin")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		skiffBin = filepath.Join(dir, "skiff")
		build := exec.Command("go", "build", "-o", skiffBin, "../../cmd/skiff")
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "building skiff:", err)
			return 1
		}
	}
	if _, err := os.Stat(kubectlBin); err != nil {
		fmt.Fprintln(os.Stderr, "the end-to-end tests need kubectl at", kubectlBin)
		return 1
	}
	return m.Run()
}

// instance is one skiff under test.
type instance struct {
	t           *testing.T
	dataDir     string
	home        string // HOME for skiff, so ~/.kube/config is the test's own
	apiPort     int
	etcdPort    int
	kubeletPort int
	metricsPort int
	gatewayPort int // the default Gateway's
	gwMetrics   int // the gateway's Prometheus metrics
}

func freePort(t *testing.T, span int) int {
	t.Helper()
	for range 50 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		p := l.Addr().(*net.TCPAddr).Port
		l.Close()
		ok := true
		for i := 1; i < span; i++ {
			if l2, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p+i)); err != nil {
				ok = false
			} else {
				l2.Close()
			}
		}
		if ok {
			return p
		}
	}
	t.Fatal("no free ports")
	return 0
}

// newInstance prepares (but does not start) a skiff on fresh dirs and
// ports, and registers a cleanup that stops it whatever happens.
func newInstance(t *testing.T) *instance {
	t.Helper()
	root := t.TempDir()
	in := &instance{
		t:           t,
		dataDir:     filepath.Join(root, "data"),
		home:        filepath.Join(root, "home"),
		apiPort:     freePort(t, 1),
		etcdPort:    freePort(t, 2),
		kubeletPort: freePort(t, 1),
		metricsPort: freePort(t, 1),
		gatewayPort: freePort(t, 1),
		gwMetrics:   freePort(t, 1),
	}
	if err := os.MkdirAll(in.home, 0o700); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// A failed test shows the end of skiff's log: its data dir goes
		// with the test.
		if t.Failed() {
			t.Logf("the end of skiff's log:\n%s", in.logTail())
		}
		in.forceStop()
	})
	return in
}

// skiff runs the binary with the instance's data dir and returns its
// combined output.
func (in *instance) skiff(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, skiffBin, append(args, "--data-dir", in.dataDir)...)
	cmd.Env = append(os.Environ(), "HOME="+in.home)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

func (in *instance) upArgs(extra ...string) []string {
	return append([]string{"up", "-d", "--api-port", strconv.Itoa(in.apiPort), "--etcd-port", strconv.Itoa(in.etcdPort),
		"--kubelet-port", strconv.Itoa(in.kubeletPort), "--metrics-port", strconv.Itoa(in.metricsPort),
		"--gateway-port", strconv.Itoa(in.gatewayPort), "--gateway-metrics-port", strconv.Itoa(in.gwMetrics)}, extra...)
}

// up starts skiff detached and fails the test if it does not get ready.
func (in *instance) up(extra ...string) {
	in.t.Helper()
	out, err := in.skiff(in.upArgs(extra...)...)
	if err != nil {
		in.t.Fatalf("skiff up -d: %v\n%s\n--- log:\n%s", err, out, in.logTail())
	}
}

func (in *instance) down() {
	in.t.Helper()
	if out, err := in.skiff("down"); err != nil {
		in.t.Fatalf("skiff down: %v\n%s", err, out)
	}
}

func (in *instance) logTail() string {
	data, _ := os.ReadFile(filepath.Join(in.dataDir, "logs", "skiff.log"))
	if len(data) > 4000 {
		data = data[len(data)-4000:]
	}
	return string(data)
}

// pid reads the pid of the running skiff from its lock file.
func (in *instance) pid() int {
	data, err := os.ReadFile(filepath.Join(in.dataDir, "run", "skiff.lock"))
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(data)))
	return pid
}

// forceStop stops skiff cleanly if it still runs, and kills it otherwise.
func (in *instance) forceStop() {
	if _, err := in.skiff("down", "--timeout", "30s"); err == nil {
		return
	}
	if pid := in.pid(); pid > 0 {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
}

func (in *instance) kubeconfig() string { return filepath.Join(in.dataDir, "kubeconfig") }

// kubectl runs the real kubectl against the instance.
func (in *instance) kubectl(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, kubectlBin, append([]string{"--kubeconfig", in.kubeconfig()}, args...)...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	if err != nil {
		return out.String() + errOut.String(), fmt.Errorf("kubectl %s: %w: %s", strings.Join(args, " "), err, errOut.String())
	}
	return out.String(), nil
}

func (in *instance) mustKubectl(args ...string) string {
	in.t.Helper()
	out, err := in.kubectl(args...)
	if err != nil {
		in.t.Fatal(err)
	}
	return out
}

// eventually retries check until it returns nil or timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var err error
	for time.Now().Before(deadline) {
		if err = check(); err == nil {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("%s: not true after %s: %v", what, timeout, err)
}

// jsonField runs kubectl get -o json and decodes it into v.
func (in *instance) getJSON(v any, args ...string) error {
	out, err := in.kubectl(append([]string{"get", "-o", "json"}, args...)...)
	if err != nil {
		return err
	}
	return json.Unmarshal([]byte(out), v)
}

// podPhase reads a pod's phase.
func (in *instance) podPhase(name string) string {
	out, _ := in.kubectl("get", "pod", name, "-o", "jsonpath={.status.phase}")
	return out
}

func (in *instance) waitPhase(t *testing.T, name, phase string) {
	t.Helper()
	eventually(t, 60*time.Second, "pod "+name+" "+phase, func() error {
		if got := in.podPhase(name); got != phase {
			return fmt.Errorf("phase %q", got)
		}
		return nil
	})
}

func (in *instance) apply(t *testing.T, manifest string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "manifest.yaml")
	if err := os.WriteFile(path, []byte(manifest), 0o644); err != nil {
		t.Fatal(err)
	}
	in.mustKubectl("apply", "-f", path)
}

func (in *instance) jsonpath(args ...string) string {
	out, _ := in.kubectl(args...)
	return strings.TrimSpace(out)
}

func (in *instance) waitJSONPath(t *testing.T, timeout time.Duration, want string, args ...string) {
	t.Helper()
	eventually(t, timeout, strings.Join(args, " ")+" = "+want, func() error {
		if got := in.jsonpath(args...); got != want {
			return fmt.Errorf("got %q", got)
		}
		return nil
	})
}

// writeImageMap writes the instance's images.yaml before it starts.
func (in *instance) writeImageMap(t *testing.T, yaml string) {
	t.Helper()
	if err := os.MkdirAll(in.dataDir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(in.dataDir, "images.yaml"), []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
}

// forceKill kills skiff as a crash would.
func (in *instance) forceKill() {
	in.t.Helper()
	pid := in.pid()
	if pid <= 0 {
		in.t.Fatal("skiff is not running")
	}
	if err := exec.Command("kill", "-9", fmt.Sprint(pid)).Run(); err != nil {
		in.t.Fatal(err)
	}
	eventually(in.t, 10*time.Second, "skiff gone", func() error {
		if err := exec.Command("kill", "-0", fmt.Sprint(pid)).Run(); err == nil {
			return fmt.Errorf("pid %d alive", pid)
		}
		return nil
	})
}
