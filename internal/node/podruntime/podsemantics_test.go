package podruntime

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
)

func TestHostnameIsCutAsTheKubeletCutsIt(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("a", 62) + "-bcdef"
	tests := []struct {
		name, podName, specHostname, want string
	}{
		{name: "short pod name", podName: "web-0", want: "web-0"},
		{name: "spec.hostname wins", podName: "web-0", specHostname: "db", want: "db"},
		{name: "63 characters stay", podName: strings.Repeat("b", 63), want: strings.Repeat("b", 63)},
		{name: "longer is cut to 63, without a trailing dash", podName: long, want: strings.Repeat("a", 62)},
		{name: "a trailing dot goes too", podName: strings.Repeat("c", 62) + ".d" + strings.Repeat("e", 10), want: strings.Repeat("c", 62)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			pod := newPod(tt.podName).pod
			pod.Spec.Hostname = tt.specHostname
			if got := hostname(pod); got != tt.want {
				t.Errorf("hostname = %q (%d), want %q", got, len(got), tt.want)
			}
		})
	}
}

// TestLongPodNameStarts: a sandbox's hostname longer than the kernel's 63
// characters failed the start ("setting the pod's hostname: invalid
// argument").
func TestLongPodNameStarts(t *testing.T) {
	rt := sandboxedRuntime(t)
	name := "train-" + strings.Repeat("x", 70)
	pod := newPod(name).container("main", "sh", "-c", "hostname").pod
	if err := rt.CreatePod(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	p := waitFor(t, rt, name, "finished", func(p *corev1.Pod) bool {
		return p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed
	})
	logs := logsOf(t, rt, name, "main", LogOptions{Tail: -1})
	if p.Status.Phase != corev1.PodSucceeded || strings.TrimSpace(logs) != name[:63] {
		t.Errorf("phase %s, hostname %q; want Succeeded and %q", p.Status.Phase, logs, name[:63])
	}
}

func TestReadOnlyRootFilesystem(t *testing.T) {
	rt := sandboxedRuntime(t)
	script := "if echo x > /file 2>/dev/null; then echo root-writable; else echo root-read-only; fi; " +
		"echo ok > /dev/shm/f && echo shm-writable"
	pod := newPod("ro-root").container("main", "sh", "-c", script).
		security(corev1.SecurityContext{ReadOnlyRootFilesystem: ptr.To(true)}).pod
	if err := rt.CreatePod(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	p := waitFor(t, rt, "ro-root", "finished", func(p *corev1.Pod) bool {
		return p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed
	})
	logs := logsOf(t, rt, "ro-root", "main", LogOptions{Tail: -1})
	if p.Status.Phase != corev1.PodSucceeded {
		t.Fatalf("phase %s: %+v\n%s", p.Status.Phase, p.Status.ContainerStatuses, logs)
	}
	for _, want := range []string{"root-read-only", "shm-writable"} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %q:\n%s", want, logs)
		}
	}
}

// TestEnvFromStatusFields: the downward API's status fields, which only
// the node knows when the container starts.
func TestEnvFromStatusFields(t *testing.T) {
	rt := newRuntime(t)
	pod := newPod("downward").container("main", "sh", "-c", "echo $HOST_IP $HOST_IPS $POD_IP $POD_IPS").pod
	for _, f := range []struct{ name, path string }{
		{"HOST_IP", "status.hostIP"}, {"HOST_IPS", "status.hostIPs"}, {"POD_IP", "status.podIP"}, {"POD_IPS", "status.podIPs"},
	} {
		pod.Spec.Containers[0].Env = append(pod.Spec.Containers[0].Env, corev1.EnvVar{Name: f.name,
			ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: f.path}}})
	}
	if err := rt.CreatePod(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	waitFor(t, rt, "downward", "succeeded", phase(corev1.PodSucceeded))
	if logs := logsOf(t, rt, "downward", "main", LogOptions{Tail: -1}); logs != "127.0.0.1 127.0.0.1 127.0.0.1 127.0.0.1\n" {
		t.Errorf("logs %q, want the node's address four times (a pod without a network of its own has the node's)", logs)
	}
}

// TestPodsDirWithOverlaySeparators: overlayfs splits its options on ','
// (and lowerdir on ':'), so a data dir named so failed every start
// ("mounting the root overlay over /: No such file or directory").
func TestPodsDirWithOverlaySeparators(t *testing.T) {
	skipWithoutSandboxes(t)
	dir := filepath.Join(t.TempDir(), "team,a:b")
	rt := newRuntime(t, withSandboxes(t), func(c *Config) { c.PodsDir = dir })
	pod := newPod("commas").container("main", "sh", "-c", "echo started").pod
	if err := rt.CreatePod(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	p := waitFor(t, rt, "commas", "finished", func(p *corev1.Pod) bool {
		return p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed
	})
	if p.Status.Phase != corev1.PodSucceeded {
		t.Errorf("phase %s: %+v", p.Status.Phase, p.Status.ContainerStatuses)
	}
}
