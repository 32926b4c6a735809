package sandbox

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/moby/sys/capability"
	"golang.org/x/sys/unix"
)

// EnvSpec names the spec file of a sandbox child; its presence in the
// environment is what makes a re-executed skiff act as the child.
const EnvSpec = "SKIFF_SANDBOX_SPEC"

// ExitStartError is the child's exit code when the command did not start.
const ExitStartError = 128

// Mount is one volume inside the sandbox.
type Mount struct {
	Source   string `json:"source,omitempty"` // host path; empty with Tmpfs
	Target   string `json:"target"`           // absolute path inside
	ReadOnly bool   `json:"readOnly,omitempty"`
	Tmpfs    bool   `json:"tmpfs,omitempty"`
	Size     int64  `json:"size,omitempty"` // tmpfs size in bytes; 0: default
}

// Spec is everything the child needs.
type Spec struct {
	Lower    string   `json:"lower"`    // root filesystem to overlay, "/" for the host's
	StateDir string   `json:"stateDir"` // per-instance directory (mount points, errors)
	Hostname string   `json:"hostname"`
	Mounts   []Mount  `json:"mounts,omitempty"`
	Args     []string `json:"args"`
	Env      []string `json:"env"`
	Dir      string   `json:"dir"`
	// UpperSize caps the writable layer (bytes, 0: tmpfs default, half of RAM).
	UpperSize int64 `json:"upperSize,omitempty"`
	// InPod means the child is started with Pod.Start: its IPC and UTS
	// namespaces (hostname included) are the pod's, and ShmDir is the
	// pod's /dev/shm.
	InPod  bool   `json:"inPod,omitempty"`
	ShmDir string `json:"shmDir,omitempty"`
	// User, when set, is who the command runs as.
	User *User `json:"user,omitempty"`
	// Masked paths of the host are hidden under empty read-only tmpfs
	// (skiff's data dir).
	Masked []string `json:"masked,omitempty"`
	// TTY gives the command a terminal of the sandbox's own devpts; the
	// child sends its master end back (Report.Console).
	TTY bool `json:"tty,omitempty"`
	// Hosts replaces /etc/hosts (empty: localhost and the hostname).
	Hosts string `json:"hosts,omitempty"`
	// ResolvConf replaces /etc/resolv.conf (empty: the host's).
	ResolvConf string `json:"resolvConf,omitempty"`
	// ReadOnlyRoot makes the root (and the host filesystems in it)
	// read-only once volumes and identity files are in place
	// (securityContext.readOnlyRootFilesystem); volumes keep their mode.
	ReadOnlyRoot bool `json:"readOnlyRoot,omitempty"`
	// Expose are host paths (folders or files) a pod on the host's root
	// sees at the same place although its view (see Visible) leaves them
	// out: a mapped image's folder and program. Folders are overlays (the
	// pod's writes stay in the pod), files read-only.
	Expose []string `json:"expose,omitempty"`
	// Privileges limit what the command can gain; nil: all of root's
	// (a privileged container).
	Privileges *Privileges `json:"privileges,omitempty"`
}

// Privileges are a container's capabilities and whether it may gain more
// (securityContext capabilities and allowPrivilegeEscalation).
type Privileges struct {
	// Capabilities bound what the command and its children can hold: all
	// of them as root, none as another user (as with Kubernetes, added
	// capabilities are not ambient).
	Capabilities []capability.Cap `json:"capabilities"`
	// NoNewPrivs stops setuid files and file capabilities from raising
	// a process's rights.
	NoNewPrivs bool `json:"noNewPrivs,omitempty"`
}

// User is a process's identity (securityContext runAsUser/runAsGroup,
// fsGroup and supplementalGroups).
type User struct {
	UID    uint32   `json:"uid"`
	GID    uint32   `json:"gid"`
	Groups []uint32 `json:"groups,omitempty"`
}

// Report is the parent's end of the child's start-up report: the child
// writes why it failed, or execs the command, which closes the pipe (it is
// close-on-exec in the child). So an empty report means the command runs.
//
// A second pipe gates the child: it builds nothing until Release, so the
// parent can first put it in its cgroup.
type Report struct {
	r, w, gateR, gateW *os.File
	// consoleR and consoleW are a socket pair that carries the terminal's
	// master end (TTY only).
	consoleR, consoleW *os.File
}

// Started must be called once the child is started: it drops the parent's
// copies of the child's ends, so each pipe closes when the child does.
func (r *Report) Started() {
	r.w.Close()
	r.gateR.Close()
	if r.consoleW != nil {
		r.consoleW.Close()
	}
}

// Release lets the child go on.
func (r *Report) Release() error {
	_, err := r.gateW.Write([]byte{1})
	r.gateW.Close()
	return err
}

// Wait returns the child's start error, or nil once the command runs.
func (r *Report) Wait(timeout time.Duration) error {
	defer r.r.Close()
	// A pipe takes deadlines; without one the read still ends when the
	// child execs or exits.
	_ = r.r.SetReadDeadline(time.Now().Add(timeout))
	msg, err := io.ReadAll(r.r)
	if len(msg) > 0 {
		return errors.New(strings.TrimSpace(string(msg)))
	}
	if err != nil {
		return fmt.Errorf("sandbox did not start within %s: %w", timeout, err)
	}
	return nil
}

