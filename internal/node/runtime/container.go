package runtime

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/skiff-dev/skiff/internal/node/cgroups"
	"github.com/skiff-dev/skiff/internal/node/gpu"
	"github.com/skiff-dev/skiff/internal/node/images"
	"github.com/skiff-dev/skiff/internal/node/sandbox"
)

// defaultPath is what a container gets when its env sets no PATH.
const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// instance is one run of a container: a process group.
type instance struct {
	cmd  *exec.Cmd
	spec *corev1.Container
	// sandboxDir is the sandbox's state dir (with its termination log);
	// empty for a plain process.
	sandboxDir string
	group      *cgroups.Group
	env        []string // its environment and working dir, for exec
	dir        string
	logPath    string
	logs       []*logWriter
	logFile    *os.File
	console    *console
	user       *sandbox.User // who it runs as; nil: as skiff
	started    time.Time
	done       chan struct{}
	code       int
	oomKilled  bool
	once       sync.Once
}

// ErrNoCommand means neither the pod nor an image map says what to run.
var ErrNoCommand = errors.New("no command to run")

// containerEnv resolves the container's environment: its env entries (the
// pod controller has already resolved valueFrom and envFrom), $(VAR)
// references between them, and the defaults a runtime adds.
func containerEnv(pod *corev1.Pod, c *corev1.Container, img images.Image, home string) (map[string]string, []string) {
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
	}
	list := make([]string, 0, len(order))
	for _, k := range order {
		list = append(list, k+"="+env[k])
	}
	return env, list
}

// argv builds the command line. Without an image entrypoint (a process
// node has none), args alone are the command, as when a Docker image has
// only a CMD.
func argv(c *corev1.Container, img images.Image, env map[string]string) ([]string, error) {
	command := c.Command
	if len(command) == 0 {
		command = img.Command // the mapped image's entrypoint
	}
	var out []string
	for _, s := range append(append([]string{}, command...), c.Args...) {
		out = append(out, expand(s, env))
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: container %q (image %q) sets no command or args, and a process node cannot read an image's entrypoint; set command, or map the image in images.yaml", ErrNoCommand, c.Name, c.Image)
	}
	return out, nil
}

// start launches one instance of c, logging to its own file.
func (pr *podRun) start(c *corev1.Container, restarts int) (*instance, error) {
	pod := pr.snapshot()
	img, _ := pr.rt.image(c.Image)
	id, home, err := identity(pod, c)
	if err != nil {
		return nil, err
	}
	env, envList := containerEnv(pod, c, img, home)
	devs, err := pr.allocateGPUs(c)
	if err != nil {
		return nil, err
	}
	if devs != nil {
		envList = withEnv(envList, gpu.Env(devs))
	}
	args, err := argv(c, img, env)
	if err != nil {
		return nil, err
	}
	dir := c.WorkingDir
	if dir == "" {
		dir = img.Dir
	}
	if dir == "" {
		dir = "/"
	}
	logDir := filepath.Join(pr.dir, c.Name)
	if err := os.MkdirAll(logDir, 0o700); err != nil {
		return nil, err
	}
	logPath := filepath.Join(logDir, strconv.Itoa(restarts)+".log")
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, err
	}
	mu := &sync.Mutex{}
	stdout := &logWriter{mu: mu, f: f, stream: "stdout"}
	stderr := &logWriter{mu: mu, f: f, stream: "stderr"}
	base := strings.TrimSuffix(logPath, ".log")
	cmd, report, err := pr.command(pod, c, id, devs, args, envList, dir, base+".sandbox")
	if err != nil {
		f.Close()
		return nil, err
	}
	con := newConsole(c)
	out := con.writer(stdout, false)
	cmd.Stdout, cmd.Stderr = out, con.writer(stderr, true)
	if err := con.prepare(cmd, c, report != nil); err != nil {
		f.Close()
		if report != nil {
			report.Abort()
		}
		return nil, err
	}
	// When the main process exits the container is over: a background child
	// still holding its output must not keep Wait from returning.
	cmd.WaitDelay = 500 * time.Millisecond
	if err := pr.startProcess(cmd); err != nil {
		f.Close()
		con.finish()
		if report != nil {
			report.Abort()
		}
		return nil, fmt.Errorf("starting container %q: %w", c.Name, err)
	}
	// From here on a failure kills what started and releases the rest.
	var group *cgroups.Group
	fail := func(err error) (*instance, error) {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		if report != nil {
			report.Abort()
		}
		_ = cmd.Wait()
		if group != nil {
			_ = group.Destroy()
		}
		con.finish()
		f.Close()
		return nil, err
	}
	if group, err = pr.cgroup(pod, c, cmd.Process.Pid); err != nil {
		return fail(err)
	}
	if report != nil {
		// Running means the command runs, not that the sandbox is still
		// being built.
		report.Started()
		_ = report.Release()
		if err := report.Wait(time.Minute); err != nil {
			return fail(err)
		}
	}
	if err := con.started(report, out); err != nil {
		return fail(fmt.Errorf("container %q: %w", c.Name, err))
	}
	if err := writePIDFile(base+pidSuffix, cmd.Process.Pid); err != nil {
		return fail(fmt.Errorf("recording container %q: %w", c.Name, err))
	}
	inst := &instance{cmd: cmd, logPath: logPath, logs: []*logWriter{stdout, stderr}, logFile: f, done: make(chan struct{}),
		env: envList, dir: dir, group: group, spec: c, console: con, user: id, started: pr.rt.now()}
	if report != nil {
		inst.sandboxDir = base + ".sandbox"
	}
	go inst.reap()
	return inst, nil
}

