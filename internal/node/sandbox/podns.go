package sandbox

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"

	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"
)

// nsKind is a kind of namespace: its /proc/<pid>/ns name and clone flag.
type nsKind struct {
	name string
	flag int
}

// podNamespaces are the namespaces a pod's containers share; each
// container still has its own mount and PID namespace, as on a kubelet.
// With pod networking, the network namespace is shared too.
var (
	podNamespaces = []nsKind{{"ipc", unix.CLONE_NEWIPC}, {"uts", unix.CLONE_NEWUTS}}
	netNamespace  = nsKind{"net", unix.CLONE_NEWNET}
)

// shmSize is the pod's /dev/shm, the container runtimes' default.
const shmSize = "67108864"

// Pod holds a pod's shared namespaces and /dev/shm. The namespaces are
// pinned by bind mounts of their nsfs files under Dir (as `ip netns` and
// CRI-O's pinns do), so no pause process has to hold them.
type Pod struct {
	Dir   string
	kinds []nsKind
}

// NetNS is the pinned network namespace's path, or "" when the pod shares
// the node's network.
func (p *Pod) NetNS() string {
	for _, k := range p.kinds {
		if k == netNamespace {
			return filepath.Join(p.Dir, k.name)
		}
	}
	return ""
}

// ShmDir is the pod's /dev/shm (a tmpfs every container mounts).
func (p *Pod) ShmDir() string { return filepath.Join(p.Dir, "shm") }

// NewPod creates the namespaces with hostname set, below dir; with
// network, a network namespace of the pod's own too (only its loopback,
// down, until the network package attaches it).
func NewPod(dir, hostname string, network bool) (*Pod, error) {
	p := &Pod{Dir: dir, kinds: podNamespaces}
	if network {
		p.kinds = append(append([]nsKind{}, podNamespaces...), netNamespace)
	}
	if err := os.MkdirAll(p.ShmDir(), 0o700); err != nil {
		return nil, err
	}
	if err := unix.Mount("shm", p.ShmDir(), "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=1777,size="+shmSize); err != nil {
		return nil, fmt.Errorf("mounting the pod's /dev/shm: %w", err)
	}
	if err := inOwnThread(p.kinds, func() error { return p.pin(hostname) }); err != nil {
		if rerr := p.Remove(); rerr != nil {
			err = errors.Join(err, fmt.Errorf("releasing the pod's namespaces: %w", rerr))
		}
		return nil, err
	}
	return p, nil
}

func (p *Pod) pin(hostname string) error {
	flags := 0
	for _, ns := range p.kinds {
		flags |= ns.flag
	}
	if err := unix.Unshare(flags); err != nil {
		return fmt.Errorf("creating the pod's namespaces: %w", err)
	}
	if err := unix.Sethostname([]byte(hostname)); err != nil {
		return fmt.Errorf("setting the pod's hostname: %w", err)
	}
	tid := unix.Gettid()
	for _, ns := range p.kinds {
		file := filepath.Join(p.Dir, ns.name)
		if err := os.WriteFile(file, nil, 0o600); err != nil {
			return err
		}
		src := fmt.Sprintf("/proc/self/task/%d/ns/%s", tid, ns.name)
		if err := unix.Mount(src, file, "", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("pinning the pod's %s namespace: %w", ns.name, err)
		}
	}
	return nil
}

// Start starts cmd inside the pod's namespaces: the fork happens on a
// thread that has joined them, so the child inherits them.
func (p *Pod) Start(cmd *exec.Cmd) error {
	return inOwnThread(p.kinds, func() error {
		for _, ns := range p.kinds {
			if err := setns(filepath.Join(p.Dir, ns.name), ns.flag); err != nil {
				return err
			}
		}
		return cmd.Start()
	})
}

// inOwnThread runs f on a locked OS thread, then moves the thread back to
// skiff's namespaces. If that fails the thread stays locked, and Go ends
// it with the goroutine (the main thread is parked instead), so no other
// goroutine ever runs in a pod's namespaces.
func inOwnThread(kinds []nsKind, f func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		var saved []int
		for _, ns := range kinds {
			fd, err := unix.Open("/proc/thread-self/ns/"+ns.name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
			if err != nil {
				errc <- fmt.Errorf("saving skiff's %s namespace: %w", ns.name, err)
				return
			}
			defer unix.Close(fd)
			saved = append(saved, fd)
		}
		errc <- f()
		for i, ns := range kinds {
			if unix.Setns(saved[i], ns.flag) != nil {
				return
			}
		}
		runtime.UnlockOSThread()
	}()
	return <-errc
}

func setns(file string, flag int) error {
	fd, err := unix.Open(file, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("opening the pod's namespace %s: %w", file, err)
	}
	defer unix.Close(fd)
	if err := unix.Setns(fd, flag); err != nil {
		return fmt.Errorf("joining the pod's namespace %s: %w", file, err)
	}
	return nil
}

// Remove releases the namespaces and /dev/shm and deletes Dir.
func (p *Pod) Remove() error {
	if err := UnmountBelow(p.Dir); err != nil {
		return err
	}
	return os.RemoveAll(p.Dir)
}

// UnmountBelow detaches every mount at or below dir (deepest first), for
// cleaning up after a pod, or after a skiff that crashed.
func UnmountBelow(dir string) error {
	mounts, err := mountinfo.GetMounts(mountinfo.PrefixFilter(filepath.Clean(dir)))
	if err != nil {
		return fmt.Errorf("listing mounts below %s: %w", dir, err)
	}
	points := make([]string, 0, len(mounts))
	for _, m := range mounts {
		points = append(points, m.Mountpoint)
	}
	// Deeper paths first, and each only once (stacked mounts repeat).
	slices.SortFunc(points, func(a, b string) int {
		if len(a) != len(b) {
			return len(b) - len(a)
		}
		return strings.Compare(a, b)
	})
	var errs []error
	for _, m := range slices.Compact(points) {
		if err := unix.Unmount(m, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, fmt.Errorf("unmounting %s: %w", m, err))
		}
	}
	return errors.Join(errs...)
}
