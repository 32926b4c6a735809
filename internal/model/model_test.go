package model

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// corpusModel reads a fuzz seed back as a model file, so unit tests and
// the fuzzers share the same small real models.
func corpusModel(t *testing.T, fuzzer, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata/fuzz", fuzzer, name))
	if err != nil {
		t.Fatal(err)
	}
	s := strings.TrimSpace(strings.TrimPrefix(string(data), "go test fuzz v1\n"))
	s = strings.TrimSuffix(strings.TrimPrefix(s, "[]byte("), ")")
	var out []byte
	// The seeds are written with Go escapes for quotes and backslashes only.
	s = s[1 : len(s)-1]
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' {
			i++
		}
		out = append(out, s[i])
	}
	return out
}

func TestParseRefusals(t *testing.T) {
	xgbReg := string(corpusModel(t, "FuzzParseXGBoost", "seed-xgb-reg"))
	skTree := string(corpusModel(t, "FuzzParseSklearn", "seed-sk-tree"))
	cases := []struct {
		name, format, data, want string
	}{
		{"not json", FormatXGBoost, "{", "not an XGBoost JSON model"},
		{"gblinear", FormatXGBoost, strings.Replace(xgbReg, `"name":"gbtree"`, `"name":"gblinear"`, 1), `booster "gblinear" is not supported`},
		{"objective", FormatXGBoost, strings.Replace(xgbReg, `"reg:squarederror"`, `"rank:pairwise"`, 1), `objective "rank:pairwise" is not supported`},
		{"categorical", FormatXGBoost, strings.Replace(xgbReg, `"split_type":[0,`, `"split_type":[1,`, 1), "categorical split"},
		{"child out of range", FormatXGBoost, strings.Replace(xgbReg, `"left_children":[1,`, `"left_children":[99,`, 1), "outside the tree"},
		{"base score", FormatXGBoost, strings.Replace(xgbReg, `"base_score":"`, `"base_score":"x`, 1), "base_score"},
		{"other format", FormatSklearn, `{"format": "onnx"}`, `format is "onnx"`},
		{"newer version", FormatSklearn, strings.Replace(skTree, `"format_version": 1`, `"format_version": 2`, 1), "format_version 2 is not supported"},
		{"unknown link", FormatSklearn, strings.Replace(skTree, `"link": "proba"`, `"link": "tanh"`, 1), `link "tanh"`},
		{"feature out of range", FormatSklearn, strings.Replace(skTree, `"feature": [0,`, `"feature": [7,`, 1), "splits on feature 7"},
		{"unknown format", "onnx", "{}", `model format "onnx" is not supported`},
		{"unknown key", FormatSklearn, strings.Replace(skTree, `"link": "proba"`, `"link": "proba", "calibration": {}`, 1), `unknown field "calibration"`},
		{"bad scaler", FormatSklearn, strings.Replace(skTree, `"link": "proba"`, `"link": "proba", "preprocess": [{"kind": "standard", "mean": [1]}]`, 1), "preprocess step 0 (standard): 1 values for 3 features"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.data == xgbReg || c.data == skTree {
				t.Fatal("the test's edit did not apply to the seed model")
			}
			_, err := Parse(c.format, []byte(c.data))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want an error containing %q", err, c.want)
			}
		})
	}
}

func TestPredictRefusesBadRows(t *testing.T) {
	xgb, err := ParseXGBoost(corpusModel(t, "FuzzParseXGBoost", "seed-xgb-reg"))
	if err != nil {
		t.Fatal(err)
	}
	tree, err := ParseSklearn(corpusModel(t, "FuzzParseSklearn", "seed-sk-tree"))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		m    Model
		x    []float64
		rows int
		want string
	}{
		{"short row", xgb, []float64{1, 2}, 1, "2 values do not make 1 rows of 3 features"},
		{"no rows", xgb, nil, 0, "no rows"},
		{"infinite", xgb, []float64{1, math.Inf(1), 0}, 1, "row 0 feature 1 is infinite"},
		{"NaN for sklearn", tree, []float64{1, math.NaN(), 0}, 1, "NaN (missing)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := c.m.Predict(c.x, c.rows)
			if !errors.Is(err, ErrInput) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want ErrInput containing %q", err, c.want)
			}
		})
	}
	// XGBoost takes NaN as a missing value.
	if _, err := xgb.Predict([]float64{1, math.NaN(), 0}, 1); err != nil {
		t.Fatalf("NaN for XGBoost: %v", err)
	}
}

// fuzzPredict checks that whatever a loader accepts predicts without
// panicking, on ordinary and missing values.
func fuzzPredict(t *testing.T, m Model) {
	n := m.Info().Features
	if n > 1<<16 {
		return
	}
	row := make([]float64, n)
	if _, err := m.Predict(row, 1); err != nil {
		t.Fatalf("a model that loaded refused a row of zeros: %v", err)
	}
	for i := range row {
		row[i] = math.NaN()
	}
	_, _ = m.Predict(row, 1)
}

func FuzzParseXGBoost(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		if m, err := ParseXGBoost(data); err == nil {
			fuzzPredict(t, m)
		}
	})
}

func FuzzParseSklearn(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		if m, err := ParseSklearn(data); err == nil {
			fuzzPredict(t, m)
		}
	})
}

func TestNaNAsNull(t *testing.T) {
	cases := []struct{ in, want string }{
		{`[NaN,1.5,NaN]`, `[null,1.5,null]`},
		{`{"feature_names":["NaN_count","a\"NaN"],"x":NaN}`, `{"feature_names":["NaN_count","a\"NaN"],"x":null}`},
		{`[1,2]`, `[1,2]`},
	}
	for _, c := range cases {
		if got := string(nanAsNull([]byte(c.in))); got != c.want {
			t.Errorf("nanAsNull(%s) = %s, want %s", c.in, got, c.want)
		}
	}
}

// A categorical model: a listed category goes right, others left.
func TestXGBoostCategoricalAndDartLoad(t *testing.T) {
	for _, seed := range []string{"seed-xgb-cat", "seed-xgb-dart"} {
		m, err := ParseXGBoost(corpusModel(t, "FuzzParseXGBoost", seed))
		if err != nil {
			t.Fatalf("%s: %v", seed, err)
		}
		if _, err := m.Predict([]float64{3, 0.5, math.NaN(), 0.5, 99, 0.5}, 3); err != nil {
			t.Fatalf("%s: %v", seed, err)
		}
	}
}

func TestDetect(t *testing.T) {
	for _, tc := range []struct {
		name, data, want, err string
	}{
		{name: "xgboost", data: `{"learner": {}, "version": [2, 0, 3]}`, want: FormatXGBoost},
		{name: "sklearn", data: `{"format": "skiff-sklearn", "format_version": 1}`, want: FormatSklearn},
		{name: "onnx-ish", data: `{"format": "onnx"}`, err: "neither an XGBoost model"},
		{name: "pickle", data: "\x80\x04\x95", err: "not a JSON model file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Detect([]byte(tc.data))
			if got != tc.want || (err == nil) != (tc.err == "") || (err != nil && !strings.Contains(err.Error(), tc.err)) {
				t.Errorf("Detect = %q, %v; want %q, %q", got, err, tc.want, tc.err)
			}
		})
	}
}
