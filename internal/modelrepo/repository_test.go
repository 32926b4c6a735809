package modelrepo

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// repoBuilder lays out a model repository in a temporary folder.
type repoBuilder struct {
	t   *testing.T
	dir string
}

func newRepoDir(t *testing.T) *repoBuilder { return &repoBuilder{t: t, dir: t.TempDir()} }

func (b *repoBuilder) config(model, text string) *repoBuilder {
	b.write(filepath.Join(model, ConfigFile), []byte(text))
	return b
}

// version puts a testdata model (or raw bytes) into model/<version>/model.json.
func (b *repoBuilder) version(model, version, testdata string) *repoBuilder {
	data, err := os.ReadFile(filepath.Join("testdata", testdata))
	if err != nil {
		data = []byte(testdata)
	}
	b.write(filepath.Join(model, version, "model.json"), data)
	return b
}

func (b *repoBuilder) write(rel string, data []byte) {
	path := filepath.Join(b.dir, rel)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		b.t.Fatal(err)
	}
	// A fresh modification time each write, as a real copy would have.
	if err := os.WriteFile(path, data, 0o644); err != nil {
		b.t.Fatal(err)
	}
	future := time.Now().Add(time.Duration(len(data)) * time.Microsecond)
	_ = os.Chtimes(path, future, future)
}

func (b *repoBuilder) open() *Repository {
	r, err := New(b.dir, nil)
	if err != nil {
		b.t.Fatal(err)
	}
	r.Scan(context.Background())
	return r
}

func TestRepositoryLoadsModels(t *testing.T) {
	b := newRepoDir(t).
		config("boost", "format: xgboost\n").version("boost", "1", "xgb-reg.json").
		config("tree", "format: sklearn\nfeatures: [a, b, c]\n").version("tree", "1", "sk-tree.json")
	r := b.open()
	if !r.Ready() {
		t.Fatal("not ready with two good models")
	}
	v, err := r.Version("tree", "")
	if err != nil {
		t.Fatal(err)
	}
	if i, ok := v.FeatureIndex("c"); !ok || i != 2 {
		t.Fatalf("feature c at %d, %v", i, ok)
	}
	if _, err := v.Predict([]float64{0.1, 0.2, 0.3}, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Version("nope", ""); !errors.Is(err, ErrModelNotFound) {
		t.Fatalf("missing model: %v", err)
	}
	if _, err := r.Version("boost", "7"); !errors.Is(err, ErrVersionNotFound) {
		t.Fatalf("missing version: %v", err)
	}
}

func TestRepositorySwapsVersions(t *testing.T) {
	b := newRepoDir(t).config("m", "format: sklearn\n").version("m", "1", "sk-tree.json")
	r := b.open()
	var failures atomic.Int64
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				v, err := r.Version("m", "")
				if err == nil {
					_, err = v.Predict([]float64{0.5, 0.5, 0.5}, 1)
				}
				if err != nil {
					failures.Add(1)
				}
			}
		}()
	}
	b.version("m", "2", "sk-gb.json")
	r.Scan(context.Background())
	if v, _ := r.Version("m", ""); v.Name != "2" || v.Info().Estimator != "GradientBoostingRegressor" {
		t.Fatalf("after adding version 2 the newest is %s (%s)", v.Name, v.Info().Estimator)
	}
	// A broken new version is refused; version 2 keeps serving.
	b.version("m", "3", `{"format": "skiff-sklearn", "format_version": 1, "n_features": 3, "link": "ident`)
	r.Scan(context.Background())
	if v, _ := r.Version("m", ""); v.Name != "2" {
		t.Fatalf("a broken version 3 replaced version 2: serving %s", v.Name)
	}
	if err := r.Models()[0].Err(); err == nil || !strings.Contains(err.Error(), filepath.Join("m", "3", "model.json")) {
		t.Fatalf("the refusal does not name the broken file: %v", err)
	}
	// Repaired in place: version 3 serves.
	b.version("m", "3", "sk-tree.json")
	r.Scan(context.Background())
	if v, _ := r.Version("m", ""); v.Name != "3" {
		t.Fatalf("repaired version 3 is not serving: %s", v.Name)
	}
	cancel()
	wg.Wait()
	if n := failures.Load(); n != 0 {
		t.Fatalf("%d requests failed during the swaps", n)
	}
}

