package podruntime

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"

	"github.com/creack/pty"
	corev1 "k8s.io/api/core/v1"

	"github.com/skiff-dev/skiff/internal/node/sandbox"
)

// console is a container instance's stdin and terminal, as `stdin`,
// `stdinOnce` and `tty` ask, and the live output attach sessions follow.
type console struct {
	tty       bool
	stdinOnce bool

	mu sync.Mutex
	// stdin is the pipe's writing end, or the terminal's master; nil
	// without stdin, or once a stdinOnce session has closed it.
	stdin     io.WriteCloser
	master    *os.File // the terminal's master end (tty)
	childEnd  *os.File // the process's end, closed in skiff once it runs
	followers map[chan chunk]struct{}
	// backlog is a stdinOnce container's output until its first session
	// (kubectl run -i attaches only once the pod runs, and a short command
	// may have printed by then): that session sees it first.
	backlog      []chunk
	backlogBytes int
	attached     bool
	// drained is closed once the terminal's output has all been read.
	drained chan struct{}
}

// Bounds of the backlog: what a session that comes late is shown of what
// it missed (the log has all of it).
const (
	backlogMaxBytes  = 64 << 10
	backlogMaxChunks = 512
)

type chunk struct {
	stderr bool
	data   []byte
}

func newConsole(c *corev1.Container) *console {
	return &console{tty: c.TTY, stdinOnce: c.StdinOnce, followers: map[chan chunk]struct{}{}}
}

// prepare sets the process's stdio before it starts. In a sandbox the
// child opens the terminal itself, on the container's own devpts.
func (con *console) prepare(cmd *exec.Cmd, c *corev1.Container, sandboxed bool) error {
	switch {
	case con.tty && sandboxed:
		cmd.Stdin, cmd.Stdout, cmd.Stderr = nil, nil, nil
	case con.tty:
		master, tty, err := pty.Open()
		if err != nil {
			return fmt.Errorf("opening a terminal for container %q: %w", c.Name, err)
		}
		con.master, con.childEnd = master, tty
		cmd.Stdin, cmd.Stdout, cmd.Stderr = tty, tty, tty
		if cmd.SysProcAttr == nil {
			cmd.SysProcAttr = &syscall.SysProcAttr{}
		}
		// A terminal needs a session of its own (a process group too).
		cmd.SysProcAttr.Setpgid = false
		cmd.SysProcAttr.Setsid, cmd.SysProcAttr.Setctty, cmd.SysProcAttr.Ctty = true, true, 0
	case c.Stdin:
		r, w, err := os.Pipe()
		if err != nil {
			return err
		}
		con.stdin, con.childEnd = w, r
		cmd.Stdin = r
	}
	return nil
}

// started drops skiff's copy of the process's end and, for a terminal,
// copies its output to the log and the followers.
func (con *console) started(report *sandbox.Report, out io.Writer) error {
	if con.childEnd != nil {
		con.childEnd.Close()
		con.childEnd = nil
	}
	if !con.tty {
		return nil
	}
	if report != nil {
		master, err := report.Console()
		if err != nil {
			return err
		}
		con.master = master
	}
	con.stdin = con.master
	con.drained = make(chan struct{})
	go func() {
		defer close(con.drained)
		_, _ = io.Copy(out, con.master) // EIO once every holder of the terminal is gone
	}()
	return nil
}

// finish waits briefly for the terminal's last output, then closes it,
// and the process's end if the process never started.
func (con *console) finish() {
	if con.childEnd != nil {
		con.childEnd.Close()
		con.childEnd = nil
	}
	if con.drained != nil {
		select {
		case <-con.drained:
		case <-time.After(time.Second):
		}
	}
	con.mu.Lock()
	defer con.mu.Unlock()
	if con.master != nil {
		con.master.Close() // a terminal's stdin is its master
	} else if con.stdin != nil {
		con.stdin.Close()
	}
	con.stdin = nil
}

// writer returns the instance's output stream that also reaches followers.
func (con *console) writer(log io.Writer, stderr bool) io.Writer {
	return &teeWriter{con: con, log: log, stderr: stderr}
}

type teeWriter struct {
	con    *console
	log    io.Writer
	stderr bool
}

