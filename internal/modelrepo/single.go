package modelrepo

import (
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
)

// DefaultFile is the model file a version folder holds when model.yaml
// names none, and the file a model folder given on its own must hold.
const DefaultFile = "model.json"

// LinkSingle lays out a one-model repository in root for the model at
// path (a model file, or a folder holding model.json): root/<name>/
// model.yaml with the format, and the version (1 when empty) a link to
// the file, so that a
// server started on root watches that file as it watches any version.
// It is how a model named by a URI is served without a repository;
// errors name the model as display (the URI), or as path if it is empty.
// It returns the link, which load errors name.
func LinkSingle(root, name, version, format, path, display string) (string, error) {
	file, err := ModelFile(path, cmp.Or(display, path))
	if err != nil {
		return "", err
	}
	c := Config{Format: format, File: filepath.Base(file)}
	if err := c.validate(); err != nil {
		return "", err
	}
	if n, err := strconv.ParseUint(cmp.Or(version, "1"), 10, 63); err != nil || n == 0 {
		return "", fmt.Errorf("model version %q must be a positive whole number", version)
	}
	dir := filepath.Join(root, name, cmp.Or(version, "1"))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	config := fmt.Sprintf("format: %s\nfile: %q\n", format, c.File)
	if err := os.WriteFile(filepath.Join(root, name, ConfigFile), []byte(config), 0o644); err != nil {
		return "", err
	}
	// A relative path would resolve from the link's folder, not ours.
	abs, err := filepath.Abs(file)
	if err != nil {
		return "", err
	}
	link := filepath.Join(dir, c.File)
	return link, os.Symlink(abs, link)
}

// ModelFile is the model file path names: path itself, or the model.json
// of the folder it names. Errors name the model as display.
func ModelFile(path, display string) (string, error) {
	st, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("no model at %s: the path does not exist", display)
	}
	if err != nil {
		return "", err
	}
	if !st.IsDir() {
		return path, nil
	}
	file := filepath.Join(path, DefaultFile)
	if _, err := os.Stat(file); err != nil {
		return "", fmt.Errorf("no model at %s: the folder holds no %s", display, DefaultFile)
	}
	return file, nil
}

// Err is every configured model's last load error, or nil.
func (r *Repository) Err() error {
	var errs []error
	for _, e := range r.Models() {
		if err := e.Err(); err != nil {
			errs = append(errs, fmt.Errorf("model %s: %w", e.Name, err))
		}
	}
	return errors.Join(errs...)
}
