package sandbox

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"

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

// notSoftware are host paths whose mounts are runtime state, scratch
// space or other runtimes' containers, not part of the machine's software.
var notSoftware = []string{"/proc", "/sys", "/dev", "/run", "/tmp", "/var/tmp", "/mnt", "/media", "/snap",
	"/var/lib/docker", "/var/lib/containerd", "/var/lib/kubelet", "/var/run"}

// maxSubmounts caps the host filesystems a sandbox carries: each costs a
// mount per container start.
const maxSubmounts = 64

// hostSubmounts lists the host's mounts below / that belong in a pod's
// view of the host's root (an overlay of / shows only the root
// filesystem), such as /home, /opt or a driver directory: not the pseudo
// filesystems or tmpfs, nothing below notSoftware or a masked path, at
// most maxSubmounts (the shallowest). Parents come before their children.
func hostSubmounts(masked []string) ([]*mountinfo.Info, error) {
	all, err := mountinfo.GetMounts(nil)
	if err != nil {
		return nil, fmt.Errorf("listing the host's mounts: %w", err)
	}
	skip := append(append([]string{}, notSoftware...), masked...)
	var out []*mountinfo.Info
	seen := map[string]int{}
	for _, m := range all {
		if m.Mountpoint == "/" || pseudoFS[m.FSType] || m.FSType == "tmpfs" || below(m.Mountpoint, skip) {
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
	if len(out) > maxSubmounts {
		out = out[:maxSubmounts]
	}
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
