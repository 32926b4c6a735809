package podruntime

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"

	"github.com/skiff-dev/skiff/internal/node/gpu"
	"github.com/skiff-dev/skiff/internal/node/images"
	"github.com/skiff-dev/skiff/internal/node/sandbox"
)

// defaultPath is what a container gets when its env sets no PATH.
const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// containerConfig is everything one instance of a container runs with,
// resolved from the pod, the container, its image and the node before
// anything starts, as the kubelet's generateContainerConfig does: a spec
// that cannot run fails here, where there is nothing to clean up, and
// what a container gets is testable without starting it.
type containerConfig struct {
	args []string
	env  []string // NAME=value, in the order the process sees them
	dir  string
	user *sandbox.User // nil: as skiff itself
	// gpus are the container's GPUs: nil off a GPU node, empty for a
	// container that asks for none on one (see allocateGPUs).
	gpus []gpu.Device
	// base names the instance's files: base+".log", base+pidSuffix, and
	// base+".sandbox" (the sandbox's state dir).
	base string
	// path is a plain process's executable; a sandbox's child looks the
	// command up itself, inside its root.
	path string
	// sandbox is the instance's sandbox; nil for a plain process.
	sandbox *sandbox.Spec
}

func (cc *containerConfig) logPath() string { return cc.base + ".log" }

// resolve works out what c's instance number restarts runs with. It
// starts nothing, but it does take c's GPUs from the node (they go back
// when the pod goes), so that a restarted container keeps its devices.
func (pr *podRun) resolve(c *corev1.Container, restarts int) (*containerConfig, error) {
	pod := pr.snapshot()
	img, _ := pr.rt.image(c.Image)
	user, home, err := identity(pod, c)
	if err != nil {
		return nil, err
	}
	vars, env := containerEnv(pod, c, img, home, pr.statusField)
	gpus, err := pr.allocateGPUs(c)
	if err != nil {
		return nil, err
	}
	if gpus != nil {
		env = withEnv(env, gpu.Env(gpus))
	}
	args, err := argv(c, img, vars)
	if err != nil {
		return nil, err
	}
	cc := &containerConfig{args: args, env: env, dir: workingDir(c, img), user: user, gpus: gpus,
		base: filepath.Join(pr.dir, c.Name, strconv.Itoa(restarts))}
	if pr.rt.sandboxSelf == "" {
		if cc.path, err = sandbox.LookPath(args[0], envValue(env, "PATH"), cc.dir); err != nil {
			return nil, err
		}
		return cc, nil
	}
	if cc.sandbox, err = pr.sandboxSpec(pod, c, cc); err != nil {
		return nil, err
	}
	cc.sandbox.Expose = imagePaths(c, img)
	return cc, nil
}

// workingDir is the container's, else its mapped image's, else /.
func workingDir(c *corev1.Container, img images.Image) string {
	return cmp.Or(c.WorkingDir, img.Dir, "/")
}

// sandboxSpec is the sandbox that cc runs in: the host's root with the
// container's volumes and devices, in the pod's namespaces when it has
// them.
func (pr *podRun) sandboxSpec(pod *corev1.Pod, c *corev1.Container, cc *containerConfig) (*sandbox.Spec, error) {
	mounts, err := pr.mounts(pod, c)
	if err != nil {
		return nil, err
	}
	mounts = append(mounts, deviceMounts(cc.gpus)...)
	priv, err := privileges(c)
	if err != nil {
		return nil, err
	}
	stateDir := cc.base + ".sandbox"
	// The termination message file is the container's own, mounted over
	// its path, so writing it never touches the host's /dev.
	mounts = append(mounts, sandbox.Mount{Source: terminationLog(stateDir),
		Target: cmp.Or(c.TerminationMessagePath, corev1.TerminationMessagePathDefault)})
	spec := &sandbox.Spec{Lower: "/", StateDir: stateDir, Hostname: hostname(pod), Mounts: mounts,
		Args: cc.args, Env: cc.env, Dir: cc.dir, TTY: c.TTY, User: cc.user, Privileges: priv,
		Masked: append([]string{pr.rt.root}, pr.rt.masked...), ResolvConf: pr.rt.resolvConf(pod),
		ReadOnlyRoot: c.SecurityContext != nil && ptr.Deref(c.SecurityContext.ReadOnlyRootFilesystem, false)}
	if ns := pr.namespaces(); ns != nil {
		spec.InPod, spec.ShmDir = true, ns.ShmDir()
	}
	if pr.rt.ownNetwork(pod) {
		spec.Hosts = pr.rt.etcHosts(pod, pr.address())
	}
	return spec, nil
}

// imagePaths are the host paths a mapped image is made of, which the pod
// sees although its view of the host leaves them out: the image's folder,
// and its program when given by path (and the container does not name a
// command of its own).
func imagePaths(c *corev1.Container, img images.Image) []string {
	var out []string
	if img.Dir != "" {
		out = append(out, img.Dir)
	}
	if len(c.Command) == 0 && len(img.Command) > 0 && filepath.IsAbs(img.Command[0]) {
		out = append(out, img.Command[0])
	}
	if len(c.Command) == 0 && len(c.Args) == 0 && len(img.Command) == 0 && len(img.Args) > 0 && filepath.IsAbs(img.Args[0]) {
		out = append(out, img.Args[0])
	}
	return out
}

