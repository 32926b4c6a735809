package datadir

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A child test process holds the lock when this variable names a data dir.
const envHoldLock = "SKIFF_TEST_HOLD_LOCK"

func TestMain(m *testing.M) {
	if dir := os.Getenv(envHoldLock); dir != "" {
		l, _ := New(dir)
		if _, err := Acquire(l); err != nil {
			fmt.Println("lock failed:", err)
			os.Exit(1)
		}
		fmt.Println("locked")
		time.Sleep(time.Minute)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestLockIsExclusiveAndReleased(t *testing.T) {
	l, err := New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	first, err := Acquire(l)
	if err != nil {
		t.Fatal(err)
	}
	if held, pid, _ := Held(l); !held || pid != os.Getpid() {
		t.Errorf("Held = %v, pid %d; want true, %d", held, pid, os.Getpid())
	}
	_, err = Acquire(l)
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("second Acquire error = %v, want ErrLocked", err)
	}
	for _, want := range []string{l.Root, fmt.Sprintf("pid %d", os.Getpid()), "skiff down"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if err := first.Release(); err != nil {
		t.Fatal(err)
	}
	if held, _, _ := Held(l); held {
		t.Error("lock still held after Release")
	}
	again, err := Acquire(l)
	if err != nil {
		t.Fatalf("Acquire after Release: %v", err)
	}
	again.Release()
}

func TestLockFreedWhenHolderIsKilled(t *testing.T) {
	dir := t.TempDir()
	l, _ := New(dir)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envHoldLock+"="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	buf := make([]byte, 16)
	if n, _ := out.Read(buf); !strings.HasPrefix(string(buf[:n]), "locked") {
		t.Fatalf("helper said %q", buf[:n])
	}
	if _, err := Acquire(l); !errors.Is(err, ErrLocked) {
		t.Fatalf("Acquire while helper holds the lock: %v", err)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	lk, err := Acquire(l)
	if err != nil {
		t.Fatalf("lock not freed after kill -9: %v", err)
	}
	lk.Release()
}

func TestPrepareRefusesUnwritableDir(t *testing.T) {
	file := filepath.Join(t.TempDir(), "a-file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	l, _ := New(filepath.Join(file, "skiff"))
	err := l.Prepare()
	if !errors.Is(err, ErrNotWritable) {
		t.Fatalf("Prepare error = %v, want ErrNotWritable", err)
	}
	if !strings.Contains(err.Error(), "--data-dir") || !strings.Contains(err.Error(), "not a directory") {
		t.Errorf("error %q should name the cause and the --data-dir flag", err)
	}
}

func TestDefaultHonoursEnv(t *testing.T) {
	t.Setenv(EnvHome, "/srv/skiff-home")
	got, err := Default()
	if err != nil || got != "/srv/skiff-home" {
		t.Errorf("Default() = %q, %v", got, err)
	}
	t.Setenv(EnvHome, "")
	t.Setenv("HOME", "/home/ds")
	if got, _ := Default(); got != "/home/ds/.skiff" {
		t.Errorf("Default() = %q, want /home/ds/.skiff", got)
	}
}

func TestInstanceID(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	if InstanceID(a) == InstanceID(b) {
		t.Errorf("two data dirs share instance id %s", InstanceID(a))
	}
	if got := InstanceID(a + "/."); got != InstanceID(a) {
		t.Errorf("the same dir written two ways: %s and %s", got, InstanceID(a))
	}
	if len(InstanceID(a)) != 12 {
		t.Errorf("id %q, want 12 hex digits", InstanceID(a))
	}
}
