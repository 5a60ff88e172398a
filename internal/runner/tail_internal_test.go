package runner

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The last lines of a long log leave out the line the read began in the
// middle of: a secret cut there would not be masked.
func TestFileTailLeavesOutTheCutLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "svc.log")
	line := "token tok-0123456789abcdefghij " + strings.Repeat("y", 1000) + "\n"
	text := strings.Repeat(line, 20) + "last\n"
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	got := fileTail(path)
	for _, l := range strings.Split(got, " | ") {
		if l != strings.TrimSuffix(line, "\n") && l != "last" {
			t.Errorf("fileTail = %q: line %q is cut", got, l)
		}
	}
}
