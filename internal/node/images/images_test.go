package images

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func write(t *testing.T, dir, name, content string) string {
	t.Helper()
	f := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(f, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

func TestLoadAndLookup(t *testing.T) {
	dir := t.TempDir()
	f := write(t, t.TempDir(), "images.yaml", `images:
- image: "lpatruno/k8-model-api:*"
  dir: `+dir+`
  command: [python3, api.py]
  env: {MODEL: model.pkl}
- image: "python:*"
  args: [python3]
- image: "tools:*"
  command: [skiff, serve-model]
`)
	m, err := Load(f, "images.yaml", "/opt/bin/skiff")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		ref    string
		want   Image
		wantOK bool
	}{
		{"lpatruno/k8-model-api:latest", Image{Pattern: "lpatruno/k8-model-api:*", Dir: dir, Command: []string{"python3", "api.py"}, Env: map[string]string{"MODEL": "model.pkl"}, Source: "images.yaml:2"}, true},
		{"python:3.6", Image{Pattern: "python:*", Args: []string{"python3"}, Source: "images.yaml:6"}, true},
		{"python", Image{Pattern: "python:*", Args: []string{"python3"}, Source: "images.yaml:6"}, true},
		{"docker.io/library/python:3.11", Image{Pattern: "python:*", Args: []string{"python3"}, Source: "images.yaml:6"}, true},
		{"tools:1", Image{Pattern: "tools:*", Command: []string{"/opt/bin/skiff", "serve-model"}, Source: "images.yaml:8"}, true},
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
		{"images:\n- dir: /tmp\n", "images.yaml:2: entry has no image pattern"},
		{"images:\n- image: x\n  dir: relative\n", "is not a directory"},
		{"images:\n- image: x\n  dir: /nonexistent/skiff\n", "is not a directory"},
		{"images:\n- image: x\n  entrypoint: [a]\n", "images.yaml: line 3: field entrypoint not found"},
		{"images:\n- image: \"[\"\n", "bad image pattern"},
		// What `cat >> images.yaml` of a second map makes.
		{"images:\n- image: a\nimages:\n- image: b\n", `images.yaml: line 3: mapping key "images" already defined at line 1`},
		{"images:\n- image: a\n  command: [x\n", "images.yaml: line 2: did not find expected"},
	}
	for _, tt := range tests {
		_, err := Load(write(t, t.TempDir(), "images.yaml", tt.content), "images.yaml", "")
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Load(%q) = %v, want %q", tt.content, err, tt.want)
		}
	}
	if m, err := Load(filepath.Join(t.TempDir(), "absent.yaml"), "absent.yaml", ""); err != nil || len(m.Images) != 0 {
		t.Errorf("missing file: %v, %v", m, err)
	}
}

func TestLoadAllReadsDropInsInNameOrder(t *testing.T) {
	root := t.TempDir()
	write(t, root, "images.yaml", "images:\n- image: \"app:*\"\n  args: [main]\n")
	write(t, root, "images.d/20-web.yaml", "images:\n- image: \"app:*\"\n  args: [web]\n- image: \"web:*\"\n  args: [web]\n")
	write(t, root, "images.d/10-api.yaml", "images:\n- image: \"api:*\"\n  args: [api]\n")
	write(t, root, "images.d/README.md", "not a map")
	m, err := LoadAll(root, "")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"images.yaml", "images.d/10-api.yaml", "images.d/20-web.yaml"}
	if diff := cmp.Diff(want, m.Names()); diff != "" {
		t.Errorf("files (-want +got):\n%s", diff)
	}
	if img, _ := m.Lookup("app:1"); img.Source != "images.yaml:2" {
		t.Errorf("app:1 comes from %s, want images.yaml (first match wins)", img.Source)
	}
	write(t, root, "images.d/30-bad.yaml", "images: [")
	if _, err := LoadAll(root, ""); err == nil || !strings.Contains(err.Error(), "images.d/30-bad.yaml") {
		t.Errorf("LoadAll with a broken drop-in = %v, want it named", err)
	}
}

// A project keeps its map beside its code and links it into images.d/:
// a relative dir names the project's folder, not the data dir's.
func TestRelativeDirStartsAtTheLinkedFile(t *testing.T) {
	project, root := t.TempDir(), t.TempDir()
	if err := os.MkdirAll(filepath.Join(project, "app"), 0o755); err != nil {
		t.Fatal(err)
	}
	target := write(t, project, "images.d/app.yaml", "images:\n- image: \"app:*\"\n  dir: ../app\n")
	if err := os.MkdirAll(filepath.Join(root, DropInDir), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, filepath.Join(root, DropInDir, "app.yaml")); err != nil {
		t.Fatal(err)
	}
	m, err := LoadAll(root, "")
	if err != nil {
		t.Fatal(err)
	}
	if img, _ := m.Lookup("app:1"); img.Dir != filepath.Join(project, "app") {
		t.Errorf("dir = %q, want %q", img.Dir, filepath.Join(project, "app"))
	}
}

func TestShort(t *testing.T) {
	for ref, want := range map[string]string{
		"nginx":                          "nginx:latest",
		"nginx:1.25":                     "nginx:1.25",
		"docker.io/library/nginx":        "nginx:latest",
		"docker.io/bitnami/nginx:1":      "bitnami/nginx:1",
		"localhost:5000/app":             "localhost:5000/app:latest",
		"nginx@sha256:abc":               "nginx@sha256:abc",
		"registry.example/team/app:v2.1": "registry.example/team/app:v2.1",
	} {
		if got := Short(ref); got != want {
			t.Errorf("Short(%q) = %q, want %q", ref, got, want)
		}
	}
}

func TestBuiltins(t *testing.T) {
	bin := t.TempDir()
	write(t, bin, "python3", "")
	os.Chmod(filepath.Join(bin, "python3"), 0o755)
	found, missing := Builtins(bin)
	m := Map{Images: found}
	if img, ok := m.Lookup("python:3.11"); !ok || img.Args[0] != "python3" {
		t.Errorf("python:3.11 = %+v, %v; want the host's python3", img, ok)
	}
	if _, ok := m.Lookup("nginx"); ok {
		t.Error("nginx is built in although the host has no nginx")
	}
	if !strings.Contains(missing["nginx:*"], "nginx-light") {
		t.Errorf("missing nginx says %q, want the package to install", missing["nginx:*"])
	}
}
