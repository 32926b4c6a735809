package datadir

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// ErrLocked means another skiff process holds the data directory.
var ErrLocked = errors.New("data dir is in use")

// Lock is an exclusive advisory lock on a data directory. The kernel drops
// it when the process dies, so a crash or kill -9 never leaves it stale.
type Lock struct{ f *os.File }

// Acquire takes the lock without waiting. When another process holds it the
// error wraps ErrLocked and names that process.
func Acquire(l Layout) (*Lock, error) {
	if err := os.MkdirAll(l.RunDir, 0o700); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrNotWritable, l.Root, err)
	}
	f, err := os.OpenFile(l.LockFile, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrNotWritable, l.Root, err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			holder := ""
			if pid := readPID(l.LockFile); pid > 0 {
				holder = fmt.Sprintf(" by skiff pid %d", pid)
			}
			return nil, fmt.Errorf("%w: %s is held%s; stop it with 'skiff down --data-dir %s' or use another --data-dir", ErrLocked, l.Root, holder, l.Root)
		}
		return nil, fmt.Errorf("locking %s: %w", l.LockFile, err)
	}
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return &Lock{f: f}, nil
}

// Release drops the lock.
func (lk *Lock) Release() error {
	if lk == nil || lk.f == nil {
		return nil
	}
	err := lk.f.Close()
	lk.f = nil
	return err
}

// Held reports whether some process holds the lock on l now, and its pid.
func Held(l Layout) (bool, int, error) {
	f, err := os.OpenFile(l.LockFile, os.O_RDONLY, 0)
	if errors.Is(err, os.ErrNotExist) {
		return false, 0, nil
	}
	if err != nil {
		return false, 0, err
	}
	defer f.Close()
	if err := unix.Flock(int(f.Fd()), unix.LOCK_SH|unix.LOCK_NB); err != nil {
		if errors.Is(err, unix.EWOULDBLOCK) {
			return true, readPID(l.LockFile), nil
		}
		return false, 0, err
	}
	_ = unix.Flock(int(f.Fd()), unix.LOCK_UN)
	return false, 0, nil
}

func readPID(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}
