package instance

import (
	"errors"
	"fmt"
	"syscall"
	"time"

	"github.com/skiff-dev/skiff/internal/datadir"
)

// Stop asks the skiff running on l to shut down (SIGTERM) and waits until it
// has released the data dir. After timeout it is killed. It reports whether
// anything was running.
func Stop(l datadir.Layout, timeout time.Duration, progress func(string)) (bool, error) {
	held, pid, err := datadir.Held(l)
	if err != nil {
		return false, err
	}
	if !held {
		return false, nil
	}
	if pid <= 0 {
		return true, fmt.Errorf("skiff holds %s but its pid is unknown (lock file %s is empty)", l.Root, l.LockFile)
	}
	progress(fmt.Sprintf("stopping skiff (pid %d)", pid))
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
		return true, fmt.Errorf("signalling skiff pid %d: %w", pid, err)
	}
	if waitReleased(l, timeout) {
		return true, nil
	}
	progress(fmt.Sprintf("skiff (pid %d) did not stop within %s; killing it", pid, timeout))
	_ = syscall.Kill(pid, syscall.SIGKILL)
	if waitReleased(l, 10*time.Second) {
		return true, nil
	}
	return true, fmt.Errorf("skiff pid %d still holds %s after SIGKILL", pid, l.Root)
}

func waitReleased(l datadir.Layout, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if held, _, err := datadir.Held(l); err == nil && !held {
			return true
		}
		time.Sleep(50 * time.Millisecond)
	}
	return false
}