// statusField is the value of a downward API fieldRef that only the node
// knows: the pod's and the node's addresses (one of each: skiff's
// network is IPv4 only).
func (pr *podRun) statusField(path string) string {
	switch path {
	case "status.podIP", "status.podIPs":
		return pr.address()
	case "status.hostIP", "status.hostIPs":
		return pr.rt.hostIP
	}
	return ""
}

// ErrNoCommand means neither the pod nor an image map says what to run.
var ErrNoCommand = errors.New("no command to run")

// containerEnv resolves the container's environment: its env entries (the
// pod controller has already resolved valueFrom and envFrom, but for the
// fieldRefs to status, which status reads), $(VAR) references between
// them, and the defaults a runtime adds.
func containerEnv(pod *corev1.Pod, c *corev1.Container, img images.Image, home string, status func(path string) string) (map[string]string, []string) {
	env := map[string]string{"PATH": defaultPath, "HOSTNAME": pod.Name, "HOME": home}
	order := []string{"PATH", "HOSTNAME", "HOME"}
	// The image map's env comes first, as an image's ENV would.
	for _, k := range slices.Sorted(maps.Keys(img.Env)) {
		if _, seen := env[k]; !seen {
			order = append(order, k)
		}
		env[k] = img.Env[k]
	}
	for _, e := range c.Env {
		if _, seen := env[e.Name]; !seen {
			order = append(order, e.Name)
		}
		env[e.Name] = expand(e.Value, env)
		if e.ValueFrom != nil && e.ValueFrom.FieldRef != nil {
			env[e.Name] = status(e.ValueFrom.FieldRef.FieldPath)
		}
	}
	list := make([]string, 0, len(order))
	for _, k := range order {
		list = append(list, k+"="+env[k])
	}
	return env, list
}

// argv builds the command line as a container runtime does from the
// image's ENTRYPOINT (the map's command) and CMD (its args): the
// container's command replaces both, its args replace the CMD. Without an
// entrypoint, args alone are the command, as when a Docker image has only
// a CMD.
func argv(c *corev1.Container, img images.Image, env map[string]string) ([]string, error) {
	command, args := c.Command, c.Args
	if len(command) == 0 {
		command = img.Command
		if len(args) == 0 {
			args = img.Args
		}
	}
	var out []string
	for _, s := range append(append([]string{}, command...), args...) {
		out = append(out, expand(s, env))
	}
	if len(out) == 0 {
		msg := fmt.Sprintf("container %q (image %q) sets no command or args, and a process node cannot read an image's entrypoint; set command, or map the image in a file of images.d/ in skiff's data dir", c.Name, c.Image)
		if img.Note != "" {
			msg += " (" + img.Note + ")"
		}
		return nil, fmt.Errorf("%w: %s", ErrNoCommand, msg)
	}
	return out, nil
}

// allocateGPUs gives c the GPUs it asks for. On a GPU node, a container
// asking for none gets an empty list, so that its env hides the GPUs;
// elsewhere the list is nil.
func (pr *podRun) allocateGPUs(c *corev1.Container) ([]gpu.Device, error) {
	if pr.rt.gpus == nil || pr.rt.gpus.Count() == 0 {
		if gpu.Requested(c) > 0 {
			return nil, fmt.Errorf("container %q asks for %s, and this node has none", c.Name, gpu.Resource)
		}
		return nil, nil
	}
	devs, err := pr.rt.gpus.Allocate(string(pr.uid)+"/"+c.Name, gpu.Requested(c))
	if err != nil {
		return nil, fmt.Errorf("container %q: %w", c.Name, err)
	}
	if devs == nil {
		devs = []gpu.Device{}
	}
	return devs, nil
}

// deviceMounts binds the GPUs' device nodes, and the driver's control
// nodes, into a sandbox's private /dev.
func deviceMounts(devs []gpu.Device) []sandbox.Mount {
	if len(devs) == 0 {
		return nil
	}
	var out []sandbox.Mount
	for _, path := range gpu.ControlDevices {
		if _, err := os.Stat(path); err == nil {
			out = append(out, sandbox.Mount{Source: path, Target: path})
		}
	}
	for _, d := range devs {
		out = append(out, sandbox.Mount{Source: d.Path(), Target: d.Path()})
	}
	return out
}

// withEnv sets the variables in set, replacing entries of env with the
// same names (libc's getenv reads the first).
func withEnv(env, set []string) []string {
	names := map[string]bool{}
	for _, kv := range set {
		name, _, _ := strings.Cut(kv, "=")
		names[name] = true
	}
	out := make([]string, 0, len(env)+len(set))
	for _, kv := range env {
		if name, _, _ := strings.Cut(kv, "="); !names[name] {
			out = append(out, kv)
		}
	}
	return append(out, set...)
}

func envValue(env []string, name string) string {
	for _, e := range env {
		if v, ok := strings.CutPrefix(e, name+"="); ok {
			return v
		}
	}
	return ""
}
