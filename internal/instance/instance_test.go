package instance

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/skiff-dev/skiff/internal/datadir"
	"github.com/skiff-dev/skiff/internal/progress"
)

func TestReadReport(t *testing.T) {
	t.Parallel()
	info := func(msg string) progress.Line { return progress.Line{Level: progress.Info, Msg: msg} }
	tests := []struct {
		name         string
		report       string
		wantErr      string // empty: ready
		wantProgress []progress.Line
	}{
		{
			name:         "ready",
			report:       "progress starting etcd\nprogress starting kube-apiserver\nready \n",
			wantProgress: []progress.Line{info("starting etcd"), info("starting kube-apiserver")},
		},
		{
			name:         "warnings keep their level",
			report:       "progress starting etcd\nwarning no GPUs offered\nready \n",
			wantProgress: []progress.Line{info("starting etcd"), {Level: progress.Warning, Msg: "no GPUs offered"}},
		},
		{
			name:         "failed",
			report:       "progress starting etcd\nerror port already in use: port 6443\n",
			wantErr:      "port already in use: port 6443",
			wantProgress: []progress.Line{info("starting etcd")},
		},
		{
			name:         "died silently",
			report:       "progress starting etcd\n",
			wantErr:      "exited during start-up",
			wantProgress: []progress.Line{info("starting etcd")},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var rec progress.Recorder
			err := readReport(strings.NewReader(tt.report), progress.New(rec.Sink))
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("readReport = %v, want ready", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("readReport = %v, want error with %q", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.wantProgress, rec.Lines()); diff != "" {
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
