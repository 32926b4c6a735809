package modelserver

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/skiff-dev/skiff/internal/modelrepo"
)

// fuzzVersion loads the small XGBoost model with feature names, so that
// decoded requests go all the way to a prediction.
func fuzzVersion(f *testing.F) *modelrepo.Version {
	dir := f.TempDir()
	data, err := os.ReadFile("testdata/xgb-reg.json")
	if err != nil {
		f.Fatal(err)
	}
	_ = os.MkdirAll(filepath.Join(dir, "m", "1"), 0o755)
	_ = os.WriteFile(filepath.Join(dir, "m", "model.yaml"), []byte("format: xgboost\nfeatures: [a, b, c]\n"), 0o644)
	_ = os.WriteFile(filepath.Join(dir, "m", "1", "model.json"), data, 0o644)
	repo, err := modelrepo.New(dir, nil)
	if err != nil {
		f.Fatal(err)
	}
	repo.Scan(context.Background())
	v, err := repo.Version("m", "")
	if err != nil {
		f.Fatal(err)
	}
	return v
}

// FuzzV2Request decodes v2 JSON requests and predicts: whatever the bytes,
// the answer is a prediction or an error, never a panic.
func FuzzV2Request(f *testing.F) {
	v := fuzzVersion(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		var req v2Request
		if decodeJSON(body, &req) != nil {
			return
		}
		var inputs []tensor
		for _, in := range req.Inputs {
			nums, strs, err := parseData(in.Name, in.Data)
			if err != nil {
				return
			}
			inputs = append(inputs, tensor{name: in.Name, datatype: in.Datatype, shape: in.Shape, nums: nums, strs: strs})
		}
		var wanted []string
		for _, o := range req.Outputs {
			wanted = append(wanted, o.Name)
		}
		outs, err := predict(v, inputs, wanted)
		if err == nil && len(outs) == 0 && len(wanted) == 0 {
			t.Fatal("a prediction without outputs")
		}
		if err != nil && classify(err) == kindInternal {
			t.Fatalf("a request's bytes caused an internal error: %v", err)
		}
	})
}

// FuzzInstance decodes v1 instances and /predict objects.
func FuzzInstance(f *testing.F) {
	v := fuzzVersion(f)
	f.Fuzz(func(t *testing.T, raw []byte) {
		row, err := instanceRow(v, raw)
		if err == nil && len(row) != 3 {
			t.Fatalf("a row of %d values for a 3-feature model", len(row))
		}
	})
}
