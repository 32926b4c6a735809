package node

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/skiff-dev/skiff/internal/node/images"
)

type recordedEvent struct{ Type, Reason, Message string }

// writeLater writes a map file with a modification time of its own, so a
// rewrite within the file system's timestamp granularity is still seen.
func writeLater(t *testing.T, root, name, content string) {
	t.Helper()
	f := filepath.Join(root, name)
	if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(f, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	stamp := time.Now().Add(time.Duration(len(content)) * time.Second)
	if err := os.Chtimes(f, stamp, stamp); err != nil {
		t.Fatal(err)
	}
}

func TestImageMapReloadsAndReportsOnTheNode(t *testing.T) {
	root := t.TempDir()
	writeLater(t, root, "images.yaml", "images:\n- image: \"app:*\"\n  args: [app]\n")
	m, err := newImageMap(root, "/bin/skiff", []images.Image{{Pattern: "skiff:*", Command: []string{"/bin/skiff"}, Source: "built-in"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var events []recordedEvent
	m.event = func(eventType, reason, message string) {
		events = append(events, recordedEvent{eventType, reason, message})
	}
	take := func() []recordedEvent { out := events; events = nil; return out }

	// A drop-in adds its entries; the reload is confirmed on the node.
	writeLater(t, root, "images.d/web.yaml", "images:\n- image: \"web:*\"\n  command: [skiff, serve]\n")
	if img, ok := m.lookup("web:1"); !ok || img.Command[0] != "/bin/skiff" || img.Note != "" {
		t.Errorf("web:1 = %+v, %v; want the drop-in's entry running this skiff", img, ok)
	}
	want := []recordedEvent{{"Normal", "ImageMapLoaded", "image map reloaded: 2 entries from images.yaml, images.d/web.yaml"}}
	if diff := cmp.Diff(want, take()); diff != "" {
		t.Errorf("events after adding a drop-in (-want +got):\n%s", diff)
	}

	// What `cat >> images.yaml` does: the old entries stay, and every
	// pod that looks an image up hears why.
	writeLater(t, root, "images.yaml", "images:\n- image: \"app:*\"\n  args: [app]\nimages:\n- image: \"new:*\"\n")
	img, ok := m.lookup("app:1")
	if !ok || !strings.Contains(img.Note, `images.yaml: line 4: mapping key "images" already defined at line 1`) {
		t.Errorf("app:1 = %+v, %v; want the old entry with a note naming the file and line", img, ok)
	}
	got := take()
	if len(got) != 1 || got[0].Reason != "ImageMapInvalid" || !strings.Contains(got[0].Message, "images.yaml: line 4") || !strings.Contains(got[0].Message, "previous entries are kept") {
		t.Errorf("events after breaking images.yaml = %+v", got)
	}
	if _, ok := m.lookup("new:1"); ok {
		t.Error("an entry of the broken file was used")
	}
	if len(take()) != 0 {
		t.Error("an unchanged broken file was reported again")
	}

	// A file that never loaded: pods that miss hear about it too.
	writeLater(t, root, "images.d/zz.yaml", "images:\n- imag: x\n")
	if img, ok := m.lookup("other:1"); ok || !strings.Contains(img.Note, "images.d/zz.yaml: line 2: field imag not found") || !strings.Contains(img.Note, "not used until it is fixed") {
		t.Errorf("other:1 = %+v, %v; want a miss that names the broken drop-in", img, ok)
	}
	take()

	// Fixed: confirmed, notes gone.
	writeLater(t, root, "images.yaml", "images:\n- image: \"new:*\"\n  args: [new]\n")
	os.Remove(filepath.Join(root, "images.d/zz.yaml"))
	if img, ok := m.lookup("new:1"); !ok || img.Note != "" {
		t.Errorf("new:1 after the fix = %+v, %v", img, ok)
	}
	want = []recordedEvent{{"Normal", "ImageMapLoaded", "image map reloaded: 2 entries from images.yaml, images.d/web.yaml"}}
	if diff := cmp.Diff(want, take()); diff != "" {
		t.Errorf("events after the fix (-want +got):\n%s", diff)
	}
	if img, ok := m.lookup("skiff:v1"); !ok || img.Source != "built-in" {
		t.Errorf("skiff's own image = %+v, %v", img, ok)
	}
}

func TestImageMapRefusesABrokenMapAtStart(t *testing.T) {
	root := t.TempDir()
	writeLater(t, root, "images.d/a.yaml", "images: [")
	if _, err := newImageMap(root, "", nil, nil); err == nil || !strings.Contains(err.Error(), "images.d/a.yaml") {
		t.Errorf("newImageMap = %v, want an error naming images.d/a.yaml", err)
	}
}
