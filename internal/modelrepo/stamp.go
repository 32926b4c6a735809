package modelrepo

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// folderStamp summarises a model folder (its config and every version
// folder's files: names, sizes, modification times) so that a scan reloads
// only what changed.
func folderStamp(folder string) string {
	var b strings.Builder
	b.WriteString(fileStamp(filepath.Join(folder, ConfigFile)))
	for _, n := range versionNumbers(folder) {
		dir := filepath.Join(folder, strconv.Itoa(n))
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			fmt.Fprintf(&b, "|%d/%s", n, fileStamp(filepath.Join(dir, e.Name())))
		}
	}
	return b.String()
}

func fileStamp(path string) string {
	st, err := os.Stat(path)
	if err != nil {
		return filepath.Base(path) + ":missing"
	}
	return fmt.Sprintf("%s:%d:%d", filepath.Base(path), st.Size(), st.ModTime().UnixNano())
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
