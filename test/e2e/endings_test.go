package e2e

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// foreground is a `skiff up` in the foreground, as a user runs it in a
// terminal or through a pipe.
type foreground struct {
	cmd    *exec.Cmd
	stdout io.ReadCloser
	done   chan error
}

func (in *instance) upForeground(t *testing.T) *foreground {
	t.Helper()
	args := append([]string{"up"}, in.upArgs("--write-kubeconfig=false", "--data-dir", in.dataDir)[2:]...)
	cmd := exec.Command(skiffBin, args...)
	cmd.Env = append(os.Environ(), "HOME="+in.home)
	// Both streams into one pipe, as `make run 2>&1 | tee run.log`.
	stdout, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	fg := &foreground{cmd: cmd, stdout: stdout, done: make(chan error, 1)}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-fg.done
	})
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stdout)
		signalled := false
		for sc.Scan() {
			if !signalled && strings.Contains(sc.Text(), "skiff is ready") {
				close(ready)
				signalled = true
			}
		}
		fg.done <- cmd.Wait()
	}()
	select {
	case <-ready:
	case <-time.After(90 * time.Second):
		t.Fatalf("skiff up did not say it was ready\n--- log:\n%s", in.logTail())
	}
	return fg
}

// wait waits for skiff to exit.
func (fg *foreground) wait(t *testing.T, in *instance) {
	t.Helper()
	select {
	case <-fg.done:
		fg.done <- nil // for the cleanup
	case <-time.After(90 * time.Second):
		t.Fatalf("skiff did not stop\n--- log:\n%s", in.logTail())
	}
}

// runNetworkedPod starts a pod with an address of its own, so that a
// veth link, the pod's namespaces (bind mounts) and NAT rules exist.
func (in *instance) runNetworkedPod(t *testing.T) {
	t.Helper()
	in.mustKubectl("run", "web", "--image=python:3.6", "--restart=Never", "--", "python3", "-m", "http.server", "8080")
	eventually(t, 60*time.Second, "pod web Running", func() error {
		if phase := in.podPhase("web"); phase != "Running" {
			out, _ := in.kubectl("get", "pod", "web", "-o", "jsonpath={.status}")
			logs, _ := in.kubectl("logs", "web")
			return fmt.Errorf("phase %q: %s\n%s", phase, out, logs)
		}
		return nil
	})
}

// leftovers lists what a stopped skiff must not leave on the machine:
// skf* links, skiff's and kube-proxy's nftables tables, mounts of its
// data dir (pods' namespaces, volumes) or its memory volumes.
func leftovers(dataDir string) []string {
	var out []string
	links, _ := exec.Command("ip", "-o", "link", "show").Output()
	for _, line := range strings.Split(string(links), "\n") {
		if f := strings.Fields(line); len(f) > 1 && strings.HasPrefix(f[1], "skf") {
			out = append(out, "link "+strings.TrimSuffix(f[1], ":"))
		}
	}
	tables, _ := exec.Command("nft", "list", "tables").Output()
	for _, line := range strings.Split(string(tables), "\n") {
		if strings.Contains(line, "skiff-") || strings.HasSuffix(line, " kube-proxy") {
			out = append(out, "nftables "+line)
		}
	}
	mounts, _ := os.ReadFile("/proc/self/mountinfo")
	for _, line := range strings.Split(string(mounts), "\n") {
		if f := strings.Fields(line); len(f) > 4 && (strings.HasPrefix(f[4], dataDir) || strings.Contains(f[4], "skiff-volumes")) {
			out = append(out, "mount "+f[4])
		}
	}
	return out
}

func expectClean(t *testing.T, in *instance, how string) {
	t.Helper()
	if left := leftovers(in.dataDir); len(left) > 0 {
		t.Errorf("after %s, skiff left: %s\n--- log:\n%s", how, strings.Join(left, ", "), in.logTail())
	}
}

// TestEveryEndingCleansUp: however skiff is stopped, the machine is left
// as it was: a lost stdout, a closed terminal, SIGTERM, SIGINT twice, and
// kill -9 followed by the next up.
func TestEveryEndingCleansUp(t *testing.T) {
	signals := []struct {
		name string
		stop func(fg *foreground)
	}{
		{"SIGTERM", func(fg *foreground) { _ = fg.cmd.Process.Signal(syscall.SIGTERM) }},
		{"SIGHUP (terminal closed)", func(fg *foreground) { _ = fg.cmd.Process.Signal(syscall.SIGHUP) }},
		{"SIGINT twice", func(fg *foreground) {
			_ = fg.cmd.Process.Signal(syscall.SIGINT)
			time.Sleep(300 * time.Millisecond)
			_ = fg.cmd.Process.Signal(syscall.SIGINT)
		}},
		{"stdout lost, then SIGINT (make run | tee, Ctrl-C)", func(fg *foreground) {
			fg.stdout.Close() // the pipe's reader is gone: writes get EPIPE/SIGPIPE
			_ = fg.cmd.Process.Signal(syscall.SIGINT)
		}},
	}
	for _, s := range signals {
		t.Run(s.name, func(t *testing.T) {
			in := newInstance(t)
			fg := in.upForeground(t)
			in.runNetworkedPod(t)
			if len(leftovers(in.dataDir)) == 0 {
				t.Fatal("a running skiff shows none of the state this test looks for: the test would prove nothing")
			}
			s.stop(fg)
			fg.wait(t, in)
			expectClean(t, in, s.name)
		})
	}
	t.Run("kill -9, then up and down", func(t *testing.T) {
		in := newInstance(t)
		in.up("--write-kubeconfig=false")
		in.runNetworkedPod(t)
		in.forceKill()
		if len(leftovers(in.dataDir)) == 0 {
			t.Fatal("kill -9 left nothing behind: the test would prove nothing")
		}
		in.up("--write-kubeconfig=false")
		in.waitPhase(t, "web", "Running")
		in.down()
		expectClean(t, in, "kill -9, up and down")
	})
}
