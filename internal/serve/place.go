// Package serve is what `skiff serve` does: place a model file where the
// node reads it, write the ModelService that serves it, and wait, with
// progress, until it answers.
package serve

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/skiff-dev/skiff/internal/atomicfile"
	"github.com/skiff-dev/skiff/internal/model"
	"github.com/skiff-dev/skiff/internal/modelrepo"
)

// Model is a model file to serve.
type Model struct {
	// Path is a model file (XGBoost JSON, skiff's scikit-learn export, or
	// a pickled/joblib scikit-learn estimator) or a folder with model.json.
	Path string
	// Format is xgboost or sklearn; empty: found from the file.
	Format string
	// Python exports pickled estimators.
	Python         string
	Stdout, Stderr io.Writer
}

// Placed is a model file where the cluster reads it.
type Placed struct {
	URI      string // file:// of the placed copy
	File     string // the copy
	Format   string
	Features int
	data     []byte
}

// pickles are the suffixes of estimators that need exporting first.
var pickles = []string{".pkl", ".pickle", ".joblib"}

// Read loads the model (exporting a pickled estimator first) and says
// where under dir it goes: a folder named by its content, so the same
// model is the same URI and a changed one is a new revision.
func (m Model) Read(ctx context.Context, dir, namespace, name string) (Placed, error) {
	file, err := modelrepo.ModelFile(m.Path, m.Path)
	if err != nil {
		return Placed{}, err
	}
	format := m.Format
	if isPickle(file) {
		if format != "" && format != model.FormatSklearn {
			return Placed{}, fmt.Errorf("%s is a pickled estimator: --format must be sklearn (or left out)", file)
		}
		if file, err = m.export(ctx, file); err != nil {
			return Placed{}, err
		}
		defer os.RemoveAll(filepath.Dir(file))
		format = model.FormatSklearn
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return Placed{}, err
	}
	loaded, format, err := parse(format, data)
	if err != nil {
		return Placed{}, fmt.Errorf("%s: %w", m.Path, err)
	}
	sum := sha256.Sum256(data)
	dest := filepath.Join(dir, namespace, name, hex.EncodeToString(sum[:6]), modelFileName)
	return Placed{URI: "file://" + dest, File: dest, Format: format, Features: loaded.Info().Features, data: data}, nil
}

const modelFileName = modelrepo.DefaultFile

// Write puts the copy in place (atomically; an existing copy is the
// same content, by its folder's name).
func (p Placed) Write() error {
	if _, err := os.Stat(p.File); err == nil {
		return nil
	}
	// Readable by the model server pods, which mount the folder.
	if err := os.MkdirAll(filepath.Dir(p.File), 0o755); err != nil {
		return fmt.Errorf("place the model: %w", err)
	}
	return atomicfile.Write(p.File, p.data, 0o644)
}

func isPickle(file string) bool {
	for _, s := range pickles {
		if strings.HasSuffix(strings.ToLower(file), s) {
			return true
		}
	}
	return false
}

func (m Model) export(ctx context.Context, file string) (string, error) {
	dir, err := os.MkdirTemp("", "skiff-serve-")
	if err != nil {
		return "", err
	}
	out := filepath.Join(dir, modelFileName)
	e := model.Export{Python: m.Python, Model: file, Out: out, Stdout: m.Stderr, Stderr: m.Stderr}
	if err := e.Run(ctx); err != nil {
		os.RemoveAll(dir)
		return "", err
	}
	return out, nil
}

// parse reads data as format, or as each format skiff serves.
func parse(format string, data []byte) (model.Model, string, error) {
	if format != "" {
		m, err := model.Parse(format, data)
		return m, format, err
	}
	var errs []error
	for _, f := range []string{model.FormatXGBoost, model.FormatSklearn} {
		m, err := model.Parse(f, data)
		if err == nil {
			return m, f, nil
		}
		errs = append(errs, fmt.Errorf("as %s: %w", f, err))
	}
	return nil, "", fmt.Errorf("not a model skiff serves (an XGBoost Booster.save_model JSON or a skiff export-sklearn JSON): %w", errors.Join(errs...))
}

var notDNS = regexp.MustCompile(`[^a-z0-9-]+`)

// NameFor is a ModelService name for the model at path: its file name
// (or its folder's, for a model.json), as a DNS label.
func NameFor(path string) string {
	base := filepath.Base(filepath.Clean(path))
	if base == modelFileName {
		base = filepath.Base(filepath.Dir(filepath.Clean(path)))
	}
	return Label(strings.TrimSuffix(base, filepath.Ext(base)), "model")
}

// Label is s as an object name of at most 40 characters that starts with
// a letter (lowercase letters, digits and '-'), or fallback when nothing
// of s is left.
func Label(s, fallback string) string {
	name := strings.Trim(notDNS.ReplaceAllString(strings.ToLower(s), "-"), "-")
	name = strings.TrimLeft(name, "0123456789-")
	if len(name) > 40 {
		name = strings.TrimRight(name[:40], "-")
	}
	if name == "" {
		return fallback
	}
	return name
}
