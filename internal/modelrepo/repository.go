package modelrepo

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"

	"github.com/skiff-dev/skiff/internal/model"
)

// Errors a lookup returns; servers map them to 404 and 503.
var (
	ErrModelNotFound   = errors.New("model not found")
	ErrVersionNotFound = errors.New("model version not found")
	ErrNotReady        = errors.New("model not ready")
)

// Repository is a model repository folder and what has loaded from it.
type Repository struct {
	dir     string
	observe BatchObserver
	scanMu  sync.Mutex // one scan at a time: the watch loop and on-demand reloads

	mu     sync.RWMutex
	models map[string]*Entry
}

// Entry is one configured model: the folder, its config, the versions
// serving and the last load error.
type Entry struct {
	Name string

	served atomic.Pointer[servedSet]
	stamp  string // config and version folders at the last scan

	mu      sync.Mutex
	lastErr error
}

type servedSet struct {
	versions []*Version // ascending by number
}

// New opens a repository folder; Scan loads it.
func New(dir string, observe BatchObserver) (*Repository, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("model repository: %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("model repository %s is not a folder: give the folder that holds one folder per model", dir)
	}
	return &Repository{dir: dir, observe: observe, models: map[string]*Entry{}}, nil
}

// Run rescans every interval until ctx ends.
func (r *Repository) Run(ctx context.Context, interval time.Duration) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			r.Scan(ctx)
		}
	}
}

// Scan brings the loaded models in line with the folder: new models and
// changed versions load, removed ones unload. Failures are logged and kept
// as the model's error; whatever was serving goes on serving.
func (r *Repository) Scan(ctx context.Context) {
	r.scanMu.Lock()
	defer r.scanMu.Unlock()
	log := logr.FromContextOrDiscard(ctx)
	dirs, err := os.ReadDir(r.dir)
	if err != nil {
		log.Error(err, "Cannot read the model repository", "dir", r.dir)
		return
	}
	seen := map[string]bool{}
	for _, d := range dirs {
		if !d.IsDir() || d.Name()[0] == '.' {
			continue
		}
		if _, err := os.Stat(filepath.Join(r.dir, d.Name(), ConfigFile)); err != nil {
			continue
		}
		name := d.Name()
		seen[name] = true
		r.mu.Lock()
		e := r.models[name]
		if e == nil {
			e = &Entry{Name: name}
			r.models[name] = e
		}
		r.mu.Unlock()
		r.refresh(ctx, e)
	}
	r.mu.Lock()
	for name := range r.models {
		if !seen[name] {
			delete(r.models, name)
			log.Info("Model unloaded: its folder or model.yaml is gone", "model", name)
		}
	}
	r.mu.Unlock()
}

// refresh reloads one model if its folder changed since the last scan.
func (r *Repository) refresh(ctx context.Context, e *Entry) {
	log := logr.FromContextOrDiscard(ctx).WithValues("model", e.Name)
	folder := filepath.Join(r.dir, e.Name)
	stamp, numbers := folderStamp(folder)
	if stamp == e.stamp {
		return
	}
	e.stamp = stamp
	c, err := readConfig(filepath.Join(folder, ConfigFile))
	if err != nil {
		e.fail(log, err, "Model config refused; the loaded versions keep serving")
		return
	}
	if len(numbers) == 0 {
		e.fail(log, fmt.Errorf("%s has no version folders: put the model file in %s/1/%s", folder, folder, c.File), "No versions to load")
		return
	}
	latest := c.Versions == "latest"
	if latest {
		slices.Reverse(numbers) // newest first: the first that loads serves
	}
	old := e.served.Load()
	var next []*Version
	var failures []error
	var missing []string
	for _, n := range numbers {
		name := strconv.Itoa(n)
		path := filepath.Join(folder, name, c.File)
		file, exists := fileStamp(path)
		if !exists {
			// A version folder still being filled: not a failure, not a version.
			missing = append(missing, path)
			continue
		}
		fstamp := file + "|" + configStamp(c)
		v := old.find(name)
		if v == nil || v.stamp != fstamp {
			v, err = r.load(e.Name, name, c, path, fstamp)
			if err != nil {
				failures = append(failures, err)
				log.Error(err, "Model version refused; the loaded versions keep serving", "version", name)
				continue
			}
			log.Info("Model version loaded", "version", name, "estimator", v.Info().Estimator, "features", v.Info().Features)
		}
		next = append(next, v)
		if latest {
			break
		}
	}
	if len(next) == 0 && len(failures) == 0 {
		failures = append(failures, fmt.Errorf("no version folder holds %s (looked for %s)", c.File, strings.Join(missing, ", ")))
		log.Error(failures[0], "No version to load")
	}
	if len(next) == 0 && old != nil {
		// Nothing loads now: keep serving the last good version.
		next = old.versions[len(old.versions)-1:]
	}
	e.served.Store(&servedSet{versions: next})
	e.mu.Lock()
	e.lastErr = errors.Join(failures...)
	e.mu.Unlock()
}

