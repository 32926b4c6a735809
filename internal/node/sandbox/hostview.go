package sandbox

import (
	"os"
	"path/filepath"
	"slices"
)

// A sandbox on the host's root sees only what a container image would
// hold: the host's software, by an allow-list, and nothing of its data.
// The root is still one overlay of /, so a pod start costs no extra
// mounts: what is not allowed is hidden by entries written into the
// overlay's (empty, tmpfs) upper layer before it is mounted, whiteouts
// for what is gone and opaque folders for what is there but empty.

// systemPaths are the top-level folders a pod sees as the host has them:
// programs, libraries and configuration.
var systemPaths = []string{"/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/usr", "/etc", "/opt"}

// kernelPaths are mounted by the sandbox itself (its own /proc, /dev and
// a read-only /sys).
var kernelPaths = []string{"/proc", "/sys", "/dev"}

// emptyDir is a folder an image has but that holds only the pod's own
// files: scratch space, runtime state, homes, mount points, /var.
type emptyDir struct {
	path string
	mode uint32 // as chmod(2) takes it, sticky and setgid bits included
}

var emptyDirs = []emptyDir{
	{"/tmp", 0o1777}, {"/run", 0o755}, {"/run/lock", 0o1777}, {"/root", 0o700}, {"/home", 0o755},
	{"/mnt", 0o755}, {"/media", 0o755}, {"/srv", 0o755},
	{"/var", 0o755}, {"/var/tmp", 0o1777}, {"/var/cache", 0o755}, {"/var/lib", 0o755},
	{"/var/log", 0o755}, {"/var/spool", 0o755}, {"/var/opt", 0o755}, {"/var/local", 0o755}, {"/var/mail", 0o2775},
}

// emptyLinks are the symbolic links an image's /var holds.
var emptyLinks = [][2]string{{"/var/run", "../run"}, {"/var/lock", "../run/lock"}}

// etcSecrets are the files and folders of /etc that are the host's
// secrets, not its configuration: password hashes, the SSH host keys, TLS
// private keys, another Kubernetes' credentials. Patterns as filepath.Glob.
var etcSecrets = []string{
	"/etc/shadow", "/etc/shadow-", "/etc/gshadow", "/etc/gshadow-", "/etc/security/opasswd",
	"/etc/sudoers", "/etc/sudoers.d", "/etc/ssh/ssh_host_*_key", "/etc/ssl/private",
	"/etc/kubernetes", "/etc/rancher", "/etc/docker", "/etc/containerd", "/etc/skiff",
	"/etc/cni/net.d/*kubeconfig*", "/etc/pki/tls/private", "/etc/letsencrypt", "/etc/wireguard",
	"/etc/NetworkManager/system-connections", "/etc/krb5.keytab", "/etc/ipsec.secrets", "/etc/ipsec.d/private",
}

// layer is what the upper layer gets before the root overlay is mounted.
type layer struct {
	whiteouts []string   // hidden paths
	opaque    []emptyDir // folders shown empty
	links     [][2]string
}

// hidden are the host paths no pod sees as the host has them, whose
// submounts must not come through either.
func (l layer) hidden() []string {
	out := slices.Clone(l.whiteouts)
	for _, d := range l.opaque {
		out = append(out, d.path)
	}
	return out
}

// hostLayer works out the layer over the host's root: every top-level
// entry that is neither allowed nor an empty folder is hidden, and so are
// the secrets in /etc.
func hostLayer() layer {
	var l layer
	entries, _ := os.ReadDir("/") // unreadable: nothing to hide but the fixed list
	for _, e := range entries {
		p := "/" + e.Name()
		if slices.Contains(systemPaths, p) || slices.Contains(kernelPaths, p) || isEmptyDir(p) {
			continue
		}
		l.whiteouts = append(l.whiteouts, p)
	}
	for _, pattern := range etcSecrets {
		matches, _ := filepath.Glob(pattern) // only a malformed pattern errs
		l.whiteouts = append(l.whiteouts, matches...)
	}
	l.opaque = emptyDirs
	l.links = emptyLinks
	return l
}

func isEmptyDir(p string) bool {
	return slices.ContainsFunc(emptyDirs, func(d emptyDir) bool { return d.path == p })
}

// Visible reports whether host path p is in a pod's view of the host's
// root, as the host has it; what is not must come in as a volume (or
// through an image map, see Spec.Expose).
func Visible(p string) bool {
	p = filepath.Clean(p)
	if !below(p, systemPaths) {
		return false
	}
	for q := p; q != "/"; q = filepath.Dir(q) {
		for _, pattern := range etcSecrets {
			if ok, _ := filepath.Match(pattern, q); ok {
				return false
			}
		}
	}
	return true
}
