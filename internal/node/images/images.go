// Package images maps image references to what a process node runs instead
// of pulling them: a local directory that stands in for the image's
// filesystem and working directory, an entrypoint, and extra environment.
// The map lives in the data dir as images.yaml plus drop-in files
// images.d/*.yaml, read in name order (so each project adds its own file):
//
//	images:
//	- image: "lpatruno/k8-model-api:*"   # path.Match glob, first match wins
//	  dir: /home/ds/k8-model-api         # working directory (read-only view:
//	                                     # the pod writes to its own overlay);
//	                                     # a relative dir starts at the map
//	                                     # file's folder (a link's target's)
//	  command: ["python3", "api.py"]     # the image's ENTRYPOINT, if any
//	  args: ["--port", "80"]             # its CMD: used when the pod sets
//	                                     # neither command nor args
//	  env: {MODEL_PATH: model.pkl}       # added before the container's env
//
// A command whose program is "skiff" runs the skiff binary that serves the
// node.
package images

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// MainFile and DropInDir are the map's places in a data dir.
const (
	MainFile  = "images.yaml"
	DropInDir = "images.d"
)

// Image is what one image reference maps to.
type Image struct {
	Pattern string            `json:"image" yaml:"image"`
	Dir     string            `json:"dir,omitempty" yaml:"dir,omitempty"`
	Command []string          `json:"command,omitempty" yaml:"command,omitempty"`
	Args    []string          `json:"args,omitempty" yaml:"args,omitempty"`
	Env     map[string]string `json:"env,omitempty" yaml:"env,omitempty"`
	// Source says where the entry comes from ("images.d/web.yaml:3", or
	// "built-in"), for events and errors.
	Source string `json:"-" yaml:"-"`
	// Note is what a lookup adds for the pod's events: a map file that
	// does not load, or what a base image needs from the host.
	Note string `json:"-" yaml:"-"`
}

// Map is a loaded image map.
type Map struct {
	Images []Image `json:"images" yaml:"images"`
}

// Files are the map's files under root that exist, in the order they are
// read: images.yaml, then images.d/*.yaml by name.
func Files(root string) ([]string, error) {
	var out []string
	if _, err := os.Stat(filepath.Join(root, MainFile)); err == nil {
		out = append(out, filepath.Join(root, MainFile))
	}
	entries, err := os.ReadDir(filepath.Join(root, DropInDir))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("image map folder: %w", err)
	}
	for _, e := range entries {
		if !e.IsDir() && (strings.HasSuffix(e.Name(), ".yaml") || strings.HasSuffix(e.Name(), ".yml")) {
			out = append(out, filepath.Join(root, DropInDir, e.Name()))
		}
	}
	return out, nil
}

// LoadAll reads every map file under root into one map, in reading order;
// the first file that does not load is the error.
func LoadAll(root, self string) (*Map, error) {
	files, err := Files(root)
	if err != nil {
		return nil, err
	}
	all := &Map{}
	for _, f := range files {
		m, err := Load(f, Relative(root, f), self)
		if err != nil {
			return nil, err
		}
		all.Images = append(all.Images, m.Images...)
	}
	return all, nil
}

// Relative is file's name as users see it in messages: relative to the
// data dir when inside it.
func Relative(root, file string) string {
	if rel, err := filepath.Rel(root, file); err == nil && !strings.HasPrefix(rel, "..") {
		return rel
	}
	return file
}

// Load reads one map file; a missing file is an empty map. name is the
// file as messages call it; self is the path "skiff" commands run.
func Load(file, name, self string) (*Map, error) {
	data, err := os.ReadFile(file)
	if errors.Is(err, os.ErrNotExist) {
		return &Map{}, nil
	}
	if err != nil {
		return nil, err
	}
	m, err := Parse(data, name)
	if err != nil {
		return nil, err
	}
	base := mapFolder(file)
	for i := range m.Images {
		img := &m.Images[i]
		if img.Dir != "" && !filepath.IsAbs(img.Dir) {
			img.Dir = filepath.Join(base, img.Dir)
		}
		if err := img.check(); err != nil {
			return nil, fmt.Errorf("image map %s: %w", img.Source, err)
		}
		if len(img.Command) > 0 && img.Command[0] == "skiff" && self != "" {
			img.Command = append([]string{self}, img.Command[1:]...)
		}
	}
	return m, nil
}

// mapFolder is the folder a map file's relative dirs start from: the
// folder of the file it links to, if it is a symbolic link, so that a
// project's map linked into images.d/ keeps naming the project's folders.
func mapFolder(file string) string {
	if real, err := filepath.EvalSymlinks(file); err == nil {
		file = real
	}
	return filepath.Dir(file)
}

// Parse decodes a map file's content strictly (unknown fields and
// repeated keys are errors), with each entry's Source at its line.
func Parse(data []byte, name string) (*Map, error) {
	var m Map
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&m); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("image map %s: %s", name, yamlMessage(err))
	}
	var lines struct {
		Images []yaml.Node `yaml:"images"`
	}
	if err := yaml.Unmarshal(data, &lines); err == nil && len(lines.Images) == len(m.Images) {
		for i := range m.Images {
			m.Images[i].Source = fmt.Sprintf("%s:%d", name, lines.Images[i].Line)
		}
	}
	return &m, nil
}

// yamlMessage is a decoding error in one line, without the library's
// prefix: "line 4: mapping key "images" already defined at line 1".
func yamlMessage(err error) string {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		return strings.Join(te.Errors, "; ")
	}
	return strings.TrimPrefix(err.Error(), "yaml: ")
}

func (img *Image) check() error {
	if img.Pattern == "" {
		return errors.New("entry has no image pattern (add image: <reference or glob>)")
	}
	if _, err := path.Match(img.Pattern, ""); err != nil {
		return fmt.Errorf("bad image pattern %q: %w", img.Pattern, err)
	}
	if img.Dir != "" {
		if fi, err := os.Stat(img.Dir); err != nil || !fi.IsDir() {
			return fmt.Errorf("%s: dir %s is not a directory", img.Pattern, img.Dir)
		}
	}
	return nil
}

// Lookup returns the first entry whose pattern matches ref, as written or
// in its short form (nginx, docker.io/library/nginx and nginx:latest are
// one image).
func (m *Map) Lookup(ref string) (Image, bool) {
	if m == nil {
		return Image{}, false
	}
	short := Short(ref)
	for _, img := range m.Images {
		if ok, _ := path.Match(img.Pattern, ref); ok {
			return img, true
		}
		if ok, _ := path.Match(img.Pattern, short); ok {
			return img, true
		}
	}
	return Image{}, false
}

// Short is ref without Docker Hub's implied parts, with its tag:
// "docker.io/library/python" is "python:latest".
func Short(ref string) string {
	for _, p := range []string{"docker.io/", "index.docker.io/", "registry-1.docker.io/"} {
		ref = strings.TrimPrefix(ref, p)
	}
	ref = strings.TrimPrefix(ref, "library/")
	if strings.Contains(ref, "@") {
		return ref
	}
	if i := strings.LastIndex(ref, ":"); i < 0 || strings.Contains(ref[i:], "/") {
		ref += ":latest"
	}
	return ref
}

// Names lists the distinct sources of m's entries' files, for messages.
func (m *Map) Names() []string {
	var out []string
	for _, img := range m.Images {
		name, _, _ := strings.Cut(img.Source, ":")
		if !slices.Contains(out, name) {
			out = append(out, name)
		}
	}
	return out
}
