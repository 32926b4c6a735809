package podruntime

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/moby/sys/capability"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"

	"github.com/skiff-dev/skiff/internal/node/gpu"
	"github.com/skiff-dev/skiff/internal/node/images"
	"github.com/skiff-dev/skiff/internal/node/sandbox"
)

func (b *podBuilder) hostname(name string) *podBuilder {
	b.pod.Spec.Hostname = name
	return b
}

// last is the container added last, to change what the builder lacks.
func (b *podBuilder) last(change func(*corev1.Container)) *podBuilder {
	change(&b.pod.Spec.Containers[len(b.pod.Spec.Containers)-1])
	return b
}

// TestResolve checks what an instance runs with, without running it.
func TestResolve(t *testing.T) {
	t.Parallel()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir() // every case's PodsDir; no pod is created in it
	podDir := filepath.Join(root, "default_p_uid-p")
	modelAPI := func(ref string) (images.Image, bool) {
		if ref != "model-api:1" {
			return images.Image{}, false
		}
		return images.Image{Dir: "/srv/api", Command: []string{"python3", "serve.py"}, Env: map[string]string{"MODEL": "default.pkl", "WORKERS": "2"}}, true
	}
	sandboxed := func(c *Config) { c.SandboxBinary, c.MaskedPaths = self, []string{"/var/lib/skiff"} }
	onGPUNode := func(c *Config) { c.GPUs = gpu.NewAllocator([]gpu.Device{{UUID: "GPU-a", Minor: 0}}) }
	baseEnv := []string{"PATH=" + defaultPath, "HOSTNAME=p", "HOME=/root"}
	tests := []struct {
		name     string
		config   func(*Config)
		pod      *podBuilder
		restarts int
		// volumes are the pod's prepared volumes (prepareVolumes).
		volumes map[string]string
		want    *containerConfig
	}{
		{
			name: "plain process", config: func(*Config) {},
			pod: newPod("p").container("main", "/bin/sh", "-c", "echo $(GREETING)").env("GREETING", "hi"),
			want: &containerConfig{
				args: []string{"/bin/sh", "-c", "echo hi"}, env: slices.Concat(baseEnv, []string{"GREETING=hi"}), dir: "/",
				base: filepath.Join(podDir, "main", "0"), path: "/bin/sh",
			},
		},
		{
			name: "restart and working dir", config: func(*Config) {},
			pod: newPod("p").container("main", "/bin/true").last(func(c *corev1.Container) { c.WorkingDir = "/tmp" }), restarts: 3,
			want: &containerConfig{args: []string{"/bin/true"}, env: baseEnv, dir: "/tmp", base: filepath.Join(podDir, "main", "3"), path: "/bin/true"},
		},
		{
			name: "mapped image gives entrypoint, dir and env; the pod's env wins",
			config: func(c *Config) {
				sandboxed(c)
				c.Images = modelAPI
			},
			pod: newPod("p").container("api").last(func(c *corev1.Container) {
				c.Image, c.Args = "model-api:1", []string{"--port", "5000"}
				c.Env = []corev1.EnvVar{{Name: "MODEL", Value: "tuned.pkl"}}
			}),
			want: func() *containerConfig {
				env := slices.Concat(baseEnv, []string{"MODEL=tuned.pkl", "WORKERS=2"})
				args := []string{"python3", "serve.py", "--port", "5000"}
				base := filepath.Join(podDir, "api", "0")
				return &containerConfig{args: args, env: env, dir: "/srv/api", base: base, sandbox: &sandbox.Spec{
					Lower: "/", StateDir: base + ".sandbox", Hostname: "p", Args: args, Env: env, Dir: "/srv/api",
					Mounts: []sandbox.Mount{{Source: base + ".sandbox.termination-log", Target: "/dev/termination-log"}},
					Masked: []string{root, "/var/lib/skiff"}, Privileges: defaultPrivileges, Expose: []string{"/srv/api"},
				}}
			}(),
		},
		{
			name:   "sandbox mounts the container's volumes and termination message path",
			config: sandboxed,
			pod: newPod("p").container("main", "sleep", "1").last(func(c *corev1.Container) {
				c.TTY, c.TerminationMessagePath = true, "/tmp/done"
				c.VolumeMounts = []corev1.VolumeMount{
					{Name: "model", MountPath: "/models", ReadOnly: true},
					{Name: "config", MountPath: "/etc/app.yaml", SubPath: "app.yaml"},
				}
			}).hostname("trainer"),
			volumes: map[string]string{"model": "/data/model", "config": "/pods/volumes/config"},
			want: func() *containerConfig {
				base := filepath.Join(podDir, "main", "0")
				args := []string{"sleep", "1"}
				return &containerConfig{args: args, env: baseEnv, dir: "/", base: base, sandbox: &sandbox.Spec{
					Lower: "/", StateDir: base + ".sandbox", Hostname: "trainer", Args: args, Env: baseEnv, Dir: "/", TTY: true,
					Mounts: []sandbox.Mount{
						{Source: "/data/model", Target: "/models", ReadOnly: true},
						{Source: "/pods/volumes/config/app.yaml", Target: "/etc/app.yaml"},
						{Source: base + ".sandbox.termination-log", Target: "/tmp/done"},
					},
					Masked: []string{root, "/var/lib/skiff"}, Privileges: defaultPrivileges,
				}}
			}(),
		},
		{
			name: "runs as the pod's user with its groups", config: func(*Config) {},
			pod: newPod("p").container("main", "/bin/true").podSecurity(corev1.PodSecurityContext{
				RunAsUser: ptr.To(int64(4242)), RunAsGroup: ptr.To(int64(3000)), FSGroup: ptr.To(int64(2000)),
			}),
			want: &containerConfig{
				args: []string{"/bin/true"}, env: []string{"PATH=" + defaultPath, "HOSTNAME=p", "HOME=/"}, dir: "/",
				user: &sandbox.User{UID: 4242, GID: 3000, Groups: []uint32{2000}},
				base: filepath.Join(podDir, "main", "0"), path: "/bin/true",
			},
		},
		{
			name: "a GPU container sees its devices", config: onGPUNode,
			pod: newPod("p").container("train", "/bin/true").gpus(1).env("CUDA_VISIBLE_DEVICES", "all"),
			want: &containerConfig{
				args: []string{"/bin/true"}, env: slices.Concat(baseEnv, []string{"CUDA_VISIBLE_DEVICES=GPU-a", "NVIDIA_VISIBLE_DEVICES=GPU-a"}), dir: "/",
				gpus: []gpu.Device{{UUID: "GPU-a", Minor: 0}}, base: filepath.Join(podDir, "train", "0"), path: "/bin/true",
			},
		},
		{
			name: "on a GPU node a CPU container sees none", config: onGPUNode,
			pod: newPod("p").container("cpu", "/bin/true"),
			want: &containerConfig{
				args: []string{"/bin/true"}, env: slices.Concat(baseEnv, []string{"CUDA_VISIBLE_DEVICES=", "NVIDIA_VISIBLE_DEVICES=void"}), dir: "/",
				gpus: []gpu.Device{}, base: filepath.Join(podDir, "cpu", "0"), path: "/bin/true",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			pr := resolvingPod(t, root, tt.config, tt.pod, podDir)
			pr.volumePaths = tt.volumes
			got, err := pr.resolve(&tt.pod.pod.Spec.Containers[0], tt.restarts)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(containerConfig{})); diff != "" {
				t.Errorf("resolve (-want +got):\n%s", diff)
			}
		})
	}
}

