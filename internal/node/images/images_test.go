package images

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func write(t *testing.T, content string) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "images.yaml")
	if err := os.WriteFile(f, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

func TestLoadAndLookup(t *testing.T) {
	dir := t.TempDir()
	m, err := Load(write(t, `images:
- image: "lpatruno/k8-model-api:*"
  dir: `+dir+`
  command: [python3, api.py]
  env: {MODEL: model.pkl}
- image: "python:*"
`))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		ref    string
		want   Image
		wantOK bool
	}{
		{"lpatruno/k8-model-api:latest", Image{Pattern: "lpatruno/k8-model-api:*", Dir: dir, Command: []string{"python3", "api.py"}, Env: map[string]string{"MODEL": "model.pkl"}}, true},
		{"python:3.6", Image{Pattern: "python:*"}, true},
		{"busybox", Image{}, false},
	}
	for _, tt := range tests {
		got, ok := m.Lookup(tt.ref)
		if ok != tt.wantOK {
			t.Errorf("Lookup(%q) ok = %v", tt.ref, ok)
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("Lookup(%q) (-want +got):\n%s", tt.ref, diff)
		}
	}
}

func TestLoadErrors(t *testing.T) {
	tests := []struct{ content, want string }{
		{"images:\n- dir: /tmp\n", "no image pattern"},
		{"images:\n- image: x\n  dir: relative\n", "must be an absolute path"},
		{"images:\n- image: x\n  dir: /nonexistent/skiff\n", "is not a directory"},
		{"images:\n- image: x\n  entrypoint: [a]\n", "unknown field"},
		{"images:\n- image: \"[\"\n", "bad pattern"},
	}
	for _, tt := range tests {
		_, err := Load(write(t, tt.content))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Load(%q) = %v, want %q", tt.content, err, tt.want)
		}
	}
	if m, err := Load(filepath.Join(t.TempDir(), "absent.yaml")); err != nil || len(m.Images) != 0 {
		t.Errorf("missing file: %v, %v", m, err)
	}
}