func (t *teeWriter) Write(p []byte) (int, error) {
	t.con.mu.Lock()
	c := chunk{stderr: t.stderr, data: append([]byte(nil), p...)}
	for ch := range t.con.followers {
		// A follower that does not keep up loses output rather than
		// stalling the container.
		select {
		case ch <- c:
		default:
		}
	}
	t.con.keep(c)
	t.con.mu.Unlock()
	return t.log.Write(p)
}

// keep adds c to the backlog of a stdinOnce console no session has
// attached to yet, dropping the oldest beyond the bounds; con.mu is held.
func (con *console) keep(c chunk) {
	if !con.stdinOnce || con.attached {
		return
	}
	con.backlog = append(con.backlog, c)
	con.backlogBytes += len(c.data)
	for len(con.backlog) > 1 && (con.backlogBytes > backlogMaxBytes || len(con.backlog) > backlogMaxChunks) {
		con.backlogBytes -= len(con.backlog[0].data)
		con.backlog = con.backlog[1:]
	}
}

// follow is a channel of the console's output from now on; the first
// session of a stdinOnce console gets the backlog first.
func (con *console) follow() chan chunk {
	ch := make(chan chunk, 1024)
	con.mu.Lock()
	if con.stdinOnce && !con.attached {
		for _, c := range con.backlog {
			ch <- c // fits: the backlog has at most backlogMaxChunks
		}
		con.attached, con.backlog, con.backlogBytes = true, nil, 0
	}
	con.followers[ch] = struct{}{}
	con.mu.Unlock()
	return ch
}

func (con *console) unfollow(ch chan chunk) {
	con.mu.Lock()
	delete(con.followers, ch)
	con.mu.Unlock()
}

// feed copies a session's input to the container. With stdinOnce the
// container's stdin ends with the first session's: the pipe closes, and a
// terminal gets an end-of-file (^D).
func (con *console) feed(in io.Reader) {
	con.mu.Lock()
	w := con.stdin
	con.mu.Unlock()
	if w == nil {
		return
	}
	// It ends with the session's input or the container's stdin; either
	// way, what is left to do is the same.
	_, _ = io.Copy(w, in)
	if !con.stdinOnce {
		return
	}
	con.mu.Lock()
	defer con.mu.Unlock()
	if con.stdin == nil {
		return
	}
	if con.tty {
		// Fails only once the container is gone: no one left to tell.
		_, _ = con.stdin.Write([]byte{4})
	} else {
		con.stdin.Close()
	}
	con.stdin = nil
}

func (con *console) resize(sizes <-chan [2]uint16) {
	for size := range sizes {
		con.mu.Lock()
		if con.master != nil {
			// A size the terminal refuses leaves the old one: the
			// session still works.
			_ = pty.Setsize(con.master, &pty.Winsize{Cols: size[0], Rows: size[1]})
		}
		con.mu.Unlock()
	}
}

// Attach connects a session to a running container's stdin and live
// output, as `kubectl attach` and `kubectl run -ti` do; it returns when
// the container ends or the session does.
func (r *Runtime) Attach(ctx context.Context, namespace, pod, container string, stdio ExecIO) error {
	pr, err := r.running(namespace, pod, container)
	if err != nil {
		return err
	}
	pr.mu.Lock()
	inst := pr.instances[container]
	pr.mu.Unlock()
	if inst == nil {
		return fmt.Errorf("container %q in pod %s/%s is not running", container, namespace, pod)
	}
	con := inst.console
	out := con.follow()
	defer con.unfollow(out)
	if stdio.Stdin != nil {
		go con.feed(stdio.Stdin)
	}
	if stdio.Resize != nil {
		go con.resize(stdio.Resize)
	}
	write := func(c chunk) {
		w := stdio.Stdout
		if c.stderr && stdio.Stderr != nil {
			w = stdio.Stderr
		}
		if w != nil {
			// A session that went away ends with its context; the
			// container's output is in its log either way.
			_, _ = w.Write(c.data)
		}
	}
	for {
		select {
		case c := <-out:
			write(c)
		case <-inst.done:
			for {
				select {
				case c := <-out:
					write(c)
				default:
					return nil
				}
			}
		case <-ctx.Done():
			return nil
		}
	}
}