func TestResolveRefuses(t *testing.T) {
	t.Parallel()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	tests := []struct {
		name   string
		config func(*Config)
		pod    *podBuilder
		// wantIs, when set, is the error's kind; wantMsg is part of it.
		wantIs  error
		wantMsg string
	}{
		{name: "no command", config: func(*Config) {}, pod: newPod("p").container("main"),
			wantIs: ErrNoCommand, wantMsg: "map the image in a file of images.d/"},
		{name: "no such binary", config: func(*Config) {}, pod: newPod("p").container("main", "no-such-binary-here"),
			wantMsg: "not found in $PATH"},
		{name: "runAsNonRoot as root", config: func(*Config) {},
			pod:     newPod("p").container("main", "/bin/true").podSecurity(corev1.PodSecurityContext{RunAsNonRoot: ptr.To(true)}),
			wantIs:  &ConfigError{},
			wantMsg: "image will run as root"},
		{name: "GPUs on a node without", config: func(*Config) {}, pod: newPod("p").container("train", "/bin/true").gpus(1),
			wantMsg: "this node has none"},
		{name: "more GPUs than the node has",
			config:  func(c *Config) { c.GPUs = gpu.NewAllocator([]gpu.Device{{UUID: "GPU-a"}}) },
			pod:     newPod("p").container("train", "/bin/true").gpus(2),
			wantMsg: "2 nvidia.com/gpu requested"},
		{name: "a volume the pod lacks", config: func(c *Config) { c.SandboxBinary = self },
			pod: newPod("p").container("main", "/bin/true").last(func(c *corev1.Container) {
				c.VolumeMounts = []corev1.VolumeMount{{Name: "missing", MountPath: "/m"}}
			}),
			wantMsg: `volume "missing" mounted by container "main" is not defined`},
		{name: "subPath leaving the volume", config: func(c *Config) { c.SandboxBinary = self },
			pod: newPod("p").container("main", "/bin/true").last(func(c *corev1.Container) {
				c.VolumeMounts = []corev1.VolumeMount{{Name: "data", MountPath: "/m", SubPath: "../etc"}}
			}),
			wantMsg: "must be a relative path without '..'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			pr := resolvingPod(t, root, tt.config, tt.pod, filepath.Join(root, "p"))
			pr.volumePaths = map[string]string{"data": "/data"}
			cc, err := pr.resolve(&tt.pod.pod.Spec.Containers[0], 0)
			if err == nil {
				t.Fatalf("resolve = %+v, want an error", cc)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("error %q does not say %q", err, tt.wantMsg)
			}
			if tt.wantIs != nil && !isKind(err, tt.wantIs) {
				t.Errorf("error %v is not a %T", err, tt.wantIs)
			}
		})
	}
}

