package modelrepo

import (
	"fmt"
	"time"

	"github.com/skiff-dev/skiff/internal/model"
)

// Version is one loaded version of a model, immutable once served: a
// request that holds it finishes on it even if a newer one is swapped in.
type Version struct {
	Model    string
	Name     string // the version folder's number
	Config   Config
	Loaded   time.Time
	Features []string // input names in column order, or nil

	m       model.Model
	index   map[string]int
	batcher *batcher
	observe func(rows int)
	stamp   string // what the file looked like when loaded
}

// Info describes the model's inputs and outputs.
func (v *Version) Info() model.Info { return v.m.Info() }

// FeatureIndex is the column of a named feature.
func (v *Version) FeatureIndex(name string) (int, bool) {
	i, ok := v.index[name]
	return i, ok
}

// Predict evaluates rows (row-major), through the batcher when the model's
// config turns batching on. Bad input is refused before it can join a
// batch, so one request's mistake never fails another's.
func (v *Version) Predict(x []float64, rows int) ([]model.Output, error) {
	if v.batcher == nil {
		outs, err := v.m.Predict(x, rows) // which checks the rows itself
		if err == nil {
			v.observe(rows)
		}
		return outs, err
	}
	if err := model.Validate(v.m, x, rows); err != nil {
		return nil, err
	}
	return v.batcher.predict(x, rows)
}

// BatchObserver is told each evaluation's row count (for metrics).
type BatchObserver func(model, version string, rows int)

func newVersion(name, version string, c Config, m model.Model, stamp string, observe BatchObserver) (*Version, error) {
	v := &Version{Model: name, Name: version, Config: c, Loaded: time.Now(), m: m, stamp: stamp}
	info := m.Info()
	v.Features = c.Features
	if len(v.Features) == 0 {
		v.Features = info.FeatureNames
	}
	if len(v.Features) != 0 {
		if len(v.Features) != info.Features {
			return nil, fmt.Errorf("%s names %d features but the model takes %d", ConfigFile, len(v.Features), info.Features)
		}
		v.index = make(map[string]int, len(v.Features))
		for i, f := range v.Features {
			v.index[f] = i
		}
	}
	v.observe = func(rows int) {
		if observe != nil {
			observe(name, version, rows)
		}
	}
	if b := c.Batching; b != nil && b.MaxBatchSize > 1 {
		v.batcher = newBatcher(b.MaxBatchSize, b.Delay(), m.Predict, v.observe)
	}
	return v, nil
}
