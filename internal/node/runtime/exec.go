package runtime

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"syscall"

	"github.com/creack/pty"
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

// Exec runs cmd in the container's environment (its env, working dir and,
// once sandboxes exist, its namespaces) and returns an *ExitError for a
// non-zero exit.
func (r *Runtime) Exec(ctx context.Context, namespace, pod, container string, cmd []string, stdio ExecIO) error {
	pr := r.lookup(namespace, pod)
	if pr == nil {
		return fmt.Errorf("pod %s/%s is not running on this node", namespace, pod)
	}
	p := pr.snapshot()
	var c *corev1.Container
	for i := range p.Spec.Containers {
		if p.Spec.Containers[i].Name == container {
			c = &p.Spec.Containers[i]
		}
	}
	if c == nil {
		return fmt.Errorf("container %q not found in pod %s/%s", container, namespace, pod)
	}
	if cs := find(p.Status.ContainerStatuses, container); cs == nil || cs.State.Running == nil {
		return fmt.Errorf("container %q in pod %s/%s is not running", container, namespace, pod)
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
	if inst.sandboxed {
		proc = sandbox.EnterCommand(inst.cmd.Process.Pid, cmd, inst.env)
	} else {
		path, err := sandbox.LookPath(cmd[0], envValue(inst.env, "PATH"), inst.dir)
		if err != nil {
			return err
		}
		proc = exec.Command(path, cmd[1:]...)
		proc.Args[0] = cmd[0]
		proc.Env, proc.Dir = inst.env, inst.dir
	}
	stop := context.AfterFunc(ctx, func() {
		if proc.Process != nil {
			_ = syscall.Kill(-proc.Process.Pid, syscall.SIGKILL)
		}
	})
	defer stop()
	if stdio.TTY {
		return runTTY(proc, stdio)
	}
	proc.Stdin, proc.Stdout, proc.Stderr = stdio.Stdin, stdio.Stdout, stdio.Stderr
	proc.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	return exitErr(proc.Run())
}

func runTTY(proc *exec.Cmd, stdio ExecIO) error {
	proc.Env = append(proc.Env, "TERM=xterm")
	f, err := pty.Start(proc)
	if err != nil {
		return fmt.Errorf("starting %s with a terminal: %w", proc.Args[0], err)
	}
	defer f.Close()
	go func() {
		for size := range stdio.Resize {
			_ = pty.Setsize(f, &pty.Winsize{Cols: size[0], Rows: size[1]})
		}
	}()
	if stdio.Stdin != nil {
		go func() { _, _ = io.Copy(f, stdio.Stdin) }()
	}
	_, _ = io.Copy(stdio.Stdout, f) // ends with EIO once the process exits
	return exitErr(proc.Wait())
}

func exitErr(err error) error {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return &ExitError{Code: ee.ExitCode()}
	}
	return err
}
