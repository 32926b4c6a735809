package batch

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/skiff-dev/skiff/internal/model"
)

func loadModel(t testing.TB) model.Model {
	t.Helper()
	m, err := model.Load("xgboost", "../modelserver/testdata/xgb-reg.json")
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// writeCSV writes rows of an id and three features; bad lists line
// numbers (1 is the header) written malformed.
func writeCSV(t testing.TB, path string, rows int, bad ...int) [][]float64 {
	t.Helper()
	var b strings.Builder
	b.WriteString("id,a,b,c\n")
	var x [][]float64
	for i := range rows {
		line := i + 2
		switch {
		case contains(bad, line) && line%2 == 0:
			fmt.Fprintf(&b, "r%d,1.5,oops,2\n", i)
		case contains(bad, line):
			fmt.Fprintf(&b, "r%d,1.5\n", i)
		default:
			row := []float64{float64(i%17) / 3, float64(i%5) - 2, float64(i%11) * 0.25}
			x = append(x, row)
			fmt.Fprintf(&b, "r%d,%g,%g,%g\n", i, row[0], row[1], row[2])
		}
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return x
}

func contains(xs []int, v int) bool {
	for _, x := range xs {
		if x == v {
			return true
		}
	}
	return false
}

// predictions reads a CSV output's id and prediction columns.
func predictions(t *testing.T, path string) (ids []string, preds []float64) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Scan() // header
	for sc.Scan() {
		fields := strings.Split(sc.Text(), ",")
		v, err := strconv.ParseFloat(fields[len(fields)-1], 64)
		if err != nil {
			t.Fatalf("%s: %q: %v", path, sc.Text(), err)
		}
		ids, preds = append(ids, fields[0]), append(preds, v)
	}
	return ids, preds
}

func want(t *testing.T, m model.Model, rows [][]float64) []float64 {
	t.Helper()
	var flat []float64
	for _, r := range rows {
		flat = append(flat, r...)
	}
	out, err := m.Predict(flat, len(rows))
	if err != nil {
		t.Fatal(err)
	}
	return out[0].Numbers
}

func TestRunCSV(t *testing.T) {
	m := loadModel(t)
	dir := t.TempDir()
	in := filepath.Join(dir, "in.csv")
	rows := writeCSV(t, in, 10000)
	job := Job{Model: m, Inputs: []string{in}, Format: CSV, OutputDir: filepath.Join(dir, "out"), IDColumns: []string{"id"}, Workers: 2, BlockRows: 333}
	res, err := job.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if res.RowsIn != 10000 || res.RowsOut != 10000 || res.BadRows != 0 {
		t.Errorf("rows in %d out %d bad %d", res.RowsIn, res.RowsOut, res.BadRows)
	}
	ids, got := predictions(t, res.Output)
	for i, id := range ids {
		if id != "r"+strconv.Itoa(i) {
			t.Fatalf("row %d is %s: the output is not in input order", i, id)
		}
	}
	w := want(t, m, rows)
	for i := range w {
		if math.Abs(got[i]-w[i]) > 1e-12 {
			t.Fatalf("row %d: %v, the model says %v", i, got[i], w[i])
		}
	}
	if len(res.Inputs) != 1 || len(res.Inputs[0].SHA256) != 64 || res.Inputs[0].Rows != 10000 {
		t.Errorf("inputs %+v", res.Inputs)
	}
	if _, err := os.Stat(filepath.Join(dir, "out", SummaryName(0))); err != nil {
		t.Errorf("no summary: %v", err)
	}
	leftovers, _ := filepath.Glob(filepath.Join(dir, "out", ".*"))
	if len(leftovers) > 0 {
		t.Errorf("scratch files left: %v", leftovers)
	}
}

// TestShardsCoverEveryRowOnce: three shards over one file, by blocks of
// rows, write every row exactly once.
func TestShardsCoverEveryRowOnce(t *testing.T) {
	m := loadModel(t)
	dir := t.TempDir()
	in := filepath.Join(dir, "in.csv")
	writeCSV(t, in, 5000)
	var all []string
	for shard := range 3 {
		res, err := Job{Model: m, Inputs: []string{in}, Format: CSV, OutputDir: dir, IDColumns: []string{"id"}, Shard: shard, Shards: 3, BlockRows: 128}.Run(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		ids, _ := predictions(t, res.Output)
		all = append(all, ids...)
	}
	sort.Strings(all)
	if len(all) != 5000 {
		t.Fatalf("%d rows over the shards, want 5000", len(all))
	}
	for i := 1; i < len(all); i++ {
		if all[i] == all[i-1] {
			t.Fatalf("row %s written twice", all[i])
		}
	}
}

func TestBadRows(t *testing.T) {
	m := loadModel(t)
	dir := t.TempDir()
	in := filepath.Join(dir, "in.csv")
	writeCSV(t, in, 1000, 5, 100, 901)
	res, err := Job{Model: m, Inputs: []string{in}, Format: CSV, OutputDir: dir, IDColumns: []string{"id"}, MaxBadRows: 3, BlockRows: 64}.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if res.RowsIn != 1000 || res.RowsOut != 997 || res.BadRows != 3 {
		t.Errorf("rows in %d out %d bad %d", res.RowsIn, res.RowsOut, res.BadRows)
	}
	data, err := os.ReadFile(res.Errors)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	var got []string
	for _, l := range lines {
		got = append(got, l[strings.Index(l, `"line"`):])
	}
	if diff := cmp.Diff([]string{
		`"line":5,"reason":"2 fields, the header has 4"}`,
		`"line":100,"reason":"column b: \"oops\" is not a number"}`,
		`"line":901,"reason":"2 fields, the header has 4"}`,
	}, got); diff != "" {
		t.Errorf("error file (-want +got):\n%s", diff)
	}

	// One more than allowed: the shard fails and leaves no output.
	out := filepath.Join(dir, "strict")
	_, err = Job{Model: m, Inputs: []string{in}, Format: CSV, OutputDir: out, IDColumns: []string{"id"}, MaxBadRows: 2}.Run(context.Background())
	if !errors.Is(err, ErrTooManyBadRows) || !strings.Contains(err.Error(), "line 901") {
		t.Errorf("error %v, want too many bad rows naming the last", err)
	}
	if files, _ := os.ReadDir(out); len(files) != 0 {
		t.Errorf("a failed shard left %v", files)
	}
}

func TestJSONLines(t *testing.T) {
	m := loadModel(t)
	dir := t.TempDir()
	in := filepath.Join(dir, "in.jsonl")
	content := `{"id": "x", "a": 1, "b": 2, "c": 3}` + "\n" + `{"id": "y", "a": 0.5, "b": -1, "c": null}` + "\n"
	if err := os.WriteFile(in, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := Job{Model: m, Inputs: []string{in}, Format: JSONL, OutputDir: dir, IDColumns: []string{"id"}}.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(res.Output)
	w := want(t, m, [][]float64{{1, 2, 3}})
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if len(lines) != 2 || lines[0] != fmt.Sprintf(`{"id":"x","prediction":%s}`, strconv.FormatFloat(w[0], 'g', -1, 64)) || !strings.HasPrefix(lines[1], `{"id":"y","prediction":`) {
		t.Errorf("output:\n%s", data)
	}
}

func TestLayoutErrors(t *testing.T) {
	named := model.Info{Features: 2, FeatureNames: []string{"rooms", "age"}}
	tests := []struct {
		name    string
		columns []string
		info    model.Info
		carry   []string
		want    string
	}{
		{"a feature missing", []string{"id", "rooms"}, named, nil, "in.csv: the model's features age are not columns of the input (it has id, rooms)"},
		{"an id column missing", []string{"rooms", "age"}, named, []string{"id"}, "in.csv: the output's id columns id are not columns of the input (it has rooms, age)"},
		{"no names, too many columns", []string{"id", "a", "b"}, model.Info{Features: 2}, nil, "in.csv: 3 feature columns (id, a, b, less the id columns), but the model takes 2 features"},
		{"twice", []string{"a", "a"}, model.Info{Features: 2}, nil, `in.csv: column "a" appears twice`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := newLayout("in.csv", tt.columns, tt.info, tt.carry)
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("error %v, want %q", err, tt.want)
			}
		})
	}
	l, err := newLayout("in.csv", []string{"age", "id", "rooms"}, named, []string{"id"})
	if err != nil || !cmp.Equal(l.feature, []int{1, -1, 0}) || !cmp.Equal(l.carry, []int{1}) {
		t.Errorf("by name: %+v, %v", l, err)
	}
}
