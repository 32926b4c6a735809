package model

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestExportRefusalsSayWhatToDo: files the exporter cannot convert get a
// line that says what to do instead.
func TestExportRefusalsSayWhatToDo(t *testing.T) {
	py := pythonWithLibraries(t)
	dir := t.TempDir()
	notPickle := filepath.Join(dir, "model.pkl")
	if err := os.WriteFile(notPickle, []byte("{\"learner\": {}}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	xgbPickle := filepath.Join(dir, "xgb.pkl")
	fit := `import pickle, sys, numpy as np, xgboost as xgb
m = xgb.XGBClassifier(n_estimators=2, max_depth=2).fit(np.array([[0.0], [1.0], [2.0], [3.0]]), np.array([0, 0, 1, 1]))
pickle.dump(m, open(sys.argv[1], "wb"))`
	if out, err := exec.Command(py, "-c", fit, xgbPickle).CombinedOutput(); err != nil {
		t.Fatalf("pickling an XGBClassifier: %v\n%s", err, out)
	}
	tests := []struct {
		name, model, want string
	}{
		{name: "not a pickle", model: notPickle, want: "model.pkl is not a pickle or joblib file"},
		{name: "an XGBoost pickle", model: xgbPickle, want: `XGBClassifier is an XGBoost model, which skiff serves as it is: save it with model.save_model("model.json") and serve that file with modelFormat xgboost`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stderr bytes.Buffer
			err := Export{Python: py, Model: tt.model, Out: filepath.Join(dir, "out.json"), Stdout: &bytes.Buffer{}, Stderr: &stderr}.Run(context.Background())
			if err == nil || !strings.Contains(stderr.String(), tt.want) {
				t.Errorf("export of %s: %v, stderr %q, want it to say %q", tt.model, err, stderr.String(), tt.want)
			}
			if _, err := os.Stat(filepath.Join(dir, "out.json")); !os.IsNotExist(err) {
				t.Errorf("a refused export wrote its output: %v", err)
			}
		})
	}
}
