package sandbox

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	securejoin "github.com/cyphar/filepath-securejoin"
)

// Child is reached only by a skiff built without cgo: with cgo, nsexec.c
// runs the sandbox child before Go starts.
func Child(specPath string) error {
	return fmt.Errorf("sandbox spec %s: this skiff was built without cgo, which its sandboxes need", specPath)
}

// encode writes the spec for nsexec.c: NUL-terminated strings, a key and
// its values. Paths that need care are settled here, in Go: volume
// targets and the identity files are resolved inside the root (a symlink
// such as /var/run -> /run resolves there, never to the host's), and the
// host's other filesystems, which an overlay of / does not show, are
// listed for the child to overlay too.
func (s Spec) encode() ([]byte, error) {
	lower := s.Lower
	if lower == "" {
		lower = "/"
	}
	inRoot := func(p string) (string, error) {
		full, err := securejoin.SecureJoin(lower, p)
		if err != nil {
			return "", err
		}
		rel, err := filepath.Rel(lower, full)
		if err != nil {
			return "", err
		}
		return "/" + rel, nil
	}
	var b strings.Builder
	put := specWriter(&b)
	put("lower", lower, "state", s.StateDir, "hostname", s.Hostname, "dir", s.Dir)
	if s.UpperSize > 0 {
		put("upper_size", strconv.FormatInt(s.UpperSize, 10))
	}
	if s.InPod {
		put("in_pod")
	}
	if s.ShmDir != "" {
		put("shm", s.ShmDir)
	}
	if s.TTY {
		put("tty")
	}
	if s.ReadOnlyRoot {
		put("ro_root")
	}
	s.putIdentity(put)
	masked := append([]string{s.StateDir}, s.Masked...)
	for _, m := range s.Masked {
		rel, err := inRoot(m)
		if err != nil {
			return nil, fmt.Errorf("masked path %s: %w", m, err)
		}
		put("mask", rel)
	}
	if lower == "/" {
		view := hostLayer()
		for _, d := range view.opaque {
			put("opaque", d.path, strconv.FormatUint(uint64(d.mode), 8))
		}
		for _, w := range view.whiteouts {
			put("whiteout", w)
		}
		for _, l := range view.links {
			put("link", l[0], l[1])
		}
		subs, err := hostSubmounts(append(masked, view.hidden()...))
		if err != nil {
			return nil, err
		}
		var paths []string
		for _, m := range subs {
			paths = append(paths, m.Mountpoint)
		}
		for _, p := range s.Expose {
			if !filepath.IsAbs(p) {
				return nil, fmt.Errorf("exposed path %q is not absolute", p)
			}
			if !Visible(p) {
				paths = append(paths, filepath.Clean(p))
			}
		}
		for _, p := range paths {
			fi, err := os.Stat(p)
			if err != nil {
				continue // gone, or unreadable: nothing to show
			}
			kind := "dir"
			if !fi.IsDir() {
				kind = "file"
			}
			put("sub", kind, p)
		}
	}
	for _, m := range s.Mounts {
		if !filepath.IsAbs(m.Target) {
			return nil, fmt.Errorf("mount path %q is not absolute", m.Target)
		}
		target, err := inRoot(m.Target)
		if err != nil {
			return nil, fmt.Errorf("volume at %s: %w", m.Target, err)
		}
		size := ""
		if m.Size > 0 {
			size = strconv.FormatInt(m.Size, 10)
		}
		put("mount", m.Source, target, flag(m.ReadOnly), flag(m.Tmpfs), size)
	}
	hosts := s.Hosts
	if hosts == "" {
		hosts = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\t" + s.Hostname + "\n"
	}
	files := [][2]string{{"/etc/hostname", s.Hostname + "\n"}, {"/etc/hosts", hosts}}
	if s.ResolvConf != "" {
		files = append(files, [2]string{"/etc/resolv.conf", s.ResolvConf})
	}
	for _, f := range files {
		path, err := inRoot(f[0])
		if err != nil {
			return nil, err
		}
		put("write", path, f[1])
	}
	if containsNUL(s) {
		return nil, errors.New("sandbox spec: a value holds a NUL byte")
	}
	return []byte(b.String()), nil
}

// specWriter returns the spec format's writer into b: each value
// NUL-terminated.
func specWriter(b *strings.Builder) func(...string) {
	return func(values ...string) {
		for _, v := range values {
			b.WriteString(v)
			b.WriteByte(0)
		}
	}
}

// putIdentity encodes what the command runs as and with: privileges,
// user, argv and env (a sandbox's spec and an enter's share it).
func (s Spec) putIdentity(put func(...string)) {
	if p := s.Privileges; p != nil {
		put("caps", strconv.Itoa(len(p.Capabilities)))
		for _, c := range p.Capabilities {
			put(strconv.Itoa(int(c)))
		}
		if p.NoNewPrivs {
			put("no_new_privs")
		}
	}
	if u := s.User; u != nil {
		put("user", fmt.Sprint(u.UID), fmt.Sprint(u.GID), strconv.Itoa(len(u.Groups)))
		for _, g := range u.Groups {
			put(fmt.Sprint(g))
		}
	}
	for _, a := range s.Args {
		put("arg", a)
	}
	for _, e := range s.Env {
		put("env", e)
	}
}

func flag(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// containsNUL reports a NUL in any string of s, which the format cannot
// carry (nor can argv or the environment).
func containsNUL(s Spec) bool {
	all := append(append(append([]string{s.Lower, s.StateDir, s.Hostname, s.Dir, s.ShmDir}, s.Args...), s.Env...), append(s.Masked, s.Expose...)...)
	for _, m := range s.Mounts {
		all = append(all, m.Source, m.Target)
	}
	for _, v := range all {
		if strings.IndexByte(v, 0) >= 0 {
			return true
		}
	}
	return false
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
