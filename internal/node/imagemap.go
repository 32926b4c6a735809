package node

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/skiff-dev/skiff/internal/node/images"
	"github.com/skiff-dev/skiff/internal/progress"
)

// imageMapPeriod is how often the map's files are looked at between pod
// starts, so that a fix is confirmed soon after it is saved.
const imageMapPeriod = 2 * time.Second

// imageMap serves images.yaml and images.d/*.yaml, reloading them when
// they change, so that a user can map an image without restarting skiff.
// A file that stops parsing keeps its last good entries; the error goes to
// the log, to a Warning event on the Node and to the pods that look an
// image up meanwhile. Built-in images answer after the files, so a user
// can still remap them.
type imageMap struct {
	root, self string
	report     *progress.Reporter
	event      func(eventType, reason, message string)
	builtins   images.Map
	missing    map[string]string // base image pattern: why it is not built in

	mu      sync.Mutex
	files   map[string]*mapFile // by path
	order   []string            // paths in reading order
	loaded  bool
	current images.Map
}

// mapFile is one file's state: the stamp it was last read at, its last
// good entries and, while it does not load, why.
type mapFile struct {
	name  string
	stamp string
	good  *images.Map
	err   error
}

func newImageMap(root, self string, own []images.Image, report *progress.Reporter) (*imageMap, error) {
	bases, missing := images.Builtins(podPath)
	m := &imageMap{root: root, self: self, report: report, missing: missing,
		builtins: images.Map{Images: append(slices.Clone(own), bases...)},
		files:    map[string]*mapFile{}, event: func(string, string, string) {}}
	if _, err := images.LoadAll(root, self); err != nil {
		return nil, err
	}
	m.refresh()
	return m, nil
}

// podPath is the PATH containers start with (podruntime's default): a
// base image is built in when its program is found there.
const podPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// watch reloads changed files every period until ctx ends.
func (m *imageMap) watch(ctx context.Context, period time.Duration) {
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			m.mu.Lock()
			m.refresh()
			m.mu.Unlock()
		}
	}
}

// refresh rereads the files whose stamp changed and reports what came of
// it. Callers hold mu (or own m).
func (m *imageMap) refresh() {
	paths, err := images.Files(m.root)
	if err != nil {
		return // the folder is unreadable: keep what was read before
	}
	changed := !slices.Equal(paths, m.order)
	var broken []*mapFile
	for _, p := range paths {
		f := m.files[p]
		if f == nil {
			f = &mapFile{name: images.Relative(m.root, p)}
			m.files[p] = f
		}
		stamp := fileStamp(p)
		if stamp == f.stamp {
			continue
		}
		f.stamp, changed = stamp, true
		next, err := images.Load(p, f.name, m.self)
		if f.err = err; err != nil {
			broken = append(broken, f)
			continue
		}
		f.good = next
	}
	for p := range m.files {
		if !slices.Contains(paths, p) {
			delete(m.files, p)
		}
	}
	if !changed && m.loaded {
		return
	}
	first := !m.loaded
	m.loaded, m.order = true, paths
	m.current = images.Map{}
	for _, p := range paths {
		if g := m.files[p].good; g != nil {
			m.current.Images = append(m.current.Images, g.Images...)
		}
	}
	if first {
		return
	}
	for _, f := range broken {
		m.report.Warn("%v; %s", f.err, keeping(f))
		m.event(corev1.EventTypeWarning, "ImageMapInvalid", fmt.Sprintf("%v; %s", f.err, keeping(f)))
	}
	if len(broken) == 0 {
		msg := fmt.Sprintf("image map reloaded: %d entries from %s", len(m.current.Images), strings.Join(cmpOrNone(m.current.Names()), ", "))
		m.report.Info("%s", msg)
		m.event(corev1.EventTypeNormal, "ImageMapLoaded", msg)
	}
}

func keeping(f *mapFile) string {
	if f.good == nil {
		return "its entries are not used until it is fixed"
	}
	return "its previous entries are kept until it is fixed"
}

func cmpOrNone(names []string) []string {
	if len(names) == 0 {
		return []string{"no file"}
	}
	return names
}

func fileStamp(path string) string {
	fi, err := os.Stat(path)
	if err != nil {
		return ""
	}
	return fmt.Sprintf("%d/%d", fi.ModTime().UnixNano(), fi.Size())
}

// lookup answers the image a container names. Its Note says what the user
// should know: a map file that does not load, or the host program a base
// image needs.
func (m *imageMap) lookup(ref string) (images.Image, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.refresh()
	note := m.brokenNote()
	if img, ok := m.current.Lookup(ref); ok {
		img.Note = note
		return img, true
	}
	if img, ok := m.builtins.Lookup(ref); ok {
		img.Note = note
		return img, true
	}
	var missing images.Map
	for pattern := range m.missing {
		missing.Images = append(missing.Images, images.Image{Pattern: pattern})
	}
	if base, ok := missing.Lookup(ref); ok {
		note = strings.TrimPrefix(note+"; "+m.missing[base.Pattern]+", so image "+ref+" is not built in", "; ")
	}
	return images.Image{Note: note}, false
}

// brokenNote names the files that do not load now.
func (m *imageMap) brokenNote() string {
	var out []string
	for _, p := range m.order {
		if f := m.files[p]; f.err != nil {
			out = append(out, fmt.Sprintf("%v (%s)", f.err, keeping(f)))
		}
	}
	return strings.Join(out, "; ")
}
