package sandbox

import (
	"encoding/json"
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
	state := filepath.Join(t.TempDir(), "c0")
	spec := Spec{Lower: "/", StateDir: state, Hostname: "web-0", Args: []string{"python3", "api.py"}, Env: []string{"PATH=/usr/bin"}, Dir: "/app"}
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
	if diff := cmp.Diff([]string{EnvSpec + "=" + filepath.Join(state, "spec.json")}, cmd.Env); diff != "" {
		t.Errorf("env (-want +got):\n%s", diff)
	}
	data, err := os.ReadFile(filepath.Join(state, "spec.json"))
	if err != nil {
		t.Fatal(err)
	}
	var got Spec
	if err := json.Unmarshal(data, &got); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(spec, got); diff != "" {
		t.Errorf("spec round trip (-want +got):\n%s", diff)
	}
	if _, _, err := Command("/proc/self/exe", Spec{StateDir: state}); err == nil {
		t.Error("Command accepted a spec without a command")
	}
}
