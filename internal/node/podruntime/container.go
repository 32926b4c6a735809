package podruntime

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"

	"github.com/skiff-dev/skiff/internal/node/cgroups"
	"github.com/skiff-dev/skiff/internal/node/sandbox"
)

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
	// privileges bound what it holds (and what kubectl exec gets there);
	// nil: all of root's.
	privileges *sandbox.Privileges
	log        logr.Logger // the pod's, with the container's name
	started    time.Time
	done       chan struct{}
	code       int
	oomKilled  bool
	once       sync.Once
}

// start launches one instance of c, logging to its own file.
func (pr *podRun) start(c *corev1.Container, restarts int) (*instance, error) {
	cc, err := pr.resolve(c, restarts)
	if err != nil {
		return nil, err
	}
	if cc.sandbox == nil && len(c.VolumeMounts) > 0 {
		pr.event(corev1.EventTypeWarning, "VolumesNotMounted", "container %s runs without sandboxes, so its volumes are not mounted at their mount paths", c.Name)
	}
	return pr.launch(c, cc)
}

// launching is what launch has set up so far, for abort to undo.
type launching struct {
	logFile        *os.File
	stdout, stderr *logWriter
	cmd            *exec.Cmd
	report         *sandbox.Report // nil: a plain process
	con            *console
	started        bool // cmd runs
	group          *cgroups.Group
}

// launch starts the process that cc describes, with its log, console and
// cgroup; on any failure abort undoes what it had set up.
func (pr *podRun) launch(c *corev1.Container, cc *containerConfig) (_ *instance, err error) {
	l := &launching{}
	defer func() {
		if err != nil {
			l.abort(pr.log)
		}
	}()
	if err := l.openLog(cc.logPath()); err != nil {
		return nil, err
	}
	if err := l.command(pr.rt.sandboxSelf, cc); err != nil {
		return nil, fmt.Errorf("container %q: %w", c.Name, err)
	}
	l.con = newConsole(c)
	out := l.con.writer(l.stdout, false)
	l.cmd.Stdout, l.cmd.Stderr = out, l.con.writer(l.stderr, true)
	if err := l.con.prepare(l.cmd, c, l.report != nil); err != nil {
		return nil, err
	}
	// When the main process exits the container is over: a background child
	// still holding its output must not keep Wait from returning.
	l.cmd.WaitDelay = 500 * time.Millisecond
	if err := pr.startProcess(l.cmd); err != nil {
		return nil, fmt.Errorf("starting container %q: %w", c.Name, err)
	}
	l.started = true
	if l.group, err = pr.cgroup(c, l.cmd.Process.Pid); err != nil {
		return nil, err
	}
	if err := l.sandboxRuns(); err != nil {
		return nil, err
	}
	if err := l.con.started(l.report, out); err != nil {
		return nil, fmt.Errorf("container %q: %w", c.Name, err)
	}
	if err := writePIDFile(cc.base+pidSuffix, l.cmd.Process.Pid); err != nil {
		return nil, fmt.Errorf("recording container %q: %w", c.Name, err)
	}
	inst := &instance{cmd: l.cmd, logPath: cc.logPath(), logs: []*logWriter{l.stdout, l.stderr}, logFile: l.logFile,
		done: make(chan struct{}), env: cc.env, dir: cc.dir, group: l.group, spec: c, console: l.con, user: cc.user,
		started: pr.rt.now(), log: pr.log.WithValues("container", c.Name)}
	if cc.sandbox != nil {
		inst.sandboxDir, inst.privileges = cc.sandbox.StateDir, cc.sandbox.Privileges
	}
	go inst.reap()
	return inst, nil
}

// openLog creates the instance's log file; stdout and stderr share it.
func (l *launching) openLog(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("container log directory: %w", err)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("container log: %w", err)
	}
	mu := &sync.Mutex{}
	l.logFile = f
	l.stdout = &logWriter{mu: mu, f: f, stream: "stdout"}
	l.stderr = &logWriter{mu: mu, f: f, stream: "stderr"}
	return nil
}

