package podruntime

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/moby/sys/mountinfo"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"

	"github.com/skiff-dev/skiff/internal/node/sandbox"
)

// sandboxedRuntime runs every container in a sandbox, skipping the test
// where there are none.
func sandboxedRuntime(t testing.TB, opts ...option) *Runtime {
	t.Helper()
	skipWithoutSandboxes(t)
	return newRuntime(t, append([]option{withSandboxes(t)}, opts...)...)
}

func skipWithoutSandboxes(t testing.TB) {
	t.Helper()
	if ok, why := sandbox.Available(); !ok {
		t.Skipf("sandboxes unavailable here: %s", why)
	}
}

func TestSandboxIsolatesTheContainer(t *testing.T) {
	rt := sandboxedRuntime(t)
	leak := fmt.Sprintf("/etc/skiff-sandbox-test-%d", time.Now().UnixNano())
	script := strings.Join([]string{
		"echo pid=$$$$",
		"echo host=$(hostname)",
		"echo procs=$(ls /proc | grep -c '^[0-9]')",
		"echo written > " + leak,
		"cat " + leak,
	}, "; ")
	pod := newPod("isolated").container("main", "sh", "-c", script).pod
	if err := rt.CreatePod(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	p := waitFor(t, rt, "isolated", "finished", func(p *corev1.Pod) bool {
		return p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed
	})
	logs := logsOf(t, rt, "isolated", "main", LogOptions{Tail: -1})
	if p.Status.Phase != corev1.PodSucceeded {
		t.Fatalf("phase %s, logs:\n%s", p.Status.Phase, logs)
	}
	for _, want := range []string{"pid=1\n", "host=isolated\n", "written\n"} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %q:\n%s", want, logs)
		}
	}
	// sh, the $(...) subshell, ls and grep: nothing of the host's.
	var procs int
	if i := strings.Index(logs, "procs="); i < 0 {
		t.Error("no process count in the logs")
	} else if fmt.Sscanf(logs[i:], "procs=%d", &procs); procs > 5 {
		t.Errorf("the sandbox sees %d processes; the host's leak in:\n%s", procs, logs)
	}
	if _, err := os.Stat(leak); err == nil {
		os.Remove(leak)
		t.Errorf("%s written in the sandbox leaked onto the host", leak)
	}
}

