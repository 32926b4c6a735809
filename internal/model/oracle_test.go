package model

import (
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// pythonWithLibraries finds Debian's python3 with scikit-learn and XGBoost,
// the oracles. CI installs them; elsewhere the test says what is missing.
func pythonWithLibraries(t *testing.T) string {
	t.Helper()
	for _, py := range []string{"/usr/bin/python3", "python3"} {
		if exec.Command(py, "-c", "import sklearn, xgboost").Run() == nil {
			return py
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("python3 with scikit-learn and XGBoost is required in CI (python3-sklearn python3-xgboost)")
	}
	t.Skip("needs python3-sklearn and python3-xgboost (apt-get install python3-sklearn python3-xgboost)")
	return ""
}

type oracleCase struct {
	Name    string                     `json:"name"`
	Format  string                     `json:"format"`
	Model   string                     `json:"model"`
	X       [][]float64                `json:"x"`
	Outputs map[string]json.RawMessage `json:"outputs"`
}

// readCases reads the oracle's cases. Python writes missing values as a bare
// NaN, which encoding/json refuses, so NaN is quoted before decoding.
func readCases(t *testing.T, path string) []oracleCase {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var raw []struct {
		oracleCase
		X [][]any `json:"x"`
	}
	if err := json.Unmarshal(replaceNaN(data), &raw); err != nil {
		t.Fatal(err)
	}
	var cases []oracleCase
	for _, r := range raw {
		c := r.oracleCase
		for _, row := range r.X {
			vals := make([]float64, len(row))
			for i, v := range row {
				if f, ok := v.(float64); ok {
					vals[i] = f
				} else {
					vals[i] = math.NaN()
				}
			}
			c.X = append(c.X, vals)
		}
		cases = append(cases, c)
	}
	return cases
}

func replaceNaN(data []byte) []byte {
	out := make([]byte, 0, len(data))
	for i := 0; i < len(data); i++ {
		if i+3 <= len(data) && string(data[i:i+3]) == "NaN" {
			out = append(out, `"NaN"`...)
			i += 2
			continue
		}
		out = append(out, data[i])
	}
	return out
}

// TestAgreesWithLibraries trains every supported format and objective with
// the real libraries and requires skiff's prediction of each held-out row
// to match theirs to 1e-6 relative (labels exactly).
func TestAgreesWithLibraries(t *testing.T) {
	py := pythonWithLibraries(t)
	dir := t.TempDir()
	cmd := exec.Command(py, "testdata/oracle.py", dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("oracle.py: %v\n%s", err, out)
	}
	cases := readCases(t, filepath.Join(dir, "cases.json"))
	if len(cases) < 25 {
		t.Fatalf("oracle wrote %d cases, want every format and objective", len(cases))
	}
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			m, err := Load(c.Format, c.Model)
			if err != nil {
				t.Fatal(err)
			}
			var x []float64
			for _, row := range c.X {
				x = append(x, row...)
			}
			outs, err := m.Predict(x, len(c.X))
			if err != nil {
				t.Fatal(err)
			}
			if len(outs) != len(c.Outputs) {
				t.Fatalf("skiff gave %d outputs, the library %d", len(outs), len(c.Outputs))
			}
			for _, o := range outs {
				compareOutput(t, o, c.Outputs[o.Name])
			}
		})
	}
}

func compareOutput(t *testing.T, got Output, want json.RawMessage) {
	t.Helper()
	if got.Datatype == BYTES {
		var labels []string
		if err := json.Unmarshal(want, &labels); err != nil {
			t.Fatalf("%s: %v", got.Name, err)
		}
		for i := range labels {
			if got.Strings[i] != labels[i] {
				t.Errorf("%s row %d: skiff %q, library %q", got.Name, i, got.Strings[i], labels[i])
			}
		}
		return
	}
	var nested any
	if err := json.Unmarshal(want, &nested); err != nil {
		t.Fatalf("%s: %v", got.Name, err)
	}
	flat := flatten(nested)
	if len(flat) != len(got.Numbers) {
		t.Fatalf("%s: skiff gave %d values, the library %d", got.Name, len(got.Numbers), len(flat))
	}
	for i, w := range flat {
		g := got.Numbers[i]
		// 1e-6 relative; the floor only matters for probabilities near 0.
		if d := math.Abs(g - w); d > 1e-6*math.Max(math.Abs(g), math.Abs(w)) && d > 1e-12 {
			t.Errorf("%s value %d: skiff %.17g, library %.17g (relative difference %.3g)", got.Name, i, g, w, d/math.Abs(w))
		}
	}
}

func flatten(v any) []float64 {
	switch v := v.(type) {
	case []any:
		var out []float64
		for _, e := range v {
			out = append(out, flatten(e)...)
		}
		return out
	case float64:
		return []float64{v}
	}
	return nil
}
