package progress

import (
	"bytes"
	"regexp"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestTerminal(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		quiet bool
		want  []string
	}{
		{name: "all lines", quiet: false, want: []string{"starting etcd", "warning: no GPUs offered"}},
		{name: "quiet keeps warnings", quiet: true, want: []string{"warning: no GPUs offered"}},
	}
	stamp := regexp.MustCompile(`(?m)^\d\d:\d\d:\d\d\.\d\d\d (.*)$`)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var out bytes.Buffer
			r := New(Terminal(&out, tt.quiet))
			r.Info("starting %s", "etcd")
			r.Warn("no GPUs offered")
			var got []string
			for _, m := range stamp.FindAllStringSubmatch(out.String(), -1) {
				got = append(got, m[1])
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("lines (-want +got):\n%s", diff)
			}
		})
	}
}

func TestNilReporterIsSilent(t *testing.T) {
	t.Parallel()
	var r *Reporter
	r.Info("nothing")
	r.Warn("nothing")
}

func TestRecorder(t *testing.T) {
	t.Parallel()
	var rec Recorder
	r := New(rec.Sink)
	r.Info("a %d", 1)
	r.Warn("b")
	want := []Line{{Info, "a 1"}, {Warning, "b"}}
	if diff := cmp.Diff(want, rec.Lines()); diff != "" {
		t.Errorf("lines (-want +got):\n%s", diff)
	}
}