func TestRepositoryReadiness(t *testing.T) {
	b := newRepoDir(t).
		config("good", "format: xgboost\n").version("good", "1", "xgb-reg.json").
		config("broken", "format: xgboost\n").version("broken", "1", "not json")
	r := b.open()
	if r.Ready() {
		t.Fatal("ready while a configured model has no version loaded")
	}
	if _, err := r.Version("broken", ""); !errors.Is(err, ErrNotReady) || !strings.Contains(err.Error(), "not an XGBoost JSON model") {
		t.Fatalf("broken model: %v", err)
	}
	if err := os.RemoveAll(filepath.Join(b.dir, "broken")); err != nil {
		t.Fatal(err)
	}
	r.Scan(context.Background())
	if !r.Ready() {
		t.Fatal("not ready once the broken model is removed")
	}
	if _, err := r.Version("broken", ""); !errors.Is(err, ErrModelNotFound) {
		t.Fatalf("removed model: %v", err)
	}
}

func TestAllVersionsPolicy(t *testing.T) {
	r := newRepoDir(t).config("m", "format: sklearn\nversions: all\n").
		version("m", "1", "sk-tree.json").version("m", "2", "sk-gb.json").open()
	for _, name := range []string{"1", "2"} {
		if _, err := r.Version("m", name); err != nil {
			t.Fatalf("version %s: %v", name, err)
		}
	}
}

func TestConfigRefusals(t *testing.T) {
	cases := []struct{ name, text, want string }{
		{"no format", "file: m.json\n", "format is required"},
		{"unknown format", "format: onnx\n", `format "onnx" is not supported`},
		{"typo", "format: xgboost\nbatchng: {}\n", "field batchng not found"},
		{"versions", "format: xgboost\nversions: newest\n", `versions "newest"`},
		{"duplicate feature", "format: xgboost\nfeatures: [a, a]\n", "named twice"},
		{"batch size", "format: xgboost\nbatching: {maxBatchSize: 0, maxDelay: 1ms}\n", "maxBatchSize 0"},
		{"delay", "format: xgboost\nbatching: {maxBatchSize: 8, maxDelay: soon}\n", `maxDelay "soon"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), ConfigFile)
			if err := os.WriteFile(path, []byte(c.text), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := readConfig(path)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want an error containing %q", err, c.want)
			}
		})
	}
}

func TestFeatureCountMismatch(t *testing.T) {
	r := newRepoDir(t).config("m", "format: sklearn\nfeatures: [a, b]\n").version("m", "1", "sk-tree.json").open()
	if _, err := r.Version("m", ""); err == nil || !strings.Contains(err.Error(), "names 2 features but the model takes 3") {
		t.Fatalf("got %v", err)
	}
}

// YAML 1.1 reads y, n, on and off as booleans; feature names must stay names.
func TestFeatureNamesStayStrings(t *testing.T) {
	path := filepath.Join(t.TempDir(), ConfigFile)
	if err := os.WriteFile(path, []byte("format: sklearn\nfeatures: [x, y, n, on, 1]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := readConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]string{"x", "y", "n", "on", "1"}, c.Features); d != "" {
		t.Fatalf("features (-want +got):\n%s", d)
	}
}

func TestVersionWithoutFileIsSkipped(t *testing.T) {
	b := newRepoDir(t).config("m", "format: sklearn\n").version("m", "1", "sk-tree.json")
	if err := os.MkdirAll(filepath.Join(b.dir, "m", "2"), 0o755); err != nil {
		t.Fatal(err)
	}
	r := b.open()
	if v, err := r.Version("m", ""); err != nil || v.Name != "1" || r.Models()[0].Err() != nil {
		t.Fatalf("an empty version 2 folder: serving %v, %v, last error %v", v, err, r.Models()[0].Err())
	}
	empty := newRepoDir(t).config("e", "format: sklearn\nfile: m.json\n").version("e", "1", "sk-tree.json").open()
	if _, err := empty.Version("e", ""); err == nil || !strings.Contains(err.Error(), "no version folder holds m.json") {
		t.Fatalf("a config naming a file no version has: %v", err)
	}
}

// The watch loop and a gRPC RepositoryModelLoad may scan at once.
func TestConcurrentScans(t *testing.T) {
	b := newRepoDir(t).config("m", "format: sklearn\n").version("m", "1", "sk-tree.json")
	r := b.open()
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			b.version("m", strconv.Itoa(2+i), "sk-gb.json")
			r.Scan(context.Background())
		}(i)
	}
	wg.Wait()
	r.Scan(context.Background())
	if v, err := r.Version("m", ""); err != nil || v.Name != "5" {
		t.Fatalf("after concurrent scans: %v %v", v, err)
	}
}