func (r *Repository) load(modelName, version string, c Config, path, stamp string) (*Version, error) {
	m, err := model.Load(c.Format, path)
	if err != nil {
		return nil, err
	}
	return newVersion(modelName, version, c, m, stamp, r.observe)
}

func (e *Entry) fail(log logr.Logger, err error, msg string) {
	log.Error(err, msg)
	e.mu.Lock()
	e.lastErr = err
	e.mu.Unlock()
}

func (s *servedSet) find(name string) *Version {
	if s == nil {
		return nil
	}
	for _, v := range s.versions {
		if v.Name == name {
			return v
		}
	}
	return nil
}

// Models lists the configured models by name.
func (r *Repository) Models() []*Entry {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]*Entry, 0, len(r.models))
	for _, e := range r.models {
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Ready is true when there is at least one model and every configured
// model has a version serving.
func (r *Repository) Ready() bool {
	models := r.Models()
	for _, e := range models {
		if !e.Ready() {
			return false
		}
	}
	return len(models) > 0
}

// Model finds a configured model.
func (r *Repository) Model(name string) (*Entry, error) {
	r.mu.RLock()
	e := r.models[name]
	r.mu.RUnlock()
	if e == nil {
		return nil, fmt.Errorf("%w: %q is not in the repository (models: %s)", ErrModelNotFound, name, r.names())
	}
	return e, nil
}

// Version finds a serving version; "" is the newest.
func (r *Repository) Version(name, version string) (*Version, error) {
	e, err := r.Model(name)
	if err != nil {
		return nil, err
	}
	return e.Version(version)
}

func (r *Repository) names() string {
	var names []string
	for _, e := range r.Models() {
		names = append(names, e.Name)
	}
	if len(names) == 0 {
		return "none"
	}
	return fmt.Sprint(names)
}

// Ready says whether a version of the model is serving.
func (e *Entry) Ready() bool {
	s := e.served.Load()
	return s != nil && len(s.versions) > 0
}

// Versions lists the serving versions, oldest first.
func (e *Entry) Versions() []*Version {
	if s := e.served.Load(); s != nil {
		return s.versions
	}
	return nil
}

// Err is the last load error, if any.
func (e *Entry) Err() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.lastErr
}

// Version finds a serving version; "" is the newest.
func (e *Entry) Version(version string) (*Version, error) {
	vs := e.Versions()
	if len(vs) == 0 {
		err := fmt.Errorf("%w: %q has no version loaded", ErrNotReady, e.Name)
		if last := e.Err(); last != nil {
			err = fmt.Errorf("%w: %q has no version loaded: %v", ErrNotReady, e.Name, last)
		}
		return nil, err
	}
	if version == "" {
		return vs[len(vs)-1], nil
	}
	for _, v := range vs {
		if v.Name == version {
			return v, nil
		}
	}
	var names []string
	for _, v := range vs {
		names = append(names, v.Name)
	}
	return nil, fmt.Errorf("%w: %q has no version %q serving (versions: %v)", ErrVersionNotFound, e.Name, version, names)
}
