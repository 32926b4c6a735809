package serve

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestNameFor(t *testing.T) {
	for path, want := range map[string]string{
		"models/housing.json":       "housing",
		"models/housing/model.json": "housing",
		"models/housing/":           "housing",
		"My_Model v2.pkl":           "my-model-v2",
		"2024-model.json":           "model",
		"___.json":                  "model",
	} {
		if got := NameFor(path); got != want {
			t.Errorf("NameFor(%q) = %q, want %q", path, got, want)
		}
	}
}

func TestReadFindsTheFormatAndPlacesByContent(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		file, format string
		features     int
	}{{"xgb-reg.json", "xgboost", 3}, {"sk-tree.json", "sklearn", 0}} {
		p, err := Model{Path: filepath.Join("../modelserver/testdata", c.file)}.Read(context.Background(), dir, "ns", "m")
		if err != nil {
			t.Fatal(err)
		}
		if p.Format != c.format || (c.features > 0 && p.Features != c.features) {
			t.Errorf("%s: format %s, %d features", c.file, p.Format, p.Features)
		}
		if !strings.HasPrefix(p.URI, "file://"+filepath.Join(dir, "ns", "m")+"/") {
			t.Errorf("%s placed at %s", c.file, p.URI)
		}
		if err := p.Write(); err != nil {
			t.Fatal(err)
		}
		want, _ := os.ReadFile(filepath.Join("../modelserver/testdata", c.file))
		got, _ := os.ReadFile(p.File)
		if diff := cmp.Diff(string(want), string(got)); diff != "" {
			t.Errorf("placed copy differs")
		}
	}
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte(`{"x": 1}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := (Model{Path: bad}).Read(context.Background(), dir, "ns", "m"); err == nil || !strings.Contains(err.Error(), "not a model skiff serves") {
		t.Errorf("a JSON that is no model: %v", err)
	}
	if _, err := (Model{Path: dir}).Read(context.Background(), dir, "ns", "m"); err == nil || !strings.Contains(err.Error(), "holds no model.json") {
		t.Errorf("a folder without model.json: %v", err)
	}
}
