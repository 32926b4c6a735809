package batch

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/parquet-go/parquet-go"
)

type inputRow struct {
	ID int64   `parquet:"id"`
	A  float64 `parquet:"a"`
	B  float32 `parquet:"b"`
	C  int32   `parquet:"c"`
}

type outputRow struct {
	ID         *string `parquet:"id,optional"`
	Prediction float64 `parquet:"prediction"`
}

// TestParquet: Parquet in (numbers of several types) and out, rows in
// order, predictions as the model's.
func TestParquet(t *testing.T) {
	m := loadModel(t)
	dir := t.TempDir()
	in := filepath.Join(dir, "in.parquet")
	var rows []inputRow
	var x [][]float64
	for i := range 3000 {
		r := inputRow{ID: int64(i), A: float64(i%17) / 3, B: float32(i%5) - 2, C: int32(i % 11)}
		rows = append(rows, r)
		x = append(x, []float64{r.A, float64(r.B), float64(r.C)})
	}
	if err := parquet.WriteFile(in, rows); err != nil {
		t.Fatal(err)
	}
	res, err := Job{Model: m, Inputs: []string{in}, Format: Parquet, OutputDir: dir, OutputFormat: Parquet, IDColumns: []string{"id"}, BlockRows: 500}.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	got, err := parquet.ReadFile[outputRow](res.Output)
	if err != nil {
		t.Fatal(err)
	}
	w := want(t, m, x)
	if len(got) != len(w) || res.RowsOut != int64(len(w)) {
		t.Fatalf("%d rows out (%d), want %d", len(got), res.RowsOut, len(w))
	}
	for i, r := range got {
		if r.ID == nil || *r.ID != strconv.Itoa(i) || math.Abs(r.Prediction-w[i]) > 1e-12 {
			t.Fatalf("row %d: %v %v, want %d %v", i, r.ID, r.Prediction, i, w[i])
		}
	}
	if fi, err := os.Stat(filepath.Join(dir, SummaryName(0))); err != nil || fi.Size() == 0 {
		t.Errorf("summary: %v", err)
	}

	// Parquet in, CSV out.
	res, err = Job{Model: m, Inputs: []string{in}, Format: Parquet, OutputDir: filepath.Join(dir, "csv"), OutputFormat: CSV, IDColumns: []string{"id"}}.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ids, preds := predictions(t, res.Output)
	if len(ids) != 3000 || ids[2999] != "2999" || math.Abs(preds[7]-w[7]) > 1e-12 {
		t.Errorf("CSV from Parquet: %d rows, last %s", len(ids), ids[len(ids)-1])
	}
}
