package model

import (
	"encoding/json"
	"fmt"
	"os"
)

// Formats skiff evaluates, as a model's config names them.
const (
	FormatXGBoost = "xgboost"
	FormatSklearn = "sklearn"
)

// Parse reads a model of the given format from its file's bytes.
func Parse(format string, data []byte) (Model, error) {
	switch format {
	case FormatXGBoost:
		return ParseXGBoost(data)
	case FormatSklearn:
		return ParseSklearn(data)
	default:
		return nil, fmt.Errorf("model format %q is not supported: use %q or %q", format, FormatXGBoost, FormatSklearn)
	}
}

// Load reads a model file.
func Load(format, path string) (Model, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	m, err := Parse(format, data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

// Detect says which format a model file is in: XGBoost's JSON (a
// "learner") or skiff's scikit-learn export.
func Detect(data []byte) (string, error) {
	var head struct {
		Learner json.RawMessage `json:"learner"`
		Format  string          `json:"format"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return "", fmt.Errorf("not a JSON model file (%v): XGBoost's save_model JSON or skiff's scikit-learn export (skiff export-sklearn) is", err)
	}
	switch {
	case head.Learner != nil:
		return FormatXGBoost, nil
	case head.Format == "skiff-sklearn":
		return FormatSklearn, nil
	default:
		return "", fmt.Errorf("neither an XGBoost model (no \"learner\") nor skiff's scikit-learn export (no \"format\": \"skiff-sklearn\")")
	}
}
