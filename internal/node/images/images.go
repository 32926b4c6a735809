// Package images maps image references to what a process node runs instead
// of pulling them: a local directory that stands in for the image's
// filesystem and working directory, an entrypoint, and extra environment.
// The map lives in the data dir as images.yaml:
//
//	images:
//	- image: "lpatruno/k8-model-api:*"   # path.Match glob, first match wins
//	  dir: /home/ds/k8-model-api         # working directory (read-only view:
//	                                     # the pod writes to its own overlay)
//	  command: ["python3", "api.py"]     # the image's entrypoint, if any
//	  env: {MODEL_PATH: model.pkl}       # added before the container's env
package images

import (
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"

	"sigs.k8s.io/yaml"
)

// Image is what one image reference maps to.
type Image struct {
	Pattern string            `json:"image"`
	Dir     string            `json:"dir,omitempty"`
	Command []string          `json:"command,omitempty"`
	Env     map[string]string `json:"env,omitempty"`
}

// Map is a loaded images.yaml.
type Map struct {
	Images []Image `json:"images"`
}

// Load reads the map at file; a missing file is an empty map.
func Load(file string) (*Map, error) {
	data, err := os.ReadFile(file)
	if errors.Is(err, os.ErrNotExist) {
		return &Map{}, nil
	}
	if err != nil {
		return nil, err
	}
	var m Map
	if err := yaml.UnmarshalStrict(data, &m); err != nil {
		return nil, fmt.Errorf("image map %s: %w", file, err)
	}
	for i, img := range m.Images {
		if img.Pattern == "" {
			return nil, fmt.Errorf("image map %s: entry %d has no image pattern", file, i+1)
		}
		if _, err := path.Match(img.Pattern, ""); err != nil {
			return nil, fmt.Errorf("image map %s: entry %d: bad pattern %q: %w", file, i+1, img.Pattern, err)
		}
		if img.Dir != "" {
			if !filepath.IsAbs(img.Dir) {
				return nil, fmt.Errorf("image map %s: entry %d (%s): dir %q must be an absolute path", file, i+1, img.Pattern, img.Dir)
			}
			if fi, err := os.Stat(img.Dir); err != nil || !fi.IsDir() {
				return nil, fmt.Errorf("image map %s: entry %d (%s): dir %s is not a directory", file, i+1, img.Pattern, img.Dir)
			}
		}
	}
	return &m, nil
}

// Lookup returns the first entry whose pattern matches ref.
func (m *Map) Lookup(ref string) (Image, bool) {
	if m == nil {
		return Image{}, false
	}
	for _, img := range m.Images {
		if ok, _ := path.Match(img.Pattern, ref); ok {
			return img, true
		}
	}
	return Image{}, false
}