func (inst *instance) reap() {
	err := inst.cmd.Wait()
	inst.code = exitCode(inst.cmd.ProcessState, err)
	if inst.group != nil {
		inst.oomKilled = inst.group.OOMKilled()
		// Whatever the main process left behind goes with the container.
		_ = inst.group.Destroy()
	}
	inst.console.finish()
	for _, w := range inst.logs {
		_ = w.Close()
	}
	_ = inst.logFile.Close()
	close(inst.done)
}

func exitCode(ps *os.ProcessState, err error) int {
	if ps == nil {
		if err != nil {
			return 128
		}
		return 0
	}
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ps.ExitCode()
}

// wait blocks until the instance's main process exits, then makes sure no
// process of its group lingers.
func (inst *instance) wait() int {
	<-inst.done
	_ = syscall.Kill(-inst.cmd.Process.Pid, syscall.SIGKILL)
	return inst.code
}

// terminate sends SIGTERM to the process group, then SIGKILL after grace.
func (inst *instance) terminate(grace time.Duration) {
	inst.once.Do(func() {
		pgid := -inst.cmd.Process.Pid
		_ = syscall.Kill(pgid, syscall.SIGTERM)
		select {
		case <-inst.done:
		case <-time.After(grace):
		}
		_ = syscall.Kill(pgid, syscall.SIGKILL)
		<-inst.done
	})
}

// command builds the process for one container instance: in a sandbox when
// the runtime has them, else a plain process group on the host.
// The report is nil for a plain process.
func (pr *podRun) command(pod *corev1.Pod, c *corev1.Container, id *sandbox.User, devs []gpu.Device, args, env []string, dir, sandboxDir string) (*exec.Cmd, *sandbox.Report, error) {
	if self := pr.rt.sandboxSelf; self != "" {
		mounts, err := pr.mounts(c)
		if err != nil {
			return nil, nil, err
		}
		mounts = append(mounts, deviceMounts(devs)...)
		// The termination message file is the container's own, mounted
		// over its path, so writing it never touches the host's /dev.
		msgFile := terminationLog(sandboxDir)
		if err := os.WriteFile(msgFile, nil, 0o666); err != nil {
			return nil, nil, err
		}
		target := c.TerminationMessagePath
		if target == "" {
			target = corev1.TerminationMessagePathDefault
		}
		mounts = append(mounts, sandbox.Mount{Source: msgFile, Target: target})
		spec := sandbox.Spec{Lower: "/", StateDir: sandboxDir, Hostname: hostname(pod), Mounts: mounts, Args: args, Env: env, Dir: dir, TTY: c.TTY, User: id,
			Masked: append([]string{pr.rt.root}, pr.rt.masked...)}
		if ns := pr.namespaces(); ns != nil {
			spec.InPod, spec.ShmDir = true, ns.ShmDir()
		}
		spec.ResolvConf = pr.rt.resolvConf(pod)
		if pr.rt.ownNetwork(pod) {
			spec.Hosts = pr.rt.etcHosts(pod, pr.address())
		}
		return sandbox.Command(self, spec)
	}
	if len(c.VolumeMounts) > 0 {
		pr.event(corev1.EventTypeWarning, "VolumesNotMounted", "container %s runs without sandboxes, so its volumes are not mounted at their mount paths", c.Name)
	}
	path, err := sandbox.LookPath(args[0], envValue(env, "PATH"), dir)
	if err != nil {
		return nil, nil, err
	}
	cmd := &exec.Cmd{Path: path, Args: args, Env: env, Dir: dir}
	// Its own process group, so that stopping it reaches the whole tree.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Credential: credential(id)}
	return cmd, nil, nil
}

func (pr *podRun) namespaces() *sandbox.Pod {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	return pr.ns
}

// startProcess starts cmd, inside the pod's namespaces when it has them.
func (pr *podRun) startProcess(cmd *exec.Cmd) error {
	if ns := pr.namespaces(); ns != nil {
		return ns.Start(cmd)
	}
	return cmd.Start()
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

// credential is id for a plain process; nil keeps skiff's.
func credential(id *sandbox.User) *syscall.Credential {
	if id == nil {
		return nil
	}
	return &syscall.Credential{Uid: id.UID, Gid: id.GID, Groups: id.Groups}
}

func envValue(env []string, name string) string {
	for _, e := range env {
		if v, ok := strings.CutPrefix(e, name+"="); ok {
			return v
		}
	}
	return ""
}

// cgroup puts the instance's process in its own cgroup with the
// container's limits, when the runtime manages cgroups.
func (pr *podRun) cgroup(pod *corev1.Pod, c *corev1.Container, pid int) (*cgroups.Group, error) {
	if pr.rt.cgroups == nil {
		return nil, nil
	}
	g, err := pr.rt.cgroups.New(string(pod.UID), c.Name, cgroups.Resources(c.Resources))
	if err != nil {
		return nil, err
	}
	if err := g.Add(pid); err != nil {
		_ = g.Destroy()
		return nil, fmt.Errorf("moving container %s into its cgroup: %w", c.Name, err)
	}
	return g, nil
}

func terminationLog(sandboxDir string) string { return sandboxDir + ".termination-log" }

// maxTerminationMessage is the kubelet's limit for one container.
const maxTerminationMessage = 4096

// terminationMessage reads what the container wrote to its termination
// message path, if it ran in a sandbox.
func (inst *instance) terminationMessage() string {
	if inst.sandboxDir == "" {
		return ""
	}
	f, err := os.Open(terminationLog(inst.sandboxDir))
	if err != nil {
		return ""
	}
	defer f.Close()
	buf := make([]byte, maxTerminationMessage)
	n, _ := io.ReadFull(f, buf)
	return string(buf[:n])
}
