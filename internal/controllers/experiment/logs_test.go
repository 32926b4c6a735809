package experiment

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestLinesSkipsOverlongLines: a line past maxLine is skipped and the
// lines after it are read; ends of line go, a last line without one is
// read too.
func TestLinesSkipsOverlongLines(t *testing.T) {
	log := "step=1 loss=2\r\n" + strings.Repeat("#", maxLine+10) + "\n\nstep=2 loss=1\nloss=0.5"
	var got []string
	if err := lines(strings.NewReader(log), func(l string) { got = append(got, l) }); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"step=1 loss=2", "", "step=2 loss=1", "loss=0.5"}, got); diff != "" {
		t.Errorf("lines (-want +got):\n%s", diff)
	}
}
