package model

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// ExporterScript is skiff's scikit-learn exporter (Python, runs with
// Debian's python3-sklearn): 'skiff export-sklearn' runs it, and users can
// import it in their training code.
//
//go:embed skiff_sklearn_export.py
var ExporterScript []byte

// ExportTimeout bounds one export (unpickling and converting).
const ExportTimeout = 10 * time.Minute

// Export describes one run of the exporter.
type Export struct {
	Python   string // the Python with the scikit-learn that fitted the model
	Model    string // a pickled or joblib estimator
	Out      string // the JSON to write
	Features string // comma-separated names; empty: the model's own
	Stdout   io.Writer
	Stderr   io.Writer
}

// Run converts e.Model to skiff's scikit-learn format at e.Out.
func (e Export) Run(ctx context.Context) error {
	dir, err := os.MkdirTemp("", "skiff-export-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	script := filepath.Join(dir, "skiff_sklearn_export.py")
	if err := os.WriteFile(script, ExporterScript, 0o644); err != nil {
		return err
	}
	args := []string{script, e.Model, e.Out}
	if e.Features != "" {
		args = append(args, "--features", e.Features)
	}
	ctx, cancel := context.WithTimeout(ctx, ExportTimeout)
	defer cancel()
	run := exec.CommandContext(ctx, e.Python, args...)
	run.Stdout, run.Stderr = e.Stdout, e.Stderr
	if err := run.Run(); err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			return fmt.Errorf("exporting %s failed (see above)", e.Model)
		}
		return fmt.Errorf("running %s: %w (install python3 and python3-sklearn, or pass --python)", e.Python, err)
	}
	return nil
}
