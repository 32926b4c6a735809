package sandbox

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"

	securejoin "github.com/cyphar/filepath-securejoin"
	"github.com/moby/sys/mountinfo"
)

// pseudoFS are filesystems a sandbox never takes from the host: it has
// its own /proc, /sys and /dev, and kernel interfaces stay the host's.
var pseudoFS = map[string]bool{
	"proc": true, "sysfs": true, "devtmpfs": true, "devpts": true, "cgroup": true, "cgroup2": true,
	"mqueue": true, "debugfs": true, "tracefs": true, "securityfs": true, "pstore": true, "bpf": true,
	"configfs": true, "fusectl": true, "hugetlbfs": true, "autofs": true, "binfmt_misc": true,
	"nsfs": true, "efivarfs": true, "rpc_pipefs": true, "selinuxfs": true,
}

// hostSubmounts lists the host's mounts below / that belong in a pod's
// view of the host's root (an overlay of / shows only the root
// filesystem): not the pseudo filesystems, not /proc, /sys, /dev or /run
// (host runtime state), and nothing below a masked path. Parents come
// before their children.
func hostSubmounts(masked []string) ([]*mountinfo.Info, error) {
	all, err := mountinfo.GetMounts(nil)
	if err != nil {
		return nil, fmt.Errorf("listing the host's mounts: %w", err)
	}
	skip := append([]string{"/proc", "/sys", "/dev", "/run"}, masked...)
	var out []*mountinfo.Info
	seen := map[string]int{}
	for _, m := range all {
		if m.Mountpoint == "/" || pseudoFS[m.FSType] || below(m.Mountpoint, skip) {
			continue
		}
		// A mount stacked on the same point hides the one under it.
		if i, ok := seen[m.Mountpoint]; ok {
			out[i] = m
			continue
		}
		seen[m.Mountpoint] = len(out)
		out = append(out, m)
	}
	slices.SortStableFunc(out, func(a, b *mountinfo.Info) int {
		return strings.Count(a.Mountpoint, "/") - strings.Count(b.Mountpoint, "/")
	})
	return out, nil
}

func below(path string, dirs []string) bool {
	for _, d := range dirs {
		d = filepath.Clean(d)
		if path == d || strings.HasPrefix(path, d+"/") {
			return true
		}
	}
	return false
}

// mountHostSubmounts gives root the host's submounts: each directory as
// an overlay of its own, with its writable layer in layers (so writes stay
// in the pod, as for the root), or read-only where overlayfs refuses it;
// single files read-only.
func mountHostSubmounts(root, layers string, masked []string) error {
	subs, err := hostSubmounts(masked)
	if err != nil {
		return err
	}
	for i, m := range subs {
		target, err := securejoin.SecureJoin(root, m.Mountpoint)
		if err != nil {
			return err
		}
		fi, err := os.Stat(m.Mountpoint)
		if err != nil {
			continue // gone, or unreadable: nothing to show
		}
		if !fi.IsDir() {
			if err := ensureFile(target); err != nil {
				return err
			}
			if err := bindReadOnly(m.Mountpoint, target); err != nil {
				return fmt.Errorf("host file mount %s: %w", m.Mountpoint, err)
			}
			continue
		}
		if err := os.MkdirAll(target, 0o755); err != nil {
			return err
		}
		upper, work := filepath.Join(layers, strconv.Itoa(i), "upper"), filepath.Join(layers, strconv.Itoa(i), "work")
		if err := os.MkdirAll(upper, 0o755); err != nil {
			return err
		}
		if err := os.MkdirAll(work, 0o755); err != nil {
			return err
		}
		if syscall.Mount("overlay", target, "overlay", 0, "lowerdir="+m.Mountpoint+",upperdir="+upper+",workdir="+work) == nil {
			continue
		}
		if err := bindReadOnly(m.Mountpoint, target); err != nil {
			return fmt.Errorf("host mount %s: %w", m.Mountpoint, err)
		}
	}
	return nil
}

// maskPaths hides each path under an empty read-only tmpfs: skiff's own
// data (keys, other pods' state) is not part of any pod's image.
func maskPaths(root string, masked []string) error {
	for _, p := range masked {
		target, err := securejoin.SecureJoin(root, p)
		if err != nil {
			return err
		}
		fi, err := os.Stat(target)
		if err != nil || !fi.IsDir() {
			continue
		}
		if err := syscall.Mount("tmpfs", target, "tmpfs", syscall.MS_RDONLY|syscall.MS_NOSUID|syscall.MS_NODEV|syscall.MS_NOEXEC, "size=4k,mode=0755"); err != nil {
			return fmt.Errorf("masking %s: %w", p, err)
		}
	}
	return nil
}

func ensureFile(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	return f.Close()
}

func bindReadOnly(source, target string) error {
	if err := syscall.Mount(source, target, "", syscall.MS_BIND, ""); err != nil {
		return err
	}
	return syscall.Mount("", target, "", syscall.MS_BIND|syscall.MS_REMOUNT|syscall.MS_RDONLY, "")
}
