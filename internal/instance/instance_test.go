package instance

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/skiff-dev/skiff/internal/datadir"
)

func TestReadReport(t *testing.T) {
	tests := []struct {
		name         string
		report       string
		wantErr      string // empty: ready
		wantProgress string
	}{
		{"ready", "progress starting etcd\nprogress starting kube-apiserver\nready \n", "", "starting etcd\nstarting kube-apiserver\n"},
		{"failed", "progress starting etcd\nerror port already in use: port 6443\n", "port already in use: port 6443", "starting etcd\n"},
		{"died silently", "progress starting etcd\n", "exited during start-up", "starting etcd\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			err := readReport(strings.NewReader(tt.report), &out)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("readReport = %v, want ready", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("readReport = %v, want error with %q", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.wantProgress, out.String()); diff != "" {
				t.Errorf("progress (-want +got):\n%s", diff)
			}
		})
	}
}

func TestStateRoundTripAndDamage(t *testing.T) {
	l, err := datadir.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if _, ok, err := ReadState(l); ok || err != nil {
		t.Fatalf("ReadState on empty dir = %v, %v", ok, err)
	}
	want := State{PID: 42, APIServer: "https://127.0.0.1:6443", DataDir: l.Root, StartedAt: time.Unix(100, 0).UTC(), Versions: CurrentVersions()}
	if err := WriteState(l, want); err != nil {
		t.Fatal(err)
	}
	got, ok, err := ReadState(l)
	if err != nil || !ok {
		t.Fatalf("ReadState = %v, %v", ok, err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("state (-want +got):\n%s", diff)
	}
	if err := os.WriteFile(l.StateFile, []byte(`{"pid": 4`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := ReadState(l); err == nil || !strings.Contains(err.Error(), "damaged") {
		t.Errorf("ReadState of a truncated file = %v, want a 'damaged' error", err)
	}
	if err := RemoveState(l); err != nil {
		t.Fatal(err)
	}
	if err := RemoveState(l); err != nil {
		t.Errorf("RemoveState twice: %v", err)
	}
}

func TestStopWhenNothingRuns(t *testing.T) {
	l, _ := datadir.New(t.TempDir())
	ran, err := Stop(l, time.Second, func(string) {})
	if ran || err != nil {
		t.Errorf("Stop on an idle data dir = %v, %v; want false, nil", ran, err)
	}
	st, err := GetStatus(l)
	if err != nil || st.Running {
		t.Errorf("GetStatus = %+v, %v; want not running", st, err)
	}
}
