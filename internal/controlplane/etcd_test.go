package controlplane

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// etcdDir builds an etcd data dir shaped as etcd leaves it.
func etcdDir(t *testing.T, db []byte, walFiles int) string {
	t.Helper()
	dir := t.TempDir()
	snap := filepath.Join(dir, "member", "snap")
	wal := filepath.Join(dir, "member", "wal")
	for _, d := range []string{snap, wal} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	for i := range walFiles {
		if err := os.WriteFile(filepath.Join(wal, string(rune('a'+i))+".wal"), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(snap, "db")
	if db != nil {
		if err := os.WriteFile(path, db, 0o600); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	b, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Update(func(tx *bolt.Tx) error {
		bk, err := tx.CreateBucketIfNotExists([]byte("key"))
		if err != nil {
			return err
		}
		return bk.Put([]byte("k"), []byte("v"))
	}); err != nil {
		t.Fatal(err)
	}
	b.Close()
	return dir
}

func TestCheckEtcdDir(t *testing.T) {
	tests := []struct {
		name      string
		dir       func(t *testing.T) string
		wantFresh bool
		wantErr   bool
	}{
		{"missing", func(t *testing.T) string { return filepath.Join(t.TempDir(), "etcd") }, true, false},
		{"healthy", func(t *testing.T) string { return etcdDir(t, nil, 1) }, false, false},
		{"garbage db", func(t *testing.T) string { return etcdDir(t, []byte("not a bolt database at all, really"), 1) }, false, true},
		{"empty db", func(t *testing.T) string { return etcdDir(t, []byte{}, 1) }, false, true},
		{"no wal", func(t *testing.T) string { return etcdDir(t, nil, 0) }, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := tt.dir(t)
			fresh, err := checkEtcdDir(dir)
			if (err != nil) != tt.wantErr {
				t.Fatalf("checkEtcdDir error = %v, want error %v", err, tt.wantErr)
			}
			if err != nil && !errors.Is(err, ErrEtcdCorrupt) {
				t.Errorf("error %v is not ErrEtcdCorrupt", err)
			}
			if fresh != tt.wantFresh {
				t.Errorf("fresh = %v, want %v", fresh, tt.wantFresh)
			}
		})
	}
}

func TestReadyzExclusionsOnlyOnRestart(t *testing.T) {
	if got := readyzExclusions(true); len(got) != 0 {
		t.Errorf("fresh cluster excludes %v; it must wait for every bootstrap hook", got)
	}
	if got := readyzExclusions(false); len(got) != len(bootstrapHooks) {
		t.Errorf("restart excludes %v, want %v", got, bootstrapHooks)
	}
}
