package podruntime

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"github.com/skiff-dev/skiff/internal/node/cgroups"
	"github.com/skiff-dev/skiff/internal/node/gpu"
	"github.com/skiff-dev/skiff/internal/node/images"
)

// podBuilder builds test pods.
type podBuilder struct{ pod *corev1.Pod }

func newPod(name string) *podBuilder {
	return &podBuilder{pod: &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: types.UID("uid-" + name)},
		Spec:       corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever, TerminationGracePeriodSeconds: ptr.To(int64(1))},
	}}
}

func (b *podBuilder) container(name string, command ...string) *podBuilder {
	b.pod.Spec.Containers = append(b.pod.Spec.Containers, corev1.Container{Name: name, Image: "python:3.6", Command: command})
	return b
}

func (b *podBuilder) init(name string, command ...string) *podBuilder {
	b.pod.Spec.InitContainers = append(b.pod.Spec.InitContainers, corev1.Container{Name: name, Command: command})
	return b
}

func (b *podBuilder) env(name, value string) *podBuilder {
	c := &b.pod.Spec.Containers[len(b.pod.Spec.Containers)-1]
	c.Env = append(c.Env, corev1.EnvVar{Name: name, Value: value})
	return b
}

func (b *podBuilder) restart(p corev1.RestartPolicy) *podBuilder {
	b.pod.Spec.RestartPolicy = p
	return b
}

// option changes the Config a test runtime starts from.
type option func(*Config)

func withRecorder(r Recorder) option       { return func(c *Config) { c.Recorder = r } }
func withVolumes(v VolumePreparer) option  { return func(c *Config) { c.Volumes = v } }
func withImages(l ImageLookup) option      { return func(c *Config) { c.Images = l } }
func withGPUs(a *gpu.Allocator) option     { return func(c *Config) { c.GPUs = a } }
func withBackoff(d time.Duration) option   { return func(c *Config) { c.backoffInitial = d } }
func withRefresh(d time.Duration) option   { return func(c *Config) { c.volumeRefresh = d } }
func withCgroups(tree cgroups.Tree) option { return func(c *Config) { c.Cgroups = &tree } }

func withNetwork(n PodNetwork, dns DNS) option {
	return func(c *Config) { c.Network, c.DNS = n, dns }
}

// withSandboxes runs containers through the test binary, which links
// package sandbox and so carries the sandbox child as skiff does.
func withSandboxes(t testing.TB) option {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return func(c *Config) { c.SandboxBinary = self }
}

// testConfig is where every test runtime starts: pods below a temporary
// directory, the node at 127.0.0.1, quick restarts.
func testConfig(t testing.TB, opts ...option) Config {
	cfg := Config{PodsDir: t.TempDir(), HostIP: "127.0.0.1", backoffInitial: 100 * time.Millisecond}
	for _, o := range opts {
		o(&cfg)
	}
	return cfg
}

// newRuntime runs plain processes (unless opts say otherwise) and stops
// its pods when the test ends.
func newRuntime(t testing.TB, opts ...option) *Runtime {
	t.Helper()
	rt, err := New(testConfig(t, opts...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Shutdown(2 * time.Second) })
	return rt
}