// Abort closes every end; a child waiting at the gate then gives up.
func (r *Report) Abort() {
	for _, f := range []*os.File{r.r, r.w, r.gateR, r.gateW, r.consoleR, r.consoleW} {
		if f != nil {
			f.Close()
		}
	}
}

// Console receives the master end of a TTY sandbox's terminal; call it
// after Wait returned nil.
func (r *Report) Console() (*os.File, error) {
	if r.consoleR == nil {
		return nil, errors.New("the sandbox has no terminal")
	}
	defer r.consoleR.Close()
	return recvFile(r.consoleR)
}

// Command returns the command that starts spec in a new sandbox: self
// re-executed with new mount and PID namespaces, and new IPC and UTS ones
// unless the spec is InPod (then start it with Pod.Start).
func Command(self string, spec Spec) (*exec.Cmd, *Report, error) {
	if len(spec.Args) == 0 {
		return nil, nil, errors.New("sandbox spec has no command")
	}
	if err := os.MkdirAll(spec.StateDir, 0o700); err != nil {
		return nil, nil, err
	}
	data, err := spec.encode()
	if err != nil {
		return nil, nil, err
	}
	path := filepath.Join(spec.StateDir, "spec")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		return nil, nil, err
	}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, nil, err
	}
	gateR, gateW, err := os.Pipe()
	if err != nil {
		r.Close()
		w.Close()
		return nil, nil, err
	}
	report := &Report{r: r, w: w, gateR: gateR, gateW: gateW}
	cmd := exec.Command(self)
	cmd.ExtraFiles = []*os.File{w, gateR} // fds 3 and 4 in the child
	if spec.TTY {
		if report.consoleR, report.consoleW, err = socketPair(); err != nil {
			report.Abort()
			return nil, nil, err
		}
		cmd.ExtraFiles = append(cmd.ExtraFiles, report.consoleW) // fd 5
	}
	cmd.Args = []string{"skiff-sandbox:" + filepath.Base(spec.Args[0])}
	cmd.Env = []string{EnvSpec + "=" + path}
	flags := uintptr(syscall.CLONE_NEWNS | syscall.CLONE_NEWPID)
	if !spec.InPod {
		flags |= syscall.CLONE_NEWIPC | syscall.CLONE_NEWUTS
	}
	// A terminal needs a session of its own (which is a process group too).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: !spec.TTY, Setsid: spec.TTY, Cloneflags: flags}
	return cmd, report, nil
}

// Available reports whether sandboxes can be made here, and if not, why.
func Available() (bool, string) {
	if !childBuiltIn {
		return false, "skiff was built without cgo, which its sandboxes need"
	}
	if os.Geteuid() != 0 {
		return false, "skiff is not running as root"
	}
	data, err := os.ReadFile("/proc/filesystems")
	if err != nil || !strings.Contains(string(data), "overlay") {
		return false, "the kernel has no overlay filesystem"
	}
	return true, ""
}

// EnvEnter names the fd of an enter spec (see EnterCommand).
const EnvEnter = "SKIFF_SANDBOX_ENTER"

// EnterCommand returns a command that runs argv inside the sandbox whose
// first process is pid (for kubectl exec and exec probes), with env as its
// environment, in that process's root and working directory, as user
// when set, holding no more than priv (nil: all of root's rights). Like
// runc's exec, it is self re-executed: nsexec.c joins the namespaces and
// drops the rights before anything of the pod's (a program, a library,
// LD_PRELOAD) is reached; the spec travels in a memfd, as fd 3, which the
// caller closes once the command has ended (see CloseFiles).
func EnterCommand(self string, pid int, argv []string, env []string, user *User, priv *Privileges) (*exec.Cmd, error) {
	if len(argv) == 0 {
		return nil, errors.New("no command given")
	}
	s := Spec{Args: argv, Env: env, User: user, Privileges: priv}
	if containsNUL(s) {
		return nil, errors.New("exec: a value holds a NUL byte")
	}
	var b strings.Builder
	put := specWriter(&b)
	put("enter_pid", strconv.Itoa(pid))
	s.putIdentity(put)
	// In memory: nothing to write to disk or to remove afterwards.
	fd, err := unix.MemfdCreate("skiff-exec-spec", unix.MFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("exec spec: %w", err)
	}
	spec := os.NewFile(uintptr(fd), "skiff-exec-spec")
	if _, err := spec.WriteString(b.String()); err != nil {
		spec.Close()
		return nil, fmt.Errorf("exec spec: %w", err)
	}
	cmd := exec.Command(self)
	cmd.Args = []string{"skiff-exec:" + filepath.Base(argv[0])}
	cmd.Env = []string{EnvEnter + "=3"}
	cmd.ExtraFiles = []*os.File{spec}
	return cmd, nil
}

// CloseFiles closes the parent's copies of the files cmd's child inherits.
func CloseFiles(cmd *exec.Cmd) {
	for _, f := range cmd.ExtraFiles {
		f.Close()
	}
}
