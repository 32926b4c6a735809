package sandbox

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestLookPath(t *testing.T) {
	dir := t.TempDir()
	exe := filepath.Join(dir, "tool")
	if err := os.WriteFile(exe, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	plain := filepath.Join(dir, "data")
	if err := os.WriteFile(plain, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		file, path, dir string
		want            string
		wantErr         string
	}{
		{"tool", "/nonexistent:" + dir, "", exe, ""},
		{"./tool", "", dir, exe, ""},
		{exe, "", "", exe, ""},
		{"data", dir, "", "", "not found in $PATH"},
		{"missing", dir, "", "", "not found in $PATH"},
		{plain, "", "", "", "no such executable"},
	}
	for _, tt := range tests {
		got, err := LookPath(tt.file, tt.path, tt.dir)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("LookPath(%q) error = %v, want %q", tt.file, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("LookPath(%q) = %q, %v; want %q", tt.file, got, err, tt.want)
		}
	}
}

func TestCommandWritesSpecAndAsksForNamespaces(t *testing.T) {
	// A root of its own, where /var/run is a symlink to /run.
	lower := t.TempDir()
	if err := os.MkdirAll(filepath.Join(lower, "var"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../run", filepath.Join(lower, "var", "run")); err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(t.TempDir(), "c0")
	spec := Spec{
		Lower: lower, StateDir: state, Hostname: "web-0", Args: []string{"python3", "api.py"}, Env: []string{"PATH=/usr/bin"}, Dir: "/app",
		Mounts: []Mount{{Source: "/host/token", Target: "/var/run/secrets/token", ReadOnly: true}, {Target: "/cache", Tmpfs: true, Size: 1 << 20}},
		User:   &User{UID: 1000, GID: 3000, Groups: []uint32{2000}},
	}
	cmd, report, err := Command("/proc/self/exe", spec)
	if err != nil {
		t.Fatal(err)
	}
	defer report.Abort()
	if len(cmd.ExtraFiles) != 2 {
		t.Errorf("child gets %d extra files, want the report and gate pipes", len(cmd.ExtraFiles))
	}
	want := uintptr(syscall.CLONE_NEWNS | syscall.CLONE_NEWPID | syscall.CLONE_NEWIPC | syscall.CLONE_NEWUTS)
	if cmd.SysProcAttr.Cloneflags != want || !cmd.SysProcAttr.Setpgid {
		t.Errorf("clone flags %x setpgid %v; want %x, true", cmd.SysProcAttr.Cloneflags, cmd.SysProcAttr.Setpgid, want)
	}
	if diff := cmp.Diff([]string{EnvSpec + "=" + filepath.Join(state, "spec")}, cmd.Env); diff != "" {
		t.Errorf("env (-want +got):\n%s", diff)
	}
	data, err := os.ReadFile(filepath.Join(state, "spec"))
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Split(strings.TrimSuffix(string(data), "\x00"), "\x00")
	wantSpec := []string{
		"lower", lower, "state", state, "hostname", "web-0", "dir", "/app",
		"user", "1000", "3000", "1", "2000",
		"arg", "python3", "arg", "api.py", "env", "PATH=/usr/bin",
		// The symlink resolved inside the root.
		"mount", "/host/token", "/run/secrets/token", "1", "0", "",
		"mount", "", "/cache", "0", "1", "1048576",
		"write", "/etc/hostname", "web-0\n",
		"write", "/etc/hosts", "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\tweb-0\n",
	}
	if diff := cmp.Diff(wantSpec, got); diff != "" {
		t.Errorf("encoded spec (-want +got):\n%s", diff)
	}
	if _, _, err := Command("/proc/self/exe", Spec{StateDir: state}); err == nil {
		t.Error("Command accepted a spec without a command")
	}
	if _, _, err := Command("/proc/self/exe", Spec{StateDir: state, Args: []string{"a\x00b"}}); err == nil {
		t.Error("Command accepted a NUL in an argument")
	}
}
