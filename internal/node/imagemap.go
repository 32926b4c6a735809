package node

import (
	"os"
	"sync"
	"time"

	"github.com/skiff-dev/skiff/internal/node/images"
	"github.com/skiff-dev/skiff/internal/progress"
)

// imageMap serves images.yaml, reloading it when it changes, so that a
// user can map an image without restarting skiff. A broken edit keeps the
// last good map and is reported once per change. Built-in images (skiff's
// own) answer after the user's map, so a user can still remap them.
type imageMap struct {
	file     string
	report   *progress.Reporter
	builtins images.Map

	mu      sync.Mutex
	modTime time.Time
	current *images.Map
}

func newImageMap(file string, builtins []images.Image, report *progress.Reporter) (*imageMap, error) {
	m := &imageMap{file: file, report: report, builtins: images.Map{Images: builtins}}
	current, err := images.Load(file)
	if err != nil {
		return nil, err
	}
	m.current = current
	if fi, err := os.Stat(file); err == nil {
		m.modTime = fi.ModTime()
	}
	return m, nil
}

func (m *imageMap) lookup(ref string) (images.Image, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var mod time.Time
	if fi, err := os.Stat(m.file); err == nil {
		mod = fi.ModTime()
	}
	if !mod.Equal(m.modTime) {
		m.modTime = mod
		if next, err := images.Load(m.file); err != nil {
			m.report.Warn("%v; keeping the previous image map", err)
		} else {
			m.current = next
		}
	}
	if img, ok := m.current.Lookup(ref); ok {
		return img, true
	}
	return m.builtins.Lookup(ref)
}