// command builds the process: the sandbox child for cc.sandbox, else cc's
// executable in a process group of its own, so that stopping it reaches
// the whole tree.
func (l *launching) command(self string, cc *containerConfig) error {
	if cc.sandbox == nil {
		l.cmd = &exec.Cmd{Path: cc.path, Args: cc.args, Env: cc.env, Dir: cc.dir,
			SysProcAttr: &syscall.SysProcAttr{Setpgid: true, Credential: credential(cc.user)}}
		return nil
	}
	// Mounted over the container's termination message path (sandboxSpec).
	if err := os.WriteFile(terminationLog(cc.sandbox.StateDir), nil, 0o666); err != nil {
		return fmt.Errorf("termination message file: %w", err)
	}
	cmd, report, err := sandbox.Command(self, *cc.sandbox)
	if err != nil {
		return err
	}
	l.cmd, l.report = cmd, report
	return nil
}

// sandboxRuns lets a sandbox's child go on once the process is in its
// cgroup, and waits until it runs the command: Running means the command
// runs, not that the sandbox is still being built.
func (l *launching) sandboxRuns() error {
	if l.report == nil {
		return nil
	}
	l.report.Started()
	// A child that cannot be released has died: Wait says why.
	_ = l.report.Release()
	return l.report.Wait(time.Minute)
}

// abort undoes a launch that failed part way, the process first, so that
// nothing it started outlives the failed start.
func (l *launching) abort(log logr.Logger) {
	if l.started {
		// ESRCH only: the group is gone already.
		_ = syscall.Kill(-l.cmd.Process.Pid, syscall.SIGKILL)
	}
	if l.report != nil {
		l.report.Abort()
	}
	if l.started {
		// Killed: its exit status says nothing.
		_ = l.cmd.Wait()
	}
	if l.group != nil {
		if err := l.group.Destroy(); err != nil {
			log.Error(err, "Removing the cgroup of a container that failed to start")
		}
	}
	if l.con != nil {
		l.con.finish()
	}
	if l.logFile != nil {
		closeLog(log, l.logFile, l.stdout, l.stderr)
	}
}

// closeLog writes out the writers' unfinished lines and closes the file.
// An error is logged: kubectl logs lacks the instance's last output.
func closeLog(log logr.Logger, f *os.File, writers ...*logWriter) {
	for _, w := range writers {
		if err := w.Close(); err != nil {
			log.Error(err, "Writing a container's last log line", "file", f.Name())
		}
	}
	if err := f.Close(); err != nil {
		log.Error(err, "Closing a container's log", "file", f.Name())
	}
}

func (inst *instance) reap() {
	err := inst.cmd.Wait()
	inst.code = exitCode(inst.cmd.ProcessState, err)
	if inst.group != nil {
		inst.oomKilled = inst.group.OOMKilled()
		// Whatever the main process left behind goes with the container.
		if err := inst.group.Destroy(); err != nil {
			inst.log.Error(err, "Removing the cgroup of a container that ended")
		}
	}
	inst.console.finish()
	closeLog(inst.log, inst.logFile, inst.logs...)
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
	// ESRCH, the usual answer, means nothing lingers.
	_ = syscall.Kill(-inst.cmd.Process.Pid, syscall.SIGKILL)
	return inst.code
}

// terminate sends SIGTERM to the process group, then SIGKILL after grace.
func (inst *instance) terminate(grace time.Duration) {
	inst.once.Do(func() {
		// Either kill fails only with ESRCH: the group has ended.
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

// credential is id for a plain process; nil keeps skiff's.
func credential(id *sandbox.User) *syscall.Credential {
	if id == nil {
		return nil
	}
	return &syscall.Credential{Uid: id.UID, Gid: id.GID, Groups: id.Groups}
}

// cgroup puts the instance's process in its own cgroup with the
// container's limits, when the runtime manages cgroups.
func (pr *podRun) cgroup(c *corev1.Container, pid int) (*cgroups.Group, error) {
	if pr.rt.cgroups == nil {
		return nil, nil
	}
	g, err := pr.rt.cgroups.New(string(pr.uid), c.Name, cgroups.Resources(c.Resources))
	if err != nil {
		return nil, err
	}
	if err := g.Add(pid); err != nil {
		// The empty cgroup would stay until the pod goes (RemovePod).
		if derr := g.Destroy(); derr != nil {
			pr.log.Error(derr, "Removing the cgroup of a container that failed to start", "container", c.Name)
		}
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
