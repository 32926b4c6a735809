package model

import (
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
