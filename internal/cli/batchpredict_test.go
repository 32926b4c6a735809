package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// TestBatchPredict runs skiff batch-predict on a CSV of the test model's
// three features: the output, the summary on stdout and in the
// termination log, and the shard from $JOB_COMPLETION_INDEX's absence.
func TestBatchPredict(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.csv")
	if err := os.WriteFile(in, []byte("id,a,b,c\nx,1,2,3\ny,0.5,-1,2\nz,oops,1,1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	g, stdout, _ := testGlobals(t)
	term := filepath.Join(dir, "termination-log")
	err := execute(t, g, []string{"batch-predict", "--model-path", "../modelserver/testdata/xgb-reg.json", "--input", filepath.Join(dir, "*.csv"),
		"--output", filepath.Join(dir, "out"), "--id-column", "id", "--max-bad-rows", "1", "--termination-log", term}, func(*cobra.Command) {})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stdout.String(), "shard 0: 3 rows in, 2 out, 1 bad") {
		t.Errorf("stdout: %s", stdout)
	}
	out, err := os.ReadFile(filepath.Join(dir, "out", "part-00000.csv"))
	if err != nil || !strings.HasPrefix(string(out), "id,prediction\nx,") || strings.Count(string(out), "\n") != 3 {
		t.Errorf("output %q, %v", out, err)
	}
	var summary struct{ RowsIn, RowsOut, BadRows int }
	data, _ := os.ReadFile(term)
	if err := json.Unmarshal(data, &summary); err != nil || summary.RowsIn != 3 || summary.RowsOut != 2 || summary.BadRows != 1 {
		t.Errorf("termination log %s: %+v, %v", data, summary, err)
	}

	g, _, _ = testGlobals(t)
	err = execute(t, g, []string{"batch-predict", "--model-path", "../modelserver/testdata/xgb-reg.json", "--input", filepath.Join(dir, "none-*.csv"), "--output", dir}, func(*cobra.Command) {})
	if err == nil || !strings.Contains(err.Error(), "none-*.csv\": no such file") {
		t.Errorf("a glob that matches nothing: %v", err)
	}
	err = execute(t, g, []string{"batch-predict", "--model-path", "../modelserver/testdata/xgb-reg.json", "--input", in, "--output", dir, "--shard", "2", "--shards", "2"}, func(*cobra.Command) {})
	if err == nil || !strings.Contains(err.Error(), "--shard 2 of --shards 2") {
		t.Errorf("a shard out of range: %v", err)
	}
}
