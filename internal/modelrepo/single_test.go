package modelrepo

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLinkSingle(t *testing.T) {
	model, err := filepath.Abs("../modelserver/testdata/xgb-reg.json")
	if err != nil {
		t.Fatal(err)
	}
	folder := t.TempDir()
	if err := os.Symlink(model, filepath.Join(folder, DefaultFile)); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ name, path, err string }{
		{name: "a file", path: model},
		{name: "a folder with model.json", path: folder},
		{name: "a missing path", path: filepath.Join(folder, "nothere"), err: "no model at file:///m: the path does not exist"},
		{name: "a folder without model.json", path: t.TempDir(), err: "no model at file:///m: the folder holds no model.json"},
	} {
		t.Run(c.name, func(t *testing.T) {
			root := t.TempDir()
			_, err := LinkSingle(root, "housing", "", "xgboost", c.path, "file:///m")
			if c.err != "" {
				if err == nil || err.Error() != c.err {
					t.Fatalf("error %v, want %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			r, err := New(root, nil)
			if err != nil {
				t.Fatal(err)
			}
			r.Scan(context.Background())
			if !r.Ready() || r.Err() != nil {
				t.Errorf("ready %v, err %v", r.Ready(), r.Err())
			}
		})
	}
	root := t.TempDir()
	link, err := LinkSingle(root, "housing", "7", "sklearn", model, "")
	if err != nil {
		t.Fatal(err)
	}
	r, _ := New(root, nil)
	r.Scan(context.Background())
	if err := r.Err(); r.Ready() || err == nil || !strings.Contains(err.Error(), link) {
		t.Errorf("an XGBoost file served as sklearn: ready %v, err %v (should name %s)", r.Ready(), err, link)
	}
}
