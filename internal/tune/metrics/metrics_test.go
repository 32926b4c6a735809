package metrics

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func read(t *testing.T, names, formats []string, lines ...string) *Reader {
	t.Helper()
	r, err := NewReader(names, formats, 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range lines {
		r.Line(l)
	}
	return r
}

func TestReadsKatibAndJSONLines(t *testing.T) {
	r := read(t, []string{"accuracy", "loss"}, nil,
		"epoch 1 starting",
		"accuracy=0.71 loss=0.9",
		`{"accuracy": 0.85, "loss": 0.5, "step": 5}`,
		"Validation-accuracy=0.99 ignored, accuracy = 0.80",
		`{"loss": "0.4"}`,
	)
	want := []Point{{Step: 1, Value: 0.71}, {Step: 5, Value: 0.85}, {Step: 3, Value: 0.80}}
	if diff := cmp.Diff(want, r.Points("accuracy")); diff != "" {
		t.Errorf("accuracy (-want +got):\n%s", diff)
	}
	s, ok := r.Summary("accuracy")
	if !ok || s.Min != 0.71 || s.Max != 0.85 || s.Latest != 0.80 || s.Value(Max) != 0.85 {
		t.Errorf("summary %+v", s)
	}
	if l, _ := r.Summary("loss"); l.Latest != 0.4 || l.Count != 3 {
		t.Errorf("loss %+v", l)
	}
}

func TestCustomFormat(t *testing.T) {
	r := read(t, []string{"f1"}, []string{`METRIC (\w+): ([-+.\deE]+)`}, "METRIC f1: 0.5", "f1=0.9")
	if s, _ := r.Summary("f1"); s.Latest != 0.5 || s.Count != 1 {
		t.Errorf("f1 %+v: the custom format replaces the default", s)
	}
	for _, bad := range []string{"(", "no groups"} {
		if _, err := NewReader([]string{"x"}, []string{bad}, 10); err == nil || !strings.Contains(err.Error(), "metricsFormat") {
			t.Errorf("format %q: %v", bad, err)
		}
	}
}

func TestKeepsTheFirstAndTheLatest(t *testing.T) {
	r, _ := NewReader([]string{"loss"}, nil, 3)
	for _, l := range []string{"loss=5", "loss=4", "loss=3", "loss=2", "loss=1"} {
		r.Line(l)
	}
	want := []Point{{1, 5}, {4, 2}, {5, 1}}
	if diff := cmp.Diff(want, r.Points("loss")); diff != "" {
		t.Errorf("points (-want +got):\n%s", diff)
	}
	if s, _ := r.Summary("loss"); s.Count != 5 {
		t.Errorf("count %d", s.Count)
	}
}

func TestMissingSaysWhatWasSeen(t *testing.T) {
	r := read(t, []string{"accuracy", "loss"}, nil, "training...", "warning", "epoch 1", "epoch 2", "epoch 3", "loss=0.3")
	if _, ok := r.Summary("accuracy"); ok {
		t.Fatal("accuracy found")
	}
	msg := r.Missing("accuracy")
	for _, want := range []string{`metric "accuracy" was not reported in 6 lines`, "it did report loss", `it printed "training...", "warning", ..., "epoch 2", "epoch 3", "loss=0.3"`} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q lacks %q", msg, want)
		}
	}
	empty := read(t, []string{"accuracy"}, nil)
	if msg := empty.Missing("accuracy"); !strings.Contains(msg, "printed nothing") {
		t.Errorf("message %q", msg)
	}
}
