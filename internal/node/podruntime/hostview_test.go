package podruntime

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/moby/sys/capability"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"

	"github.com/skiff-dev/skiff/internal/node/images"
)

// plant writes a file on the host for the length of the test.
func plant(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Remove(path) })
}

// TestPodSeesTheHostsSoftwareButNotItsData: a pod on the host's root sees
// what an image would hold, not the host's homes, scratch space or
// secrets; a mapped image's folder and program come in.
func TestPodSeesTheHostsSoftwareButNotItsData(t *testing.T) {
	stamp := fmt.Sprint(time.Now().UnixNano())
	inRoot := "/root/skiff-hostview-" + stamp
	inHome := "/home/skiff-hostview-" + stamp + "/notes"
	plant(t, inRoot, "root's secret")
	plant(t, inHome, "someone's notes")
	t.Cleanup(func() { _ = os.Remove(filepath.Dir(inHome)) })
	inTmp := filepath.Join(t.TempDir(), "other-users-file")
	plant(t, inTmp, "scratch")
	app := t.TempDir() // an image map's folder, under the host's /tmp
	plant(t, filepath.Join(app, "api.py"), "print('serving')")

	rt := sandboxedRuntime(t, withImages(func(ref string) (images.Image, bool) {
		return images.Image{Dir: app}, ref == "model-api:1"
	}))
	script := strings.Join([]string{
		"for f in " + inRoot + " " + inHome + " " + inTmp + " /etc/shadow /etc/gshadow; do if cat $f >/dev/null 2>&1; then echo readable $f; fi; done",
		"test -x /bin/sh && echo has-sh",
		"test -r /etc/passwd && echo has-passwd",
		"echo /tmp holds $(ls -A /tmp), /home $(ls -A /home | wc -l), /var/lib $(ls -A /var/lib | wc -l)",
		"echo x > /tmp/mine && echo tmp-writable",
		"cat api.py; echo",
		// Read off mountinfo: a write to test it would reach the host's kernel if it failed.
		"awk '$5==\"/proc/sys\" {split($6, o, \",\"); print \"/proc/sys\", o[1]}' /proc/self/mountinfo",
	}, "; ")
	pod := newPod("hostview").container("main", "sh", "-c", script).pod
	pod.Spec.Containers[0].Image = "model-api:1"
	if err := rt.CreatePod(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	p := waitFor(t, rt, "hostview", "finished", func(p *corev1.Pod) bool {
		return p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed
	})
	logs := logsOf(t, rt, "hostview", "main", LogOptions{Tail: -1})
	// /tmp holds only the way to the image's folder.
	appTop := strings.Split(strings.TrimPrefix(app, "/tmp/"), "/")[0]
	want := "has-sh\nhas-passwd\n/tmp holds " + appTop + ", /home 0, /var/lib 0\ntmp-writable\nprint('serving')\n/proc/sys ro\n"
	if p.Status.Phase != corev1.PodSucceeded || logs != want {
		t.Errorf("phase %s, logs (-want +got):\n%s", p.Status.Phase, cmp.Diff(want, logs))
	}
	if _, err := os.Stat("/tmp/mine"); err == nil {
		t.Error("the pod's /tmp is the host's")
	}
}

func TestPrivilegesBoundWhatAContainerHolds(t *testing.T) {
	script := "grep -E '^(CapBnd|CapEff|NoNewPrivs)' /proc/self/status"
	tests := []struct {
		name     string
		sc       *corev1.SecurityContext
		wantCaps []capability.Cap // nil: all
		wantNNP  string
	}{
		{name: "default", wantCaps: defaultCapabilities, wantNNP: "1"},
		{name: "drop ALL, add NET_BIND_SERVICE",
			sc: &corev1.SecurityContext{Capabilities: &corev1.Capabilities{
				Drop: []corev1.Capability{"ALL"}, Add: []corev1.Capability{"NET_BIND_SERVICE"}}},
			wantCaps: []capability.Cap{capability.CAP_NET_BIND_SERVICE}, wantNNP: "1"},
		{name: "escalation allowed", sc: &corev1.SecurityContext{AllowPrivilegeEscalation: ptr.To(true)},
			wantCaps: defaultCapabilities, wantNNP: "0"},
		{name: "privileged", sc: &corev1.SecurityContext{Privileged: ptr.To(true)}, wantNNP: "0"},
	}
	rt := sandboxedRuntime(t)
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name := fmt.Sprintf("caps-%d", i)
			b := newPod(name).container("main", "sh", "-c", script)
			if tt.sc != nil {
				b.security(*tt.sc)
			}
			if err := rt.CreatePod(context.Background(), b.pod); err != nil {
				t.Fatal(err)
			}
			waitFor(t, rt, name, "succeeded", phase(corev1.PodSucceeded))
			got := statusFields(logsOf(t, rt, name, "main", LogOptions{Tail: -1}))
			want := map[string]string{"NoNewPrivs": tt.wantNNP}
			if tt.wantCaps == nil {
				own := statusFields(readFile(t, "/proc/self/status"))
				want["CapBnd"], want["CapEff"] = own["CapBnd"], own["CapBnd"]
			} else {
				want["CapBnd"], want["CapEff"] = capMask(tt.wantCaps), capMask(tt.wantCaps)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("/proc/self/status (-want +got):\n%s", diff)
			}
		})
	}
}

