package main

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files")

// testStdio returns streams for running commands in-process.
func testStdio() (*stdio, *bytes.Buffer, *bytes.Buffer) {
	var out, errb bytes.Buffer
	return &stdio{
		in:        strings.NewReader(""),
		out:       &out,
		err:       &errb,
		lookupEnv: func(string) (string, bool) { return "", false },
		signals: func() (<-chan os.Signal, func()) {
			return make(chan os.Signal), func() {}
		},
	}, &out, &errb
}

// TestValidateGolden runs `chaos validate` on each invalid experiment and
// compares every message with the golden file next to it.
func TestValidateGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/invalid/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 25 {
		t.Fatalf("only %d invalid experiments; the suite wants at least 25", len(files))
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".yaml"), func(t *testing.T) {
			io, _, errb := testStdio()
			code := run([]string{"validate", f}, io)
			if code != exitUsage {
				t.Errorf("validate %s exited %d, want %d", f, code, exitUsage)
			}
			got := errb.String()
			golden := strings.TrimSuffix(f, ".yaml") + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("validate %s printed:\n%s\nwant:\n%s", f, got, want)
			}
		})
	}
}

// TestValidateValid checks that every shipped experiment validates.
func TestValidateValid(t *testing.T) {
	files, _ := filepath.Glob("../../experiments/*.yaml")
	more, _ := filepath.Glob("../../experiments/*/*.yaml")
	files = append(files, more...)
	if len(files) == 0 {
		t.Fatal("no experiments found")
	}
	for _, f := range files {
		io, out, errb := testStdio()
		if code := run([]string{"validate", f}, io); code != 0 {
			t.Errorf("validate %s exited %d:\n%s%s", f, code, out, errb)
		}
	}
}
