// Package instance manages one running skiff on one data dir: its state
// file, starting it in the background, stopping it and reporting on it.
package instance

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/skiff-dev/skiff/internal/atomicfile"
	"github.com/skiff-dev/skiff/internal/datadir"
)

// State is what a running skiff records about itself in run/state.json.
type State struct {
	PID        int       `json:"pid"`
	APIServer  string    `json:"apiServer"`
	Kubeconfig string    `json:"kubeconfig"`
	DataDir    string    `json:"dataDir"`
	StartedAt  time.Time `json:"startedAt"`
	ReadyAt    time.Time `json:"readyAt"`
	Versions   Versions  `json:"versions"`
}

// Versions of the parts skiff runs.
type Versions struct {
	Skiff      string `json:"skiff"`
	Kubernetes string `json:"kubernetes"`
	Etcd       string `json:"etcd"`
	Go         string `json:"go"`
}

// WriteState records s atomically.
func WriteState(l datadir.Layout, s State) error {
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(l.StateFile, append(data, '\n'), 0o600)
}

// ReadState reads the state file; ok is false when there is none.
func ReadState(l datadir.Layout) (s State, ok bool, err error) {
	data, err := os.ReadFile(l.StateFile)
	if errors.Is(err, os.ErrNotExist) {
		return State{}, false, nil
	}
	if err != nil {
		return State{}, false, err
	}
	if err := json.Unmarshal(data, &s); err != nil {
		return State{}, false, fmt.Errorf("state file %s is damaged (%v); it is rewritten on the next skiff up", l.StateFile, err)
	}
	return s, true, nil
}

// RemoveState deletes the state file, if any.
func RemoveState(l datadir.Layout) error {
	err := os.Remove(l.StateFile)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return err
}
