package e2e

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/remotecommand"
)

// TestSeed000PythonPod walks through the seed's first pod, as its README does.
func TestSeed000PythonPod(t *testing.T) {
	in := newInstance(t)
	in.up("--write-kubeconfig=false")
	manifest := "../../examples/000-python-pod/pod_public.yaml"

	t.Run("damaged manifest is refused", func(t *testing.T) {
		out, err := in.kubectl("create", "-f", "testdata/seed000-damaged.yaml")
		if err == nil {
			t.Fatalf("kubectl accepted the damaged manifest:\n%s", out)
		}
		if !strings.Contains(out, "yaml") {
			t.Errorf("error does not point at the YAML: %s", out)
		}
	})
	t.Run("node is Ready", func(t *testing.T) {
		eventually(t, 30*time.Second, "node Ready", func() error {
			out, err := in.kubectl("get", "nodes", "-o", `jsonpath={.items[0].status.conditions[?(@.type=="Ready")].status}`)
			if err != nil || out != "True" {
				return fmt.Errorf("Ready=%q %v", out, err)
			}
			return nil
		})
	})
	in.mustKubectl("create", "-f", manifest)
	in.waitPhase(t, "python3-pod", "Succeeded")
	t.Run("get shows Completed", func(t *testing.T) {
		out := in.mustKubectl("get", "pods")
		if !strings.Contains(out, "python3-pod") || !strings.Contains(out, "Completed") {
			t.Errorf("kubectl get pods:\n%s", out)
		}
	})
	t.Run("logs", func(t *testing.T) {
		if out := in.mustKubectl("logs", "python3-pod"); out != "Hello, World!\n" {
			t.Errorf("logs = %q", out)
		}
		out := in.mustKubectl("logs", "python3-pod", "--timestamps")
		if _, err := time.Parse(time.RFC3339Nano, strings.Fields(out)[0]); err != nil {
			t.Errorf("--timestamps output %q has no timestamp: %v", out, err)
		}
	})
	t.Run("describe", func(t *testing.T) {
		out := in.mustKubectl("describe", "pod", "python3-pod")
		for _, want := range []string{"Scheduled", "Exit Code:    0", "Completed", "python:3.6", "Started container python3-container", "is not pulled"} {
			if !strings.Contains(out, want) {
				t.Errorf("describe lacks %q:\n%s", want, out)
			}
		}
	})
	in.mustKubectl("delete", "-f", manifest)
	eventually(t, 30*time.Second, "pod gone", func() error {
		if out, _ := in.kubectl("get", "pods", "-o", "name"); strings.TrimSpace(out) != "" {
			return fmt.Errorf("pods: %s", out)
		}
		return nil
	})
	t.Run("logs of a container not started say why", func(t *testing.T) {
		in.apply(t, `apiVersion: v1
kind: Pod
metadata: {name: waits}
spec:
  restartPolicy: Never
  terminationGracePeriodSeconds: 1
  initContainers: [{name: first, image: busybox, command: [sleep, "60"]}]
  containers: [{name: main, image: busybox, command: [echo, hi]}]
`)
		eventually(t, 30*time.Second, "the init container runs", func() error {
			if got := in.jsonpath("get", "pod", "waits", "-o", "jsonpath={.status.initContainerStatuses[0].state.running}"); got == "" {
				return fmt.Errorf("not running yet")
			}
			return nil
		})
		out, err := in.kubectl("logs", "waits", "-c", "main")
		if err == nil || !strings.Contains(out, `container "main" in pod "waits" has not started yet`) || strings.Contains(out, "InternalError") {
			t.Errorf("kubectl logs of a container not started: %v\n%s", err, out)
		}
		out, err = in.kubectl("exec", "waits", "-c", "main", "--", "true")
		if err == nil || !strings.Contains(out, `container "main" in pod default/waits is not running: PodInitializing`) || strings.Contains(out, "InternalError") {
			t.Errorf("kubectl exec into a container not started: %v\n%s", err, out)
		}
		in.mustKubectl("delete", "pod", "waits", "--wait", "--timeout=30s")
	})
	t.Run("attach to a pod that ended says why", func(t *testing.T) {
		in.mustKubectl("run", "ended", "--image=busybox", "--restart=Never", "--", "echo", "bye")
		in.waitPhase(t, "ended", "Succeeded")
		// kubectl attach refuses an ended pod itself; kubectl run -ti meets
		// the node's answer when the pod ends between its look and the
		// attach: the same request.
		out, err := in.attachRaw(t, "default", "ended", "ended")
		if err == nil || !strings.Contains(out, `container "ended" in pod default/ended is not running: it ended (Completed, exit code 0)`) || strings.Contains(out, "InternalError") {
			t.Errorf("kubectl attach to an ended pod: %v\n%s", err, out)
		}
		in.mustKubectl("delete", "pod", "ended", "--wait", "--timeout=30s")
	})
}

