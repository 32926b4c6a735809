// Package modelrepo loads models from a model repository folder and keeps
// them current: one folder per model, numbered version subfolders and a
// model.yaml naming the format and input schema. Changed versions are loaded
// beside the serving ones and swapped in atomically; a broken file is
// refused and the old version keeps serving. Data plane: no Kubernetes.
package modelrepo

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/skiff-dev/skiff/internal/model"
)

// ConfigFile is the per-model configuration file's name.
const ConfigFile = "model.yaml"

// Config is a model's model.yaml.
type Config struct {
	// Format is "xgboost" (Booster.save_model JSON) or "sklearn" (skiff's
	// export format).
	Format string `json:"format" yaml:"format"`
	// File is the model file in each version folder; model.json if empty.
	File string `json:"file,omitempty" yaml:"file"`
	// Features names the inputs in the model's column order. It lets
	// clients send named features (/predict, v1 instances as objects, one
	// v2 tensor per feature); the model file's own names are used if empty.
	Features []string `json:"features,omitempty" yaml:"features"`
	// Versions is "latest" (default: serve the highest-numbered version
	// that loads) or "all".
	Versions string `json:"versions,omitempty" yaml:"versions"`
	// Batching, when set, lets concurrent requests share one evaluation.
	Batching *Batching `json:"batching,omitempty" yaml:"batching"`
}

// Batching configures adaptive server-side batching: while the model is
// busy, requests queue and go together, up to MaxBatchSize rows, waiting at
// most MaxDelay. A lone request never waits.
type Batching struct {
	MaxBatchSize int    `json:"maxBatchSize" yaml:"maxBatchSize"`
	MaxDelay     string `json:"maxDelay" yaml:"maxDelay"`
}

// Delay parses MaxDelay.
func (b *Batching) Delay() time.Duration {
	d, _ := time.ParseDuration(b.MaxDelay)
	return d
}

// readConfig reads and checks a model.yaml; unknown fields are errors, so
// a typo does not silently fall back to a default.
func readConfig(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, err
	}
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	// YAML 1.2 (yaml/v3): a feature named y or no stays a string.
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
		return Config{}, fmt.Errorf("%s: %w", path, err)
	}
	if err := c.validate(); err != nil {
		return Config{}, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

func (c *Config) validate() error {
	switch c.Format {
	case model.FormatXGBoost, model.FormatSklearn:
	case "":
		return fmt.Errorf("format is required: %q or %q", model.FormatXGBoost, model.FormatSklearn)
	default:
		return fmt.Errorf("format %q is not supported: use %q or %q", c.Format, model.FormatXGBoost, model.FormatSklearn)
	}
	if c.File == "" {
		c.File = "model.json"
	}
	switch c.Versions {
	case "":
		c.Versions = "latest"
	case "latest", "all":
	default:
		return fmt.Errorf("versions %q: use latest or all", c.Versions)
	}
	seen := map[string]bool{}
	for _, f := range c.Features {
		if f == "" || seen[f] {
			return fmt.Errorf("features: %q is empty or named twice", f)
		}
		seen[f] = true
	}
	if b := c.Batching; b != nil {
		if b.MaxBatchSize < 1 {
			return fmt.Errorf("batching.maxBatchSize %d: want at least 1", b.MaxBatchSize)
		}
		d, err := time.ParseDuration(b.MaxDelay)
		if err != nil || d < 0 || d > time.Second {
			return fmt.Errorf("batching.maxDelay %q: want a duration from 0 to 1s, such as 2ms", b.MaxDelay)
		}
	}
	return nil
}