func TestApplyCapabilities(t *testing.T) {
	tests := []struct {
		name      string
		add, drop []corev1.Capability
		want      []capability.Cap
	}{
		{name: "drop ALL, add one", drop: []corev1.Capability{"ALL"}, add: []corev1.Capability{"NET_BIND_SERVICE"},
			want: []capability.Cap{capability.CAP_NET_BIND_SERVICE}},
		{name: "add ALL, drop one: the drop wins", add: []corev1.Capability{"all"}, drop: []corev1.Capability{"CAP_NET_RAW"},
			want: slices.DeleteFunc(capability.ListKnown(), func(c capability.Cap) bool { return c == capability.CAP_NET_RAW })},
		{name: "add and drop the same", add: []corev1.Capability{"NET_ADMIN"}, drop: []corev1.Capability{"net_admin", "KILL"},
			want: slices.DeleteFunc(slices.Clone(defaultCapabilities), func(c capability.Cap) bool { return c == capability.CAP_KILL })},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := applyCapabilities("main", slices.Clone(defaultCapabilities), &corev1.Capabilities{Add: tt.add, Drop: tt.drop})
			if err != nil {
				t.Fatal(err)
			}
			slices.Sort(got)
			want := slices.Sorted(slices.Values(tt.want))
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("capabilities (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPrivilegesRefuseAnUnknownCapability(t *testing.T) {
	c := &corev1.Container{Name: "main", SecurityContext: &corev1.SecurityContext{
		Capabilities: &corev1.Capabilities{Add: []corev1.Capability{"FLY"}}}}
	_, err := privileges(c)
	if err == nil || !strings.Contains(err.Error(), `capabilities.add: unknown capability "FLY"`) {
		t.Errorf("error = %v, want it to name the field and the capability", err)
	}
}

// TestExecHoldsTheContainersPrivileges: kubectl exec enters with the
// container's bounding set and no_new_privs, not skiff's.
func TestExecHoldsTheContainersPrivileges(t *testing.T) {
	rt := sandboxedRuntime(t)
	pod := newPod("exec-caps").container("main", "sleep", "30").pod
	if err := rt.CreatePod(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	waitFor(t, rt, "exec-caps", "running", phase(corev1.PodRunning))
	var out strings.Builder
	err := rt.Exec(context.Background(), "default", "exec-caps", "main",
		[]string{"grep", "-E", "^(CapBnd|NoNewPrivs)", "/proc/self/status"}, ExecIO{Stdout: &out, Stderr: &out})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"CapBnd": capMask(defaultCapabilities), "NoNewPrivs": "1"}
	if diff := cmp.Diff(want, statusFields(out.String())); diff != "" {
		t.Errorf("exec's /proc/self/status (-want +got):\n%s", diff)
	}
	// A command that is not there: exit 127 with the reason, as a shell.
	out.Reset()
	err = rt.Exec(context.Background(), "default", "exec-caps", "main", []string{"definitely-not-installed"}, ExecIO{Stdout: &out, Stderr: &out})
	var ee *ExitError
	if !errors.As(err, &ee) || ee.Code != 127 || !strings.Contains(out.String(), "not found") {
		t.Errorf("exec of a missing command = %v, %q; want exit 127 saying not found", err, out.String())
	}
}

func statusFields(s string) map[string]string {
	out := map[string]string{}
	for _, line := range strings.Split(s, "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && (k == "CapBnd" || k == "CapEff" || k == "NoNewPrivs") {
			out[k] = strings.TrimSpace(v)
		}
	}
	return out
}

func capMask(caps []capability.Cap) string {
	var m uint64
	for _, c := range caps {
		m |= 1 << uint(c)
	}
	return fmt.Sprintf("%016x", m)
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}
