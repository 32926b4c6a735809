package modelrepo

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// folderStamp summarises a model folder (its config and every version
// folder's files: names, sizes, modification times) so that a scan reloads
// only what changed. It returns the version numbers it found too.
func folderStamp(folder string) (string, []int) {
	var b strings.Builder
	config, _ := fileStamp(filepath.Join(folder, ConfigFile))
	b.WriteString(config)
	numbers := versionNumbers(folder)
	for _, n := range numbers {
		dir := filepath.Join(folder, strconv.Itoa(n))
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			file, _ := fileStamp(filepath.Join(dir, e.Name()))
			fmt.Fprintf(&b, "|%d/%s", n, file)
		}
	}
	return b.String(), numbers
}

// fileStamp is a file's name, size and modification time, and whether it
// exists.
func fileStamp(path string) (string, bool) {
	st, err := os.Stat(path)
	if err != nil {
		return filepath.Base(path) + ":missing", !errors.Is(err, fs.ErrNotExist)
	}
	return fmt.Sprintf("%s:%d:%d", filepath.Base(path), st.Size(), st.ModTime().UnixNano()), true
}

// configStamp makes a version reload when its model's config changes.
func configStamp(c Config) string {
	data, _ := json.Marshal(c)
	return string(data)
}

// versionNumbers lists a model folder's version folders (positive
// integers), ascending.
func versionNumbers(folder string) []int {
	entries, err := os.ReadDir(folder)
	if err != nil {
		return nil
	}
	var out []int
	for _, e := range entries {
		n, err := strconv.Atoi(e.Name())
		if err == nil && n > 0 && e.IsDir() {
			out = append(out, n)
		}
	}
	sort.Ints(out)
	return out
}