func TestSandboxStartErrorAndExec(t *testing.T) {
	rt := sandboxedRuntime(t)
	pod := newPod("nocmd").container("main", "definitely-not-installed").pod
	if err := rt.CreatePod(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	p := waitFor(t, rt, "nocmd", "Failed", phase(corev1.PodFailed))
	term := p.Status.ContainerStatuses[0].State.Terminated
	if term.Reason != "StartError" || !strings.Contains(term.Message, "not found") {
		t.Errorf("terminated = %s %q, want StartError saying not found", term.Reason, term.Message)
	}

	pod = newPod("target").container("main", "sh", "-c", "echo inside > /tmp/mark; exec sleep 30").restart(corev1.RestartPolicyAlways).pod
	if err := rt.CreatePod(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	waitFor(t, rt, "target", "Running", phase(corev1.PodRunning))
	var out strings.Builder
	deadline := time.Now().Add(5 * time.Second)
	for {
		out.Reset()
		err := rt.Exec(context.Background(), "default", "target", "main", []string{"sh", "-c", "cat /tmp/mark; hostname"}, ExecIO{Stdout: &out, Stderr: &out})
		if err == nil && strings.Contains(out.String(), "inside") || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if got := out.String(); got != "inside\ntarget\n" {
		t.Errorf("exec in the sandbox saw %q, want its file and hostname", got)
	}
	err := rt.Exec(context.Background(), "default", "target", "main", []string{"sh", "-c", "exit 4"}, ExecIO{Stdout: &out, Stderr: &out})
	if ee, ok := err.(*ExitError); !ok || ee.Code != 4 {
		t.Errorf("exec exit 4 = %v", err)
	}
}

func TestTerminationMessageStaysOffTheHost(t *testing.T) {
	rt := sandboxedRuntime(t)
	pod := newPod("msg").container("main", "sh", "-c", "echo model accuracy 0.93 > /dev/termination-log; exit 1").pod
	if err := rt.CreatePod(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	p := waitFor(t, rt, "msg", "Failed", phase(corev1.PodFailed))
	if got := p.Status.ContainerStatuses[0].State.Terminated.Message; got != "model accuracy 0.93\n" {
		t.Errorf("termination message = %q", got)
	}
	if _, err := os.Stat("/dev/termination-log"); err == nil {
		t.Error("the container wrote /dev/termination-log on the host")
	}
}

func TestExecWithTerminalInSandbox(t *testing.T) {
	rt := sandboxedRuntime(t)
	pod := newPod("term").container("main", "sleep", "30").restart(corev1.RestartPolicyAlways).pod
	if err := rt.CreatePod(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	waitFor(t, rt, "term", "Running", phase(corev1.PodRunning))
	var out strings.Builder
	resize := make(chan [2]uint16, 1)
	resize <- [2]uint16{100, 40}
	close(resize)
	err := rt.Exec(context.Background(), "default", "term", "main", []string{"sh", "-c", "sleep 0.2; tty; stty size"},
		ExecIO{Stdout: &out, TTY: true, Resize: resize})
	if err != nil {
		t.Fatal(err)
	}
	if got := out.String(); !strings.Contains(got, "/dev/pts/") || !strings.Contains(got, "40 100") {
		t.Errorf("exec -it output %q: want a named terminal of 40x100", got)
	}
}

func TestLifecycleHooks(t *testing.T) {
	out := t.TempDir()
	rt := sandboxedRuntime(t, withVolumes(func(_ context.Context, p *corev1.Pod, _ string) (map[string]string, error) {
		return map[string]string{"out": out}, nil
	}))
	pod := newPod("hooks").container("main", "sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.1; done").restart(corev1.RestartPolicyAlways).pod
	c := &pod.Spec.Containers[0]
	// hostPath-like volume so the hooks' writes are visible here.
	pod.Spec.Volumes = []corev1.Volume{{Name: "out", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: out}}}}
	c.VolumeMounts = []corev1.VolumeMount{{Name: "out", MountPath: "/out"}}
	c.Lifecycle = &corev1.Lifecycle{
		PostStart: &corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: []string{"sh", "-c", "echo started > /out/post"}}},
		PreStop:   &corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: []string{"sh", "-c", "echo stopping > /out/pre"}}},
	}
	if err := rt.CreatePod(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	waitFor(t, rt, "hooks", "Running", phase(corev1.PodRunning))
	// Wait for the content, not the file: the shell creates it first.
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if data, _ := os.ReadFile(out + "/post"); string(data) == "started\n" {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if data, _ := os.ReadFile(out + "/post"); string(data) != "started\n" {
		t.Errorf("postStart wrote %q", data)
	}
	done := make(chan struct{})
	rt.NotifyPods(context.Background(), func(p *corev1.Pod) {
		if p.DeletionTimestamp != nil {
			close(done)
		}
	})
	if err := rt.DeletePod(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	<-done
	if data, _ := os.ReadFile(out + "/pre"); string(data) != "stopping\n" {
		t.Errorf("preStop wrote %q", data)
	}
}

func TestContainersShareThePodsIPCAndHostname(t *testing.T) {
	rt := sandboxedRuntime(t)
	// writer puts a file in /dev/shm; reader waits for it. Both print
	// their IPC namespace and hostname.
	ident := "echo ipc=$(readlink /proc/self/ns/ipc) host=$(hostname)"
	pod := newPod("shared").
		container("writer", "sh", "-c", ident+"; echo hello > /dev/shm/note").
		container("reader", "sh", "-c", ident+"; for i in $(seq 100); do [ -f /dev/shm/note ] && break; sleep 0.05; done; cat /dev/shm/note").pod
	if err := rt.CreatePod(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	waitFor(t, rt, "shared", "finished", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodSucceeded })
	writer := logsOf(t, rt, "shared", "writer", LogOptions{Tail: -1})
	reader := logsOf(t, rt, "shared", "reader", LogOptions{Tail: -1})
	first := func(s string) string { line, _, _ := strings.Cut(s, "\n"); return line }
	if first(writer) != first(reader) || !strings.Contains(writer, "host=shared") {
		t.Errorf("containers do not share IPC and UTS:\nwriter: %s\nreader: %s", writer, reader)
	}
	host, _ := os.Readlink("/proc/self/ns/ipc")
	if strings.Contains(writer, "ipc="+host) {
		t.Errorf("the pod uses the host's IPC namespace: %s", writer)
	}
	if !strings.Contains(reader, "hello") {
		t.Errorf("reader did not see writer's /dev/shm file:\n%s", reader)
	}
	// Deleting the pod releases its pinned namespaces and /dev/shm.
	p, _ := rt.GetPod(context.Background(), "default", "shared")
	if err := rt.DeletePod(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		mounts, err := mountinfo.GetMounts(mountinfo.PrefixFilter(rt.root))
		if err != nil {
			t.Fatal(err)
		}
		if len(mounts) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("mounts left below %s after delete: %v", rt.root, mounts[0].Mountpoint)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (b *podBuilder) sidecar(name string, command ...string) *podBuilder {
	b.pod.Spec.InitContainers = append(b.pod.Spec.InitContainers, corev1.Container{
		Name: name, Command: command, RestartPolicy: ptr.To(corev1.ContainerRestartPolicyAlways)})
	return b
}

func TestSidecarServesTheMainContainerAndEndsAfterIt(t *testing.T) {
	rt := sandboxedRuntime(t)
	pod := newPod("with-sidecar").
		sidecar("helper", "sh", "-c", `trap 'echo bye; exit 0' TERM; echo up > /dev/shm/helper; while true; do sleep 0.1; done`).
		container("main", "sh", "-c", "cat /dev/shm/helper; sleep 1").pod
	if err := rt.CreatePod(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	// While main runs, the sidecar counts as started and ready.
	waitFor(t, rt, "with-sidecar", "running with its sidecar", func(p *corev1.Pod) bool {
		cs := find(p.Status.InitContainerStatuses, "helper")
		return p.Status.Phase == corev1.PodRunning && cs != nil && cs.State.Running != nil && cs.Ready
	})
	// kubectl exec -c reaches a running sidecar.
	var out strings.Builder
	if err := rt.Exec(context.Background(), "default", "with-sidecar", "helper", []string{"cat", "/dev/shm/helper"}, ExecIO{Stdout: &out, Stderr: &out}); err != nil || out.String() != "up\n" {
		t.Errorf("exec into the sidecar: %q, %v", out.String(), err)
	}
	p := waitFor(t, rt, "with-sidecar", "succeeded", phase(corev1.PodSucceeded))
	if cs := find(p.Status.InitContainerStatuses, "helper"); cs == nil || cs.State.Terminated == nil {
		t.Errorf("sidecar still running after the main container ended: %+v", cs)
	}
	if logs := logsOf(t, rt, "with-sidecar", "main", LogOptions{Tail: -1}); logs != "up\n" {
		t.Errorf("main logs %q, want the sidecar's %q", logs, "up\n")
	}
	if logs := logsOf(t, rt, "with-sidecar", "helper", LogOptions{Tail: -1}); !strings.Contains(logs, "bye") {
		t.Errorf("the sidecar was not sent SIGTERM: logs %q", logs)
	}
}

func TestSidecarRestartsWhatever(t *testing.T) {
	rt := newRuntime(t)
	pod := newPod("flaky-sidecar").
		sidecar("helper", "sh", "-c", "sleep 0.1; exit 3").
		container("main", "sleep", "1").pod
	if err := rt.CreatePod(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	p := waitFor(t, rt, "flaky-sidecar", "succeeded", phase(corev1.PodSucceeded))
	cs := find(p.Status.InitContainerStatuses, "helper")
	if cs == nil || cs.RestartCount < 1 {
		t.Errorf("sidecar exiting 3 under restartPolicy Never was not restarted: %+v", cs)
	}
}

func TestSandboxSeesHostSubmountsButNotSkiffsData(t *testing.T) {
	rt := sandboxedRuntime(t)
	// A mount on the host (as /home or a driver directory may be) with a
	// file in it: a bind mount at a software path, outside /tmp.
	src := t.TempDir()
	if err := os.WriteFile(src+"/model.bin", []byte("weights"), 0o644); err != nil {
		t.Fatal(err)
	}
	sub := fmt.Sprintf("/opt/skiff-submount-test-%d", time.Now().UnixNano())
	if err := os.MkdirAll(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Remove(sub) })
	if err := syscall.Mount(src, sub, "", syscall.MS_BIND, ""); err != nil {
		t.Skipf("cannot bind-mount here: %v", err)
	}
	t.Cleanup(func() { _ = syscall.Unmount(sub, syscall.MNT_DETACH) })
	script := fmt.Sprintf("cat %s/model.bin; echo; echo changed > %s/model.bin; ls -A %s 2>/dev/null | wc -l", sub, sub, rt.root)
	pod := newPod("submounts").container("main", "sh", "-c", script).pod
	if err := rt.CreatePod(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	waitFor(t, rt, "submounts", "succeeded", phase(corev1.PodSucceeded))
	if logs := logsOf(t, rt, "submounts", "main", LogOptions{Tail: -1}); logs != "weights\n0\n" {
		t.Errorf("logs %q: want the submount's file, and an empty (masked) pod directory", logs)
	}
	if data, _ := os.ReadFile(src + "/model.bin"); string(data) != "weights" {
		t.Errorf("the pod's write reached the host's submount: %q", data)
	}
}

func TestProjectedVolumesAreRefreshed(t *testing.T) {
	var mu sync.Mutex
	version := 0
	rt := sandboxedRuntime(t, withRefresh(100*time.Millisecond), withVolumes(func(_ context.Context, _ *corev1.Pod, dir string) (map[string]string, error) {
		mu.Lock()
		version++
		v := version
		mu.Unlock()
		path := filepath.Join(dir, "config")
		if err := os.MkdirAll(path, 0o755); err != nil {
			return nil, err
		}
		// Replaced by rename, as the node's writer does.
		tmp := filepath.Join(path, ".tmp")
		if err := os.WriteFile(tmp, []byte(fmt.Sprint(v)), 0o644); err != nil {
			return nil, err
		}
		return map[string]string{"config": path}, os.Rename(tmp, filepath.Join(path, "version"))
	}))
	b := newPod("refresh").container("main", "sh", "-c", "cat /config/version; echo; sleep 0.5; cat /config/version")
	b.pod.Spec.Volumes = []corev1.Volume{{Name: "config", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{}}}}
	b.pod.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "config", MountPath: "/config"}}
	if err := rt.CreatePod(context.Background(), b.pod); err != nil {
		t.Fatal(err)
	}
	waitFor(t, rt, "refresh", "succeeded", phase(corev1.PodSucceeded))
	lines := strings.Fields(logsOf(t, rt, "refresh", "main", LogOptions{Tail: -1}))
	if len(lines) != 2 || lines[0] == lines[1] {
		t.Errorf("the container saw versions %v; want the volume rewritten while it ran", lines)
	}
}
