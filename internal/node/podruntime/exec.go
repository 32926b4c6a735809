package podruntime

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"

	"github.com/skiff-dev/skiff/internal/node/sandbox"
)

// ExecIO is the caller's side of `kubectl exec`.
type ExecIO struct {
	Stdin  io.Reader // nil: no stdin
	Stdout io.Writer
	Stderr io.Writer
	TTY    bool
	// Resize delivers terminal sizes (columns, rows) while a TTY is open.
	Resize <-chan [2]uint16
}

// ExitError carries the exit code of an exec'd command.
type ExitError struct{ Code int }

func (e *ExitError) Error() string {
	return fmt.Sprintf("command terminated with exit code %d", e.Code)
}

// CheckRunning says why a container cannot take an exec or attach
// session, if it cannot: asked before the session's stream is upgraded, so
// the answer can be an HTTP status with the reason, as the kubelet's is.
// A pod that is not on this node is ErrNoSuchPod.
func (r *Runtime) CheckRunning(namespace, pod, container string) error {
	_, err := r.running(namespace, pod, container)
	return err
}

// running finds a running container: a regular one, or an init container
// while it runs (a sidecar).
func (r *Runtime) running(namespace, pod, container string) (*podRun, error) {
	pr := r.lookup(namespace, pod)
	if pr == nil {
		return nil, fmt.Errorf("pod %s/%s is %w", namespace, pod, ErrNoSuchPod)
	}
	p := pr.snapshot()
	var cs *corev1.ContainerStatus
	for _, list := range [][]corev1.ContainerStatus{p.Status.ContainerStatuses, p.Status.InitContainerStatuses} {
		if s := find(list, container); s != nil {
			cs = s
		}
	}
	switch {
	case cs == nil:
		return nil, fmt.Errorf("container %q not found in pod %s/%s", container, namespace, pod)
	case cs.State.Terminated != nil:
		t := cs.State.Terminated
		return nil, fmt.Errorf("container %q in pod %s/%s is not running: it ended (%s, exit code %d); kubectl logs %s -c %s shows its output", container, namespace, pod, t.Reason, t.ExitCode, pod, container)
	case cs.State.Waiting != nil:
		return nil, fmt.Errorf("container %q in pod %s/%s is not running: %s", container, namespace, pod, cs.State.Waiting.Reason)
	case cs.State.Running == nil:
		return nil, fmt.Errorf("container %q in pod %s/%s is not running", container, namespace, pod)
	}
	return pr, nil
}

// Exec runs cmd in the container's environment (its env, working dir and,
// once sandboxes exist, its namespaces) and returns an *ExitError for a
// non-zero exit.
func (r *Runtime) Exec(ctx context.Context, namespace, pod, container string, cmd []string, stdio ExecIO) error {
	pr, err := r.running(namespace, pod, container)
	if err != nil {
		return err
	}
	if len(cmd) == 0 {
		return errors.New("no command given")
	}
	pr.mu.Lock()
	inst := pr.instances[container]
	pr.mu.Unlock()
	if inst == nil {
		return fmt.Errorf("container %q in pod %s/%s is not running", container, namespace, pod)
	}
	var proc *exec.Cmd
	if inst.sandboxDir != "" {
		var err error
		if proc, err = sandbox.EnterCommand(r.sandboxSelf, inst.cmd.Process.Pid, cmd, inst.env, inst.user, inst.privileges); err != nil {
			return err
		}
		defer sandbox.CloseFiles(proc)
	} else {
		path, err := sandbox.LookPath(cmd[0], envValue(inst.env, "PATH"), inst.dir)
		if err != nil {
			return err
		}
		proc = exec.Command(path, cmd[1:]...)
		proc.Args[0] = cmd[0]
		proc.Env, proc.Dir = inst.env, inst.dir
	}
	proc.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if inst.sandboxDir == "" {
		proc.SysProcAttr.Credential = credential(inst.user)
	}
	if stdio.TTY {
		sandboxPID := 0
		if inst.sandboxDir != "" {
			sandboxPID = inst.cmd.Process.Pid
		}
		return runTTY(ctx, proc, stdio, sandboxPID)
	}
	proc.Stdin, proc.Stdout, proc.Stderr = stdio.Stdin, stdio.Stdout, stdio.Stderr
	if err := proc.Start(); err != nil {
		return err
	}
	defer killOnCancel(ctx, proc.Process.Pid)()
	return exitErr(proc.Wait())
}

