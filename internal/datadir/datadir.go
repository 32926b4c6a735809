// Package datadir lays out skiff's data directory (etcd, certificates,
// kubeconfig, logs, run state) and guards it with a lock so that only one
// skiff runs on it at a time.
package datadir

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/skiff-dev/skiff/internal/pki"
)

// EnvHome overrides the default data directory.
const EnvHome = "SKIFF_HOME"

// Layout names every path inside one data directory.
type Layout struct {
	Root       string
	EtcdDir    string
	LogsDir    string
	RunDir     string
	Kubeconfig string
	LockFile   string
	StateFile  string
	LogFile    string
	PKI        pki.Paths
}

// New lays out the data directory at root (made absolute).
func New(root string) (Layout, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return Layout{}, fmt.Errorf("data dir %q: %w", root, err)
	}
	j := func(p ...string) string { return filepath.Join(append([]string{abs}, p...)...) }
	return Layout{
		Root:       abs,
		EtcdDir:    j("etcd"),
		LogsDir:    j("logs"),
		RunDir:     j("run"),
		Kubeconfig: j("kubeconfig"),
		LockFile:   j("run", "skiff.lock"),
		StateFile:  j("run", "state.json"),
		LogFile:    j("logs", "skiff.log"),
		PKI:        pki.PathsIn(j("pki")),
	}, nil
}

// Default returns $SKIFF_HOME, or ~/.skiff.
func Default() (string, error) {
	if v := os.Getenv(EnvHome); v != "" {
		return v, nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("finding the home directory for the default data dir (set --data-dir or %s): %w", EnvHome, err)
	}
	return filepath.Join(home, ".skiff"), nil
}

// ErrNotWritable marks a data directory skiff cannot write to.
var ErrNotWritable = errors.New("data dir is not writable")

// Prepare creates the directories of l and proves the root is writable.
func (l Layout) Prepare() error {
	for _, d := range []string{l.Root, l.LogsDir, l.RunDir, l.PKI.Dir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return fmt.Errorf("%w: %s: %v (choose another with --data-dir or fix its permissions)", ErrNotWritable, l.Root, unwrapPath(err))
		}
	}
	probe, err := os.CreateTemp(l.RunDir, ".write-probe*")
	if err != nil {
		return fmt.Errorf("%w: %s: %v (choose another with --data-dir or fix its permissions)", ErrNotWritable, l.Root, unwrapPath(err))
	}
	probe.Close()
	return os.Remove(probe.Name())
}

// unwrapPath drops the repeated path from *PathError messages.
func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s %s: %w", pe.Op, pe.Path, pe.Err)
	}
	return err
}

// InstanceID names the skiff that uses data dir dir among others on the
// machine (its cgroups, its memory volumes): a short hash of the absolute
// path, stable across restarts so a crashed skiff's leftovers are found.
func InstanceID(dir string) string {
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	sum := sha256.Sum256([]byte(dir))
	return hex.EncodeToString(sum[:6])
}
