package podruntime

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/skiff-dev/skiff/internal/node/sandbox"
)

// A pid file records a container instance's process group leader with its
// start time, so that a later skiff can find the processes a crashed one
// left behind without mistaking a reused pid for them.
const pidSuffix = ".pid"

func writePIDFile(path string, pid int) error {
	start, err := processStartTime(pid)
	if err != nil {
		return err
	}
	return os.WriteFile(path, []byte(fmt.Sprintf("%d %d\n", pid, start)), 0o600)
}

// processStartTime reads field 22 of /proc/<pid>/stat (clock ticks after
// boot), which together with the pid identifies a process.
func processStartTime(pid int) (uint64, error) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may hold spaces; fields after it do not.
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("unexpected /proc/%d/stat", pid)
	}
	fields := strings.Fields(s[i+1:])
	if len(fields) < 20 {
		return 0, fmt.Errorf("unexpected /proc/%d/stat", pid)
	}
	return strconv.ParseUint(fields[19], 10, 64)
}

// CleanOrphans kills the process groups that pid files under root name and
// that still run, then removes the stale pod directories (and everything in
// the scratch roots). It runs before the node syncs pods, so the
// controllers' pods start afresh, once each.
func CleanOrphans(root string, scratchRoots ...string) (killed int, err error) {
	for _, s := range scratchRoots {
		if uerr := sandbox.UnmountBelow(s); uerr != nil {
			err = uerr
		}
		if rerr := os.RemoveAll(s); rerr != nil {
			err = rerr
		}
	}
	werr := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, pidSuffix) {
			return nil
		}
		var pid int
		var start uint64
		data, rerr := os.ReadFile(path)
		if rerr != nil {
			return nil
		}
		if _, serr := fmt.Sscanf(string(data), "%d %d", &pid, &start); serr != nil || pid <= 1 {
			return nil
		}
		if now, serr := processStartTime(pid); serr == nil && now == start {
			if syscall.Kill(-pid, syscall.SIGKILL) == nil {
				killed++
			}
		}
		return nil
	})
	if werr != nil {
		return killed, werr
	}
	// Pinned pod namespaces and /dev/shm mounts keep nothing alive once
	// detached.
	if uerr := sandbox.UnmountBelow(root); uerr != nil {
		err = uerr
	}
	entries, rerr := os.ReadDir(root)
	if rerr != nil {
		if os.IsNotExist(rerr) {
			return killed, err
		}
		return killed, rerr
	}
	for _, e := range entries {
		if rerr := os.RemoveAll(filepath.Join(root, e.Name())); rerr != nil {
			err = rerr
		}
	}
	return killed, err
}
