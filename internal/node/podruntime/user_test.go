package podruntime

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"

	"github.com/skiff-dev/skiff/internal/node/sandbox"
)

func (b *podBuilder) podSecurity(sc corev1.PodSecurityContext) *podBuilder {
	b.pod.Spec.SecurityContext = &sc
	return b
}

func (b *podBuilder) security(sc corev1.SecurityContext) *podBuilder {
	b.pod.Spec.Containers[len(b.pod.Spec.Containers)-1].SecurityContext = &sc
	return b
}

func TestIdentity(t *testing.T) {
	tests := []struct {
		name    string
		pod     *corev1.Pod
		want    *sandbox.User
		home    string
		wantErr string
	}{
		{name: "nothing set runs as skiff", pod: newPod("p").container("c", "true").pod, home: "/root"},
		{
			name: "pod user, group and fsGroup",
			pod: newPod("p").container("c", "true").podSecurity(corev1.PodSecurityContext{
				RunAsUser: ptr.To(int64(4242)), RunAsGroup: ptr.To(int64(3000)), FSGroup: ptr.To(int64(2000)), SupplementalGroups: []int64{4000},
			}).pod,
			want: &sandbox.User{UID: 4242, GID: 3000, Groups: []uint32{4000, 2000}}, home: "/",
		},
		{
			name: "container overrides the pod",
			pod: newPod("p").container("c", "true").podSecurity(corev1.PodSecurityContext{RunAsUser: ptr.To(int64(4242)), RunAsGroup: ptr.To(int64(3000))}).
				security(corev1.SecurityContext{RunAsUser: ptr.To(int64(4243))}).pod,
			want: &sandbox.User{UID: 4243, GID: 3000}, home: "/",
		},
		{
			name: "known user gets its group and home",
			pod:  newPod("p").container("c", "true").security(corev1.SecurityContext{RunAsUser: ptr.To(int64(0))}).pod,
			want: &sandbox.User{UID: 0, GID: 0}, home: "/root",
		},
		{
			name:    "runAsNonRoot without a user",
			pod:     newPod("p").container("c", "true").podSecurity(corev1.PodSecurityContext{RunAsNonRoot: ptr.To(true)}).pod,
			wantErr: `container "c" has runAsNonRoot and image will run as root`,
		},
		{
			name: "runAsNonRoot with user 0",
			pod: newPod("p").container("c", "true").
				security(corev1.SecurityContext{RunAsNonRoot: ptr.To(true), RunAsUser: ptr.To(int64(0))}).pod,
			wantErr: "runAsUser is 0",
		},
		{
			name: "runAsNonRoot satisfied",
			pod: newPod("p").container("c", "true").
				security(corev1.SecurityContext{RunAsNonRoot: ptr.To(true), RunAsUser: ptr.To(int64(4242))}).pod,
			want: &sandbox.User{UID: 4242}, home: "/",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, home, err := identity(tt.pod, &tt.pod.Spec.Containers[0])
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("identity (-want +got):\n%s", diff)
			}
			if home != tt.home {
				t.Errorf("home %q, want %q", home, tt.home)
			}
		})
	}
}

func TestRunAsUserWithFSGroupVolume(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("changing user needs root")
	}
	scratch := withVolumes(func(_ context.Context, pod *corev1.Pod, dir string) (map[string]string, error) {
		path := filepath.Join(dir, "scratch")
		return map[string]string{"scratch": path}, os.MkdirAll(path, 0o755)
	})
	inBothModes(t, func(t *testing.T, rt *Runtime, name string) {
		sandboxed := name == "sandbox"
		script := "id -u; id -g; id -G; echo $HOME"
		want := "4242\n3000\n3000 2000\n/\n"
		if sandboxed {
			// Volumes are mounted in sandboxes only.
			script += "; touch /scratch/out && echo wrote"
			want += "wrote\n"
		}
		b := newPod("user-"+name).container("main", "sh", "-c", script).
			podSecurity(corev1.PodSecurityContext{RunAsUser: ptr.To(int64(4242)), RunAsGroup: ptr.To(int64(3000)), FSGroup: ptr.To(int64(2000))})
		b.pod.Spec.Volumes = []corev1.Volume{{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
		b.pod.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "scratch", MountPath: "/scratch"}}
		pod := b.pod
		if err := rt.CreatePod(context.Background(), pod); err != nil {
			t.Fatal(err)
		}
		p := waitFor(t, rt, pod.Name, "finished", func(p *corev1.Pod) bool {
			return p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed
		})
		logs := logsOf(t, rt, pod.Name, "main", LogOptions{Tail: -1})
		if p.Status.Phase != corev1.PodSucceeded {
			t.Fatalf("phase %s; logs:\n%s", p.Status.Phase, logs)
		}
		if logs != want {
			t.Errorf("logs %q, want %q", logs, want)
		}
	}, scratch)
}

func TestRunAsNonRootRootWaitsWithConfigError(t *testing.T) {
	rt := newRuntime(t)
	pod := newPod("rooty").container("main", "true").podSecurity(corev1.PodSecurityContext{RunAsNonRoot: ptr.To(true)}).pod
	if err := rt.CreatePod(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	waitFor(t, rt, "rooty", "CreateContainerConfigError", func(p *corev1.Pod) bool {
		cs := find(p.Status.ContainerStatuses, "main")
		return p.Status.Phase == corev1.PodPending && cs != nil && cs.State.Waiting != nil && cs.State.Waiting.Reason == "CreateContainerConfigError"
	})
}

func TestExecRunsAsTheContainersUserWithItsGroups(t *testing.T) {
	rt := sandboxedRuntime(t)
	pod := newPod("exec-user").container("main", "sleep", "30").restart(corev1.RestartPolicyAlways).
		podSecurity(corev1.PodSecurityContext{RunAsUser: ptr.To(int64(4242)), RunAsGroup: ptr.To(int64(3000)), FSGroup: ptr.To(int64(2000))}).pod
	if err := rt.CreatePod(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	waitFor(t, rt, "exec-user", "running", phase(corev1.PodRunning))
	var out strings.Builder
	if err := rt.Exec(context.Background(), "default", "exec-user", "main", []string{"sh", "-c", "id -u; id -g; id -G"}, ExecIO{Stdout: &out, Stderr: &out}); err != nil {
		t.Fatalf("exec: %v\n%s", err, out.String())
	}
	if want := "4242\n3000\n3000 2000\n"; out.String() != want {
		t.Errorf("exec ran as %q, want %q (user, group, and fsGroup among the groups)", out.String(), want)
	}
}
