// Package atomicfile writes files that a crash never leaves half-written:
// the data goes to a temporary file beside the target, is synced, and is
// renamed over it (github.com/google/renameio does the work).
package atomicfile

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/google/renameio/v2"
)

// Write replaces path with data, creating its directory (0700) if needed.
// Readers see the old file or the new one, never a part. The file gets
// exactly perm, whatever the umask or the mode of the file it replaces
// (renameio.WriteFile would keep both: a key rewritten 0600 must not stay
// 0644, a volume's defaultMode must hold).
func Write(path string, data []byte, perm os.FileMode) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("creating %s: %w", dir, err)
	}
	f, err := renameio.NewPendingFile(path, renameio.WithStaticPermissions(perm))
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	defer f.Cleanup() // a no-op once replaced
	if _, err := f.Write(data); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := f.CloseAtomicallyReplace(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}
