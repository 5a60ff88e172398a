// Package dirs makes the directories a run writes into (reports, fault
// ledgers) up front, and removes again those it made and left empty.
package dirs

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
)

// Make creates dir and its missing parents and checks that a file can be
// written in it. It returns the directories it created, parents first,
// also when it fails part way, so that RemoveEmpty can undo them.
func Make(dir string) (created []string, err error) {
	var missing []string // deepest first
	for d := filepath.Clean(dir); ; d = filepath.Dir(d) {
		if _, err := os.Lstat(d); !errors.Is(err, os.ErrNotExist) {
			break
		}
		missing = append(missing, d)
		if filepath.Dir(d) == d {
			break
		}
	}
	err = os.MkdirAll(dir, 0o755)
	for _, d := range slices.Backward(missing) {
		if fi, serr := os.Lstat(d); serr == nil && fi.IsDir() {
			created = append(created, d)
		}
	}
	if err != nil {
		return created, err
	}
	f, err := os.CreateTemp(dir, ".chaos-write-check-*")
	if err != nil {
		return created, err
	}
	f.Close()
	return created, os.Remove(f.Name())
}

// RemoveEmpty removes those of dirs that are empty, last first, so that a
// directory goes after the ones made in it.
func RemoveEmpty(dirs []string) {
	for _, d := range slices.Backward(dirs) {
		os.Remove(d) // fails, as it should, on a directory with files
	}
}
