package podruntime

import (
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strconv"

	corev1 "k8s.io/api/core/v1"

	"github.com/skiff-dev/skiff/internal/node/sandbox"
)

// ConfigError means a container's spec cannot be run as written; the
// kubelet's CreateContainerConfigError.
type ConfigError struct{ msg string }

func (e *ConfigError) Error() string { return e.msg }

// identity resolves who c runs as from the pod's and the container's
// securityContext; nil means as skiff itself (root). home is the user's
// home directory for $HOME.
func identity(pod *corev1.Pod, c *corev1.Container) (id *sandbox.User, home string, err error) {
	var uid, gid *int64
	var nonRoot *bool
	if psc := pod.Spec.SecurityContext; psc != nil {
		uid, gid, nonRoot = psc.RunAsUser, psc.RunAsGroup, psc.RunAsNonRoot
	}
	if csc := c.SecurityContext; csc != nil {
		uid, gid, nonRoot = or(csc.RunAsUser, uid), or(csc.RunAsGroup, gid), or(csc.RunAsNonRoot, nonRoot)
	}
	if nonRoot != nil && *nonRoot && (uid == nil || *uid == 0) {
		// The image has no USER here: it would run as root.
		what := "image will run as root"
		if uid != nil {
			what = "runAsUser is 0"
		}
		return nil, "", &ConfigError{fmt.Sprintf("container %q has runAsNonRoot and %s; set runAsUser to a non-zero id", c.Name, what)}
	}
	var groups []uint32
	if psc := pod.Spec.SecurityContext; psc != nil {
		for _, g := range psc.SupplementalGroups {
			groups = append(groups, uint32(g))
		}
		if psc.FSGroup != nil {
			groups = append(groups, uint32(*psc.FSGroup))
		}
	}
	if uid == nil && gid == nil && len(groups) == 0 {
		return nil, "/root", nil
	}
	u := &sandbox.User{Groups: groups}
	home = "/"
	if uid != nil {
		u.UID = uint32(*uid)
		// As container runtimes do: the passwd entry (of the host's root,
		// which is the container's image here) gives the primary group
		// and home; an unknown id gets group 0 and /.
		if pw, err := user.LookupId(strconv.FormatInt(*uid, 10)); err == nil {
			home = pw.HomeDir
			if g, err := strconv.ParseUint(pw.Gid, 10, 32); err == nil && gid == nil {
				u.GID = uint32(g)
			}
		}
	} else {
		home = "/root"
	}
	if gid != nil {
		u.GID = uint32(*gid)
	}
	return u, home, nil
}

func or[T any](v, fallback *T) *T {
	if v != nil {
		return v
	}
	return fallback
}

// applyFSGroup gives the pod's fsGroup ownership of its writable and
// projected volumes, as the kubelet's SetVolumeOwnership does: group
// read (and write, for emptyDir), setgid directories. hostPath volumes
// are left as they are.
func applyFSGroup(pod *corev1.Pod, paths map[string]string) error {
	psc := pod.Spec.SecurityContext
	if psc == nil || psc.FSGroup == nil {
		return nil
	}
	gid := int(*psc.FSGroup)
	for _, v := range pod.Spec.Volumes {
		path, ok := paths[v.Name]
		if !ok || v.HostPath != nil {
			continue
		}
		fileBits := fs.FileMode(0o440)
		if v.EmptyDir != nil {
			fileBits = 0o660
		}
		err := filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.Type()&fs.ModeSymlink != 0 {
				return err
			}
			if err := os.Lchown(p, -1, gid); err != nil {
				return err
			}
			info, err := d.Info()
			if err != nil {
				return err
			}
			mode := info.Mode()
			if d.IsDir() {
				return os.Chmod(p, mode.Perm()|0o770|fs.ModeSetgid)
			}
			return os.Chmod(p, mode.Perm()|fileBits)
		})
		if err != nil {
			return fmt.Errorf("applying fsGroup %d to volume %q: %w", gid, v.Name, err)
		}
	}
	return nil
}
