package controlplane

import (
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// checkBolt opens etcd's backend read-only and walks its buckets. bbolt
// panics on some kinds of damage, so the walk recovers and reports it.
func checkBolt(path string) (err error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: 2 * time.Second})
	if err != nil {
		return err
	}
	defer db.Close()
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("reading it failed: %v", r)
		}
	}()
	return db.View(func(tx *bolt.Tx) error {
		return tx.ForEach(func(name []byte, b *bolt.Bucket) error {
			return b.ForEach(func(k, v []byte) error { return nil })
		})
	})
}