// isKind says whether err is target (a sentinel) or of target's type.
func isKind(err, target error) bool {
	if _, ok := target.(*ConfigError); ok {
		var ce *ConfigError
		return errors.As(err, &ce)
	}
	return errors.Is(err, target)
}

// resolvingPod is a pod's run state below a runtime of config, with no
// process started: what resolve needs.
func resolvingPod(t *testing.T, root string, config func(*Config), b *podBuilder, dir string) *podRun {
	t.Helper()
	cfg := Config{PodsDir: root}
	config(&cfg)
	rt, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return newPodRun(rt, b.pod.DeepCopy(), dir)
}

// defaultPrivileges are a container's without a securityContext: the
// default capabilities (sorted), no escalation.
var defaultPrivileges = &sandbox.Privileges{Capabilities: []capability.Cap{
	capability.CAP_CHOWN, capability.CAP_DAC_OVERRIDE, capability.CAP_FOWNER, capability.CAP_FSETID,
	capability.CAP_KILL, capability.CAP_SETGID, capability.CAP_SETUID, capability.CAP_SETPCAP,
	capability.CAP_NET_BIND_SERVICE, capability.CAP_NET_RAW, capability.CAP_SYS_CHROOT, capability.CAP_MKNOD,
	capability.CAP_AUDIT_WRITE, capability.CAP_SETFCAP,
}, NoNewPrivs: true}

func TestArgvFollowsEntrypointAndCmd(t *testing.T) {
	t.Parallel()
	env := map[string]string{"PORT": "80"}
	image := images.Image{Command: []string{"/entry"}, Args: []string{"serve", "$(PORT)"}}
	cmdOnly := images.Image{Args: []string{"nginx", "-g", "daemon off;"}}
	tests := []struct {
		name          string
		command, args []string
		img           images.Image
		want          []string
	}{
		{name: "the image's entrypoint and cmd", img: image, want: []string{"/entry", "serve", "80"}},
		{name: "args replace the cmd", args: []string{"check"}, img: image, want: []string{"/entry", "check"}},
		{name: "command replaces both", command: []string{"sh"}, img: image, want: []string{"sh"}},
		{name: "command and args", command: []string{"sh"}, args: []string{"-c", "x"}, img: image, want: []string{"sh", "-c", "x"}},
		{name: "a cmd-only image", img: cmdOnly, want: []string{"nginx", "-g", "daemon off;"}},
		{name: "args alone are the command", args: []string{"python3", "-V"}, img: cmdOnly, want: []string{"python3", "-V"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &corev1.Container{Name: "main", Image: "x", Command: tt.command, Args: tt.args}
			got, err := argv(c, tt.img, env)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("argv (-want +got):\n%s", diff)
			}
		})
	}
	_, err := argv(&corev1.Container{Name: "web", Image: "nginx"}, images.Image{Note: "the host has no nginx (Debian package nginx-light)"}, env)
	if !errors.Is(err, ErrNoCommand) || !strings.Contains(err.Error(), "the host has no nginx (Debian package nginx-light)") {
		t.Errorf("argv without a command = %v, want ErrNoCommand with the lookup's note", err)
	}
}