// waitFor polls the pod until check passes.
func waitFor(t *testing.T, rt *Runtime, name string, what string, check func(*corev1.Pod) bool) *corev1.Pod {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	var p *corev1.Pod
	for time.Now().Before(deadline) {
		p, _ = rt.GetPod(context.Background(), "default", name)
		if p != nil && check(p) {
			return p
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("pod %s: %s not reached; status %+v", name, what, p)
	return nil
}

func phase(ph corev1.PodPhase) func(*corev1.Pod) bool {
	return func(p *corev1.Pod) bool { return p.Status.Phase == ph }
}

func logsOf(t *testing.T, rt *Runtime, pod, container string, opts LogOptions) string {
	t.Helper()
	var b strings.Builder
	if err := rt.Logs(context.Background(), "default", pod, container, opts, false, &b); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestPodRunsToCompletion(t *testing.T) {
	tests := []struct {
		name       string
		pod        *corev1.Pod
		wantPhase  corev1.PodPhase
		wantCode   int32
		wantReason string
		wantLog    string
	}{
		{"hello", newPod("hello").container("main", "sh", "-c", "echo Hello, World!").pod, corev1.PodSucceeded, 0, "Completed", "Hello, World!\n"},
		{"failure", newPod("fail").container("main", "sh", "-c", "echo oops >&2; exit 3").pod, corev1.PodFailed, 3, "Error", "oops\n"},
		{"missing command", newPod("nocmd").container("main", "no-such-binary-here").pod, corev1.PodFailed, 128, "StartError", ""},
		{"var expansion", newPod("expand").container("main", "echo", "$(GREETING), $(WHO)! $$(LITERAL) $(UNDEFINED)").env("WHO", "World").env("GREETING", "Hello").pod,
			corev1.PodSucceeded, 0, "Completed", "Hello, World! $(LITERAL) $(UNDEFINED)\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rt := newRuntime(t)
			if err := rt.CreatePod(context.Background(), tt.pod); err != nil {
				t.Fatal(err)
			}
			p := waitFor(t, rt, tt.pod.Name, "terminal phase", func(p *corev1.Pod) bool {
				return p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed
			})
			if p.Status.Phase != tt.wantPhase {
				t.Errorf("phase = %s, want %s", p.Status.Phase, tt.wantPhase)
			}
			term := p.Status.ContainerStatuses[0].State.Terminated
			if term == nil {
				t.Fatalf("container not terminated: %+v", p.Status.ContainerStatuses[0].State)
			}
			if diff := cmp.Diff([]any{tt.wantCode, tt.wantReason}, []any{term.ExitCode, term.Reason}); diff != "" {
				t.Errorf("exit code and reason (-want +got):\n%s", diff)
			}
			if tt.wantReason == "StartError" && !strings.Contains(term.Message, "not found in $PATH") {
				t.Errorf("start error message %q does not say why", term.Message)
			}
			if tt.wantLog != "" {
				if diff := cmp.Diff(tt.wantLog, logsOf(t, rt, tt.pod.Name, "main", LogOptions{Tail: -1})); diff != "" {
					t.Errorf("logs (-want +got):\n%s", diff)
				}
			}
		})
	}
}

func TestInitContainersRunInOrder(t *testing.T) {
	rt := newRuntime(t)
	dir := t.TempDir()
	f := filepath.Join(dir, "order")
	pod := newPod("init").
		init("first", "sh", "-c", "echo first >> "+f).
		init("second", "sh", "-c", "echo second >> "+f).
		container("main", "sh", "-c", "cat "+f).pod
	if err := rt.CreatePod(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	p := waitFor(t, rt, "init", "Succeeded", phase(corev1.PodSucceeded))
	if diff := cmp.Diff("first\nsecond\n", logsOf(t, rt, "init", "main", LogOptions{Tail: -1})); diff != "" {
		t.Errorf("main saw (-want +got):\n%s", diff)
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodInitialized && c.Status != corev1.ConditionTrue {
			t.Errorf("Initialized = %s", c.Status)
		}
	}
}

func TestRestartPolicyOnFailureBacksOff(t *testing.T) {
	rt := newRuntime(t)
	marker := filepath.Join(t.TempDir(), "runs")
	// Fails twice, then succeeds.
	script := "echo run >> " + marker + "; test $(wc -l < " + marker + ") -ge 3"
	pod := newPod("retry").container("main", "sh", "-c", script).restart(corev1.RestartPolicyOnFailure).pod
	if err := rt.CreatePod(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	p := waitFor(t, rt, "retry", "Succeeded", phase(corev1.PodSucceeded))
	cs := p.Status.ContainerStatuses[0]
	if cs.RestartCount != 2 {
		t.Errorf("restartCount = %d, want 2", cs.RestartCount)
	}
	if cs.LastTerminationState.Terminated == nil || cs.LastTerminationState.Terminated.ExitCode != 1 {
		t.Errorf("lastState = %+v, want terminated with exit code 1", cs.LastTerminationState)
	}
}

func TestCrashLoopBackOffIsReported(t *testing.T) {
	rt := newRuntime(t, withBackoff(5*time.Second))
	pod := newPod("crash").container("main", "false").restart(corev1.RestartPolicyAlways).pod
	if err := rt.CreatePod(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	p := waitFor(t, rt, "crash", "CrashLoopBackOff", func(p *corev1.Pod) bool {
		cs := p.Status.ContainerStatuses
		return len(cs) == 1 && cs[0].State.Waiting != nil && cs[0].State.Waiting.Reason == "CrashLoopBackOff"
	})
	if p.Status.Phase != corev1.PodRunning {
		t.Errorf("phase during back-off = %s, want Running", p.Status.Phase)
	}
}

func TestDeleteKillsTheProcessTree(t *testing.T) {
	rt := newRuntime(t)
	pidFile := filepath.Join(t.TempDir(), "child.pid")
	// The child ignores SIGTERM, so only the SIGKILL after grace ends it.
	// ($$$$ is the shell's $$ after the kubelet-style $(VAR) expansion.)
	script := "trap '' TERM; sh -c 'trap \"\" TERM; echo $$$$ > " + pidFile + "; while true; do sleep 0.1; done' & while true; do sleep 0.1; done"
	pod := newPod("tree").container("main", "sh", "-c", script).restart(corev1.RestartPolicyAlways).pod
	if err := rt.CreatePod(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	waitFor(t, rt, "tree", "Running", phase(corev1.PodRunning))
	var childPID int
	deadline := time.Now().Add(5 * time.Second)
	for childPID == 0 && time.Now().Before(deadline) {
		data, _ := os.ReadFile(pidFile)
		childPID = atoi(strings.TrimSpace(string(data)))
		time.Sleep(20 * time.Millisecond)
	}
	if childPID == 0 {
		t.Fatal("child never started")
	}
	final := make(chan *corev1.Pod, 16)
	rt.NotifyPods(context.Background(), func(p *corev1.Pod) {
		if p.DeletionTimestamp != nil {
			final <- p
		}
	})
	start := time.Now()
	if err := rt.DeletePod(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	select {
	case <-final:
	case <-time.After(10 * time.Second):
		t.Fatal("no final status after delete")
	}
	if took := time.Since(start); took < 900*time.Millisecond {
		t.Errorf("delete took %s; the SIGTERM-ignoring child should have had its 1s grace", took)
	}
	deadline = time.Now().Add(2 * time.Second)
	for alive(childPID) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if alive(childPID) {
		t.Errorf("child %d still alive after delete", childPID)
	}
	if p, _ := rt.GetPod(context.Background(), "default", "tree"); p != nil {
		t.Error("runtime still lists the deleted pod")
	}
}

func atoi(s string) int {
	n := 0
	for _, r := range s {
		if r < '0' || r > '9' {
			return 0
		}
		n = n*10 + int(r-'0')
	}
	return n
}

// alive reports whether pid runs (a zombie awaiting its reaper does not).
func alive(pid int) bool {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	fields := strings.Fields(string(data))
	return len(fields) > 2 && fields[2] != "Z"
}

func TestCleanOrphansKillsWhatACrashLeft(t *testing.T) {
	root := t.TempDir()
	crashed, err := New(Config{PodsDir: root})
	if err != nil {
		t.Fatal(err)
	}
	pod := newPod("orphan").container("main", "sleep", "60").restart(corev1.RestartPolicyAlways).pod
	if err := crashed.CreatePod(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	waitFor(t, crashed, "orphan", "Running", phase(corev1.PodRunning))
	pr := crashed.lookup("default", "orphan")
	pr.mu.Lock()
	pid := pr.instances["main"].cmd.Process.Pid
	pr.mu.Unlock()
	// The crashed runtime is simply abandoned, as after kill -9 of skiff.
	killed, err := CleanOrphans(root)
	if err != nil {
		t.Fatal(err)
	}
	if killed != 1 {
		t.Errorf("killed %d process groups, want 1", killed)
	}
	deadline := time.Now().Add(3 * time.Second)
	for alive(pid) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if alive(pid) {
		t.Errorf("orphan %d survived", pid)
	}
	if entries, _ := os.ReadDir(root); len(entries) != 0 {
		t.Errorf("stale pod directories left: %v", entries)
	}
}

func TestCleanOrphansSparesReusedPIDs(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "default_x_uid", "main")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	// Our own pid with a start time that cannot be ours.
	if err := os.WriteFile(filepath.Join(dir, "0.pid"), []byte(strconv.Itoa(os.Getpid())+" 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	killed, err := CleanOrphans(root)
	if err != nil || killed != 0 {
		t.Errorf("CleanOrphans = %d, %v; want 0 (the pid was reused)", killed, err)
	}
}

func TestActiveDeadlineFailsThePod(t *testing.T) {
	rt := newRuntime(t)
	pod := newPod("deadline").container("main", "sleep", "30").pod
	pod.Spec.ActiveDeadlineSeconds = ptr.To(int64(1))
	start := time.Now()
	if err := rt.CreatePod(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	p := waitFor(t, rt, "deadline", "Failed", phase(corev1.PodFailed))
	if p.Status.Reason != "DeadlineExceeded" {
		t.Errorf("reason = %q, want DeadlineExceeded", p.Status.Reason)
	}
	if took := time.Since(start); took < time.Second || took > 5*time.Second {
		t.Errorf("failed after %s, want about 1s", took)
	}
}

func TestImageMapGivesEntrypointDirAndEnv(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "api.sh"), []byte("echo serving $MODEL from $(pwd) with \"$@\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	rt := newRuntime(t, withImages(func(ref string) (images.Image, bool) {
		if ref != "lpatruno/k8-model-api:latest" {
			return images.Image{}, false
		}
		return images.Image{Dir: dir, Command: []string{"sh", "api.sh"}, Env: map[string]string{"MODEL": "default.pkl"}}, true
	}))
	pod := newPod("mapped").container("api").pod
	c := &pod.Spec.Containers[0]
	c.Image, c.Args = "lpatruno/k8-model-api:latest", []string{"--port", "5000"}
	c.Env = []corev1.EnvVar{{Name: "MODEL", Value: "tuned.pkl"}} // the pod's env wins
	if err := rt.CreatePod(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	waitFor(t, rt, "mapped", "Succeeded", phase(corev1.PodSucceeded))
	want := "serving tuned.pkl from " + dir + " with --port 5000\n"
	if diff := cmp.Diff(want, logsOf(t, rt, "mapped", "api", LogOptions{Tail: -1})); diff != "" {
		t.Errorf("output (-want +got):\n%s", diff)
	}
}
