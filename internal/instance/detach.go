package instance

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/skiff-dev/skiff/internal/datadir"
	"github.com/skiff-dev/skiff/internal/progress"
)

// EnvNotifyFD tells a detached child which file descriptor reports its
// start-up to the parent.
const EnvNotifyFD = "SKIFF_NOTIFY_FD"

// Notifier is the child's side of the start-up report. A nil Notifier (in
// the foreground) does nothing.
type Notifier struct{ w io.WriteCloser }

// NotifierFromEnv opens the report channel a detaching parent passed down.
func NotifierFromEnv() *Notifier {
	if os.Getenv(EnvNotifyFD) == "" {
		return nil
	}
	os.Unsetenv(EnvNotifyFD)
	return &Notifier{w: os.NewFile(3, "notify")}
}

func (n *Notifier) send(kind, msg string) {
	if n == nil || n.w == nil {
		return
	}
	_, _ = fmt.Fprintf(n.w, "%s %s\n", kind, strings.ReplaceAll(msg, "\n", " "))
}

// Report forwards one progress line; it is a progress.Sink.
func (n *Notifier) Report(level progress.Level, msg string) {
	if level == progress.Warning {
		n.send("warning", msg)
		return
	}
	n.send("progress", msg)
}

// Ready reports success and closes the channel.
func (n *Notifier) Ready() {
	n.send("ready", "")
	n.Close()
}

// Failed reports a start-up error and closes the channel.
func (n *Notifier) Failed(err error) {
	n.send("error", err.Error())
	n.Close()
}

// Close ends the report; the parent then stops waiting.
func (n *Notifier) Close() {
	if n != nil && n.w != nil {
		n.w.Close()
		n.w = nil
	}
}

// StartDetached runs `exe args...` as a background skiff in its own session,
// its output appended to the data dir's log, and waits until it reports the
// cluster ready (its progress lines go to report) or fails.
func StartDetached(l datadir.Layout, exe string, args []string, report *progress.Reporter, timeout time.Duration) (State, error) {
	if held, pid, err := datadir.Held(l); err != nil {
		return State{}, err
	} else if held {
		return State{}, fmt.Errorf("%w: skiff (pid %d) is already running on %s; stop it with 'skiff down --data-dir %s'", datadir.ErrLocked, pid, l.Root, l.Root)
	}
	logf, err := os.OpenFile(l.LogFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return State{}, fmt.Errorf("opening %s: %w", l.LogFile, err)
	}
	defer logf.Close()
	r, w, err := os.Pipe()
	if err != nil {
		return State{}, err
	}
	defer r.Close()
	cmd := exec.Command(exe, args...)
	cmd.Stdin = nil
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.ExtraFiles = []*os.File{w}
	cmd.Env = append(os.Environ(), EnvNotifyFD+"=3")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		w.Close()
		return State{}, fmt.Errorf("starting skiff in the background: %w", err)
	}
	w.Close()
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()

	result := make(chan error, 1)
	go func() { result <- readReport(r, report) }()
	select {
	case err := <-result:
		if err != nil {
			<-exitedOrTimeout(exited, 5*time.Second)
			if errors.Is(err, errSilentExit) {
				return State{}, fmt.Errorf("%w; see %s", err, l.LogFile)
			}
			return State{}, err
		}
	case <-time.After(timeout):
		_ = cmd.Process.Signal(syscall.SIGTERM)
		return State{}, fmt.Errorf("skiff did not become ready within %s and was stopped; see %s", timeout, l.LogFile)
	}
	st, ok, err := ReadState(l)
	if err != nil {
		return State{}, err
	}
	if !ok {
		return State{}, fmt.Errorf("skiff reported ready but wrote no state file %s", l.StateFile)
	}
	return st, nil
}

func exitedOrTimeout(exited chan struct{}, d time.Duration) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		select {
		case <-exited:
		case <-time.After(d):
		}
		close(done)
	}()
	return done
}

// readReport relays progress until the child says ready (nil) or fails.
func readReport(r io.Reader, report *progress.Reporter) error {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		kind, msg, _ := strings.Cut(sc.Text(), " ")
		switch kind {
		case "progress":
			report.Info("%s", msg)
		case "warning":
			report.Warn("%s", msg)
		case "ready":
			return nil
		case "error":
			return errors.New(msg)
		}
	}
	return errSilentExit
}

var errSilentExit = errors.New("skiff exited during start-up without saying why")