// killOnCancel kills the process group pgid when ctx ends (an exec probe's
// timeout, a closed exec session); the returned func stops watching.
func killOnCancel(ctx context.Context, pgid int) func() bool {
	// ESRCH only: the group has ended already.
	return context.AfterFunc(ctx, func() { _ = syscall.Kill(-pgid, syscall.SIGKILL) })
}

// runTTY runs proc on a terminal. For a sandboxed container (sandboxPID >
// 0) the terminal comes from the container's own devpts, so that inside it
// the terminal has a name (tty, ttyname) as in any container.
func runTTY(ctx context.Context, proc *exec.Cmd, stdio ExecIO, sandboxPID int) error {
	proc.Env = append(proc.Env, "TERM=xterm")
	ptmx, tty, err := openPTY(sandboxPID)
	if err != nil {
		return fmt.Errorf("opening a terminal: %w", err)
	}
	// Resizes may arrive until the session ends; the lock keeps them off a
	// closed terminal.
	var mu sync.Mutex
	defer func() {
		mu.Lock()
		ptmx.Close()
		ptmx = nil
		mu.Unlock()
	}()
	master := ptmx
	proc.Stdin, proc.Stdout, proc.Stderr = tty, tty, tty
	proc.SysProcAttr.Setpgid = false
	proc.SysProcAttr.Setsid, proc.SysProcAttr.Setctty, proc.SysProcAttr.Ctty = true, true, 0
	err = proc.Start()
	tty.Close()
	if err != nil {
		return fmt.Errorf("starting %s with a terminal: %w", proc.Args[0], err)
	}
	defer killOnCancel(ctx, proc.Process.Pid)()
	go func() {
		for size := range stdio.Resize {
			mu.Lock()
			if ptmx != nil {
				// A size the terminal refuses leaves the old one.
				_ = pty.Setsize(ptmx, &pty.Winsize{Cols: size[0], Rows: size[1]})
			}
			mu.Unlock()
		}
	}()
	if stdio.Stdin != nil {
		// Ends with the session's input or the terminal; the process's
		// exit is what the session reports.
		go func() { _, _ = io.Copy(master, stdio.Stdin) }()
	}
	_, _ = io.Copy(stdio.Stdout, master) // ends with EIO once the process exits
	return exitErr(proc.Wait())
}

// openPTY opens a terminal pair: the host's, or the one of the devpts
// instance mounted in the sandbox whose first process is pid.
func openPTY(pid int) (*os.File, *os.File, error) {
	if pid <= 0 {
		return pty.Open()
	}
	root := fmt.Sprintf("/proc/%d/root/dev/pts/", pid)
	ptmx, err := os.OpenFile(root+"ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		return nil, nil, err
	}
	n, err := unix.IoctlGetInt(int(ptmx.Fd()), unix.TIOCGPTN)
	if err == nil {
		err = unix.IoctlSetPointerInt(int(ptmx.Fd()), unix.TIOCSPTLCK, 0)
	}
	if err != nil {
		ptmx.Close()
		return nil, nil, err
	}
	tty, err := os.OpenFile(root+strconv.Itoa(n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		ptmx.Close()
		return nil, nil, err
	}
	return ptmx, tty, nil
}

func exitErr(err error) error {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return &ExitError{Code: ee.ExitCode()}
	}
	return err
}