// TestPodsRunAsProcesses covers a Deployment's pods, exec, failures and
// what happens to pod processes when skiff stops or crashes.
func TestPodsRunAsProcesses(t *testing.T) {
	in := newInstance(t)
	in.up("--write-kubeconfig=false")
	marker := filepath.Join(t.TempDir(), "marker")

	in.mustKubectl("create", "deployment", "sleeper", "--image=busybox", "--replicas=2", "--", "sh", "-c", "echo started >> "+marker+"; exec sleep 3600")
	eventually(t, 60*time.Second, "2 ready replicas", func() error {
		out, _ := in.kubectl("get", "deployment", "sleeper", "-o", "jsonpath={.status.readyReplicas}")
		if out != "2" {
			return fmt.Errorf("readyReplicas %q", out)
		}
		return nil
	})
	pod := strings.TrimPrefix(strings.Fields(in.mustKubectl("get", "pods", "-l", "app=sleeper", "-o", "name"))[0], "pod/")

	t.Run("exec", func(t *testing.T) {
		out := in.mustKubectl("exec", pod, "--", "sh", "-c", "echo $HOSTNAME")
		if strings.TrimSpace(out) != pod {
			t.Errorf("exec hostname = %q, want %q", out, pod)
		}
		out, err := in.kubectl("exec", pod, "--", "sh", "-c", "exit 7")
		if err == nil || !strings.Contains(out, "exit code 7") {
			t.Errorf("exec exit 7: %v %q", err, out)
		}
	})
	t.Run("command not found", func(t *testing.T) {
		in.mustKubectl("run", "missing", "--image=python:3.6", "--restart=Never", "--", "no-such-command-anywhere")
		in.waitPhase(t, "missing", "Failed")
		out := in.mustKubectl("get", "pod", "missing", "-o", "jsonpath={.status.containerStatuses[0].state.terminated.reason}: {.status.containerStatuses[0].state.terminated.message}")
		if !strings.Contains(out, "StartError") || !strings.Contains(out, "no-such-command-anywhere") {
			t.Errorf("terminated state = %q", out)
		}
	})
	t.Run("memory limit", func(t *testing.T) {
		in.mustKubectl("run", "hog", "--image=python:3.6", "--restart=Never", "--overrides",
			`{"spec":{"containers":[{"name":"hog","image":"python:3.6","command":["python3","-c","b = bytearray(256 << 20)"],"resources":{"limits":{"memory":"32Mi"}}}]}}`)
		in.waitPhase(t, "hog", "Failed")
		out := in.mustKubectl("get", "pod", "hog", "-o", "jsonpath={.status.containerStatuses[0].state.terminated.reason}")
		if out != "OOMKilled" {
			t.Errorf("reason = %q, want OOMKilled", out)
		}
	})
	t.Run("restart on failure", func(t *testing.T) {
		in.mustKubectl("run", "flaky", "--image=python:3.6", "--restart=OnFailure", "--", "sh", "-c", "exit 1")
		eventually(t, 60*time.Second, "restarted", func() error {
			out, _ := in.kubectl("get", "pod", "flaky", "-o", "jsonpath={.status.containerStatuses[0].restartCount}")
			if n, _ := strconv.Atoi(out); n < 1 {
				return fmt.Errorf("restartCount %q", out)
			}
			return nil
		})
	})

	pids := processesRunning(t, "sleep 3600")
	if len(pids) != 2 {
		t.Fatalf("sleep processes: %v, want 2", pids)
	}
	t.Run("kill -9 of skiff leaves no orphans", func(t *testing.T) {
		if err := syscall.Kill(in.pid(), syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		time.Sleep(500 * time.Millisecond)
		in.up("--write-kubeconfig=false")
		// The old processes are gone and the deployment runs 2 new ones.
		eventually(t, 60*time.Second, "two fresh sleepers", func() error {
			now := processesRunning(t, "sleep 3600")
			for _, p := range pids {
				for _, q := range now {
					if p == q {
						return fmt.Errorf("orphan %d still runs", p)
					}
				}
			}
			if len(now) != 2 {
				return fmt.Errorf("sleep processes %v, want 2", now)
			}
			return nil
		})
	})
	in.down()
	if left := processesRunning(t, "sleep 3600"); len(left) != 0 {
		t.Errorf("pod processes left after skiff down: %v", left)
	}
	if left := skiffCgroups(); len(left) != 0 {
		t.Errorf("cgroups left after skiff down: %v", left)
	}
}

// processesRunning lists the live processes whose command line contains s.
func processesRunning(t *testing.T, s string) []int {
	t.Helper()
	var pids []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmd, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err != nil || !strings.Contains(strings.ReplaceAll(string(cmd), "\x00", " "), s) {
			continue
		}
		stat, _ := os.ReadFile("/proc/" + e.Name() + "/stat")
		if f := strings.Fields(string(stat)); len(f) > 2 && f[2] == "Z" {
			continue
		}
		pids = append(pids, pid)
	}
	return pids
}

// skiffCgroups finds cgroup directories named skiff (a few levels deep, as
// skiff nests under its own cgroup).
func skiffCgroups() []string {
	var found []string
	for _, pattern := range []string{"/sys/fs/cgroup/*/skiff", "/sys/fs/cgroup/*/*/skiff", "/sys/fs/cgroup/*/*/*/skiff", "/sys/fs/cgroup/skiff"} {
		m, _ := filepath.Glob(pattern)
		found = append(found, m...)
	}
	return found
}

// attachRaw opens an attach session as kubectl does once it has decided
// to attach, and returns the error's text.
func (in *instance) attachRaw(t *testing.T, namespace, pod, container string) (string, error) {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", in.kubeconfig())
	if err != nil {
		t.Fatal(err)
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	req := client.CoreV1().RESTClient().Post().Resource("pods").Namespace(namespace).Name(pod).SubResource("attach").
		VersionedParams(&corev1.PodAttachOptions{Container: container, Stdout: true}, scheme.ParameterCodec)
	exec, err := remotecommand.NewSPDYExecutor(cfg, "POST", req.URL())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err = exec.StreamWithContext(ctx, remotecommand.StreamOptions{Stdout: io.Discard})
	if err != nil {
		return err.Error(), err
	}
	return "", nil
}
