package sandbox

import (
	"encoding/json"
	"errors"
	"fmt"
	securejoin "github.com/cyphar/filepath-securejoin"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// Child runs in the re-executed skiff that is the sandbox's first process:
// it builds the container's filesystem view and executes the command. It
// returns only on failure, after recording why in the state dir.
func Child(specPath string) error {
	data, err := os.ReadFile(specPath)
	if err != nil {
		return err
	}
	var spec Spec
	if err := json.Unmarshal(data, &spec); err != nil {
		return fmt.Errorf("sandbox spec %s: %w", specPath, err)
	}
	// The start-up report (fd 3) closes when exec succeeds.
	report := os.NewFile(3, "report")
	syscall.CloseOnExec(3)
	gate := os.NewFile(4, "gate")
	syscall.CloseOnExec(4)
	if _, err := gate.Read(make([]byte, 1)); err != nil {
		return fmt.Errorf("sandbox start aborted by skiff: %w", err)
	}
	gate.Close()
	err = setup(spec)
	if err == nil && spec.TTY {
		err = attachTerminal()
	}
	if err == nil {
		err = execCommand(spec)
	}
	_, _ = report.WriteString(err.Error())
	report.Close()
	return err
}

func setup(spec Spec) error {
	// Nothing mounted here may propagate back to the host.
	if err := syscall.Mount("", "/", "", syscall.MS_REC|syscall.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("making mounts private: %w", err)
	}
	// The writable layer lives on a tmpfs: overlayfs refuses an upper
	// directory inside its lower tree, and a pod's writes are meant to
	// vanish with it.
	fsDir := filepath.Join(spec.StateDir, "fs")
	if err := os.MkdirAll(fsDir, 0o700); err != nil {
		return err
	}
	opts := "mode=0755"
	if spec.UpperSize > 0 {
		opts += ",size=" + strconv.FormatInt(spec.UpperSize, 10)
	}
	if err := syscall.Mount("tmpfs", fsDir, "tmpfs", 0, opts); err != nil {
		return fmt.Errorf("mounting the writable layer: %w", err)
	}
	upper, work, root := filepath.Join(fsDir, "upper"), filepath.Join(fsDir, "work"), filepath.Join(fsDir, "root")
	for _, d := range []string{upper, work, root} {
		if err := os.Mkdir(d, 0o755); err != nil {
			return err
		}
	}
	lower := spec.Lower
	if lower == "" {
		lower = "/"
	}
	if err := syscall.Mount("overlay", root, "overlay", 0, "lowerdir="+lower+",upperdir="+upper+",workdir="+work); err != nil {
		return fmt.Errorf("mounting the root overlay over %s: %w", lower, err)
	}
	if err := mountHostSubmounts(root, filepath.Join(fsDir, "submounts"), append([]string{spec.StateDir}, spec.Masked...)); err != nil {
		return err
	}
	if err := maskPaths(root, spec.Masked); err != nil {
		return err
	}
	if err := systemMounts(root, spec.ShmDir); err != nil {
		return err
	}
	for _, m := range spec.Mounts {
		if err := volumeMount(root, m); err != nil {
			return fmt.Errorf("volume at %s: %w", m.Target, err)
		}
	}
	if err := writeIdentity(root, spec.Hostname); err != nil {
		return err
	}
	if err := pivot(root); err != nil {
		return err
	}
	if !spec.InPod {
		if err := syscall.Sethostname([]byte(spec.Hostname)); err != nil {
			return fmt.Errorf("setting hostname: %w", err)
		}
	}
	dir := spec.Dir
	if dir == "" {
		dir = "/"
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("working directory %s: %w", dir, err)
	}
	return os.Chdir(dir)
}

// systemMounts gives the new root a /proc of its PID namespace, a private
// /dev with the standard devices only (so nothing written there reaches the
// host's), its own devpts and /dev/shm (its own IPC), and a read-only /sys.
func systemMounts(root, shmDir string) error {
	in := func(p string) (string, error) { return securejoin.SecureJoin(root, p) }
	mount := func(source, target, fstype string, flags uintptr, data string) error {
		path, err := in(target)
		if err != nil {
			return err
		}
		if err := os.MkdirAll(path, 0o755); err != nil {
			return err
		}
		if err := syscall.Mount(source, path, fstype, flags, data); err != nil {
			return fmt.Errorf("mounting %s: %w", target, err)
		}
		return nil
	}
	if err := mount("proc", "/proc", "proc", syscall.MS_NOSUID|syscall.MS_NODEV|syscall.MS_NOEXEC, ""); err != nil {
		return err
	}
	// nodev: a node a pod makes there (NVML creates the GPUs' nodes it
	// misses) opens nothing; the bound standard nodes are mounts of their own.
	if err := mount("tmpfs", "/dev", "tmpfs", syscall.MS_NOSUID|syscall.MS_NODEV|syscall.MS_STRICTATIME, "mode=755,size=65536k"); err != nil {
		return err
	}
	dev, _ := in("/dev")
	for _, name := range []string{"null", "zero", "full", "random", "urandom", "tty"} {
		node := filepath.Join(dev, name)
		f, err := os.OpenFile(node, os.O_CREATE|os.O_WRONLY, 0o666)
		if err != nil {
			return err
		}
		f.Close()
		if err := syscall.Mount("/dev/"+name, node, "", syscall.MS_BIND, ""); err != nil {
			return fmt.Errorf("mounting /dev/%s: %w", name, err)
		}
	}
	if err := mount("devpts", "/dev/pts", "devpts", syscall.MS_NOSUID|syscall.MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620"); err != nil {
		return err
	}
	if shmDir != "" {
		if err := mount(shmDir, "/dev/shm", "", syscall.MS_BIND, ""); err != nil {
			return err
		}
	} else if err := mount("shm", "/dev/shm", "tmpfs", syscall.MS_NOSUID|syscall.MS_NODEV, "mode=1777,size="+shmSize); err != nil {
		return err
	}
	for link, target := range map[string]string{"ptmx": "pts/ptmx", "fd": "/proc/self/fd", "stdin": "/proc/self/fd/0", "stdout": "/proc/self/fd/1", "stderr": "/proc/self/fd/2"} {
		if err := os.Symlink(target, filepath.Join(dev, link)); err != nil {
			return err
		}
	}
	if err := mount("/sys", "/sys", "", syscall.MS_BIND|syscall.MS_REC, ""); err != nil {
		return err
	}
	return mount("", "/sys", "", syscall.MS_BIND|syscall.MS_REMOUNT|syscall.MS_RDONLY, "")
}

func volumeMount(root string, m Mount) error {
	if !filepath.IsAbs(m.Target) {
		return fmt.Errorf("mount path %q is not absolute", m.Target)
	}
	// Symlinks in the path resolve inside the new root (/var/run -> /run
	// on Debian), never out to the host's.
	target, err := securejoin.SecureJoin(root, m.Target)
	if err != nil {
		return err
	}
	if m.Tmpfs {
		if err := os.MkdirAll(target, 0o755); err != nil {
			return err
		}
		opts := "mode=0777"
		if m.Size > 0 {
			opts += ",size=" + strconv.FormatInt(m.Size, 10)
		}
		return syscall.Mount("tmpfs", target, "tmpfs", syscall.MS_NOSUID|syscall.MS_NODEV, opts)
	}
	fi, err := os.Stat(m.Source)
	if err != nil {
		return err
	}
	// Creating the mount point goes through the resolved path, which holds
	// no symlink left to follow.
	if fi.IsDir() {
		err = os.MkdirAll(target, 0o755)
	} else {
		if err = os.MkdirAll(filepath.Dir(target), 0o755); err == nil {
			var f *os.File
			if f, err = os.OpenFile(target, os.O_CREATE|os.O_WRONLY, 0o644); err == nil {
				f.Close()
			}
		}
	}
	if err != nil {
		return err
	}
	if err := syscall.Mount(m.Source, target, "", syscall.MS_BIND|syscall.MS_REC, ""); err != nil {
		return err
	}
	if m.ReadOnly {
		return syscall.Mount("", target, "", syscall.MS_BIND|syscall.MS_REMOUNT|syscall.MS_RDONLY, "")
	}
	return nil
}

// writeIdentity makes /etc/hostname and /etc/hosts name the pod.
func writeIdentity(root, hostname string) error {
	hosts := "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\t" + hostname + "\n"
	for name, content := range map[string]string{"/etc/hostname": hostname + "\n", "/etc/hosts": hosts} {
		path, err := securejoin.SecureJoin(root, name)
		if err != nil {
			return err
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// pivot makes root the filesystem root and drops the old one.
func pivot(root string) error {
	old := filepath.Join(root, ".skiff-oldroot")
	if err := os.MkdirAll(old, 0o700); err != nil {
		return err
	}
	if err := syscall.PivotRoot(root, old); err != nil {
		return fmt.Errorf("pivot_root: %w", err)
	}
	if err := os.Chdir("/"); err != nil {
		return err
	}
	if err := syscall.Unmount("/.skiff-oldroot", syscall.MNT_DETACH); err != nil {
		return fmt.Errorf("detaching the host root: %w", err)
	}
	return os.Remove("/.skiff-oldroot")
}

func execCommand(spec Spec) error {
	path := ""
	for _, e := range spec.Env {
		if v, ok := strings.CutPrefix(e, "PATH="); ok {
			path = v
		}
	}
	bin, err := LookPath(spec.Args[0], path, "")
	if err != nil {
		return err
	}
	if u := spec.User; u != nil {
		if err := becomeUser(*u); err != nil {
			return err
		}
	}
	return syscall.Exec(bin, spec.Args, spec.Env)
}

// LookPath finds file in path (a $PATH value); a name with a slash is
// taken relative to dir.
func LookPath(file, path, dir string) (string, error) {
	if strings.Contains(file, "/") {
		if !filepath.IsAbs(file) && dir != "" {
			file = filepath.Join(dir, file)
		}
		if fi, err := os.Stat(file); err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
			return "", fmt.Errorf("exec: %q: no such executable file", file)
		}
		return file, nil
	}
	for _, d := range filepath.SplitList(path) {
		p := filepath.Join(d, file)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", errors.New("exec: \"" + file + "\": executable file not found in $PATH")
}

// becomeUser drops to u's groups and ids; Go applies each to every thread.
func becomeUser(u User) error {
	groups := make([]int, 0, len(u.Groups))
	for _, g := range u.Groups {
		groups = append(groups, int(g))
	}
	if err := syscall.Setgroups(groups); err != nil {
		return fmt.Errorf("setting supplementary groups %v: %w", u.Groups, err)
	}
	if err := syscall.Setgid(int(u.GID)); err != nil {
		return fmt.Errorf("setting group id %d: %w", u.GID, err)
	}
	if err := syscall.Setuid(int(u.UID)); err != nil {
		return fmt.Errorf("setting user id %d: %w", u.UID, err)
	}
	return nil
}
