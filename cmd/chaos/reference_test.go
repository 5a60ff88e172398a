package main

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/gamedayhq/chaos/internal/experiment"
	"github.com/gamedayhq/chaos/internal/runner"
)

const referencePath = "../../docs/reference.md"

// TestReferenceUpToDate fails when docs/reference.md differs from what
// `chaos explain` prints; go test -update rewrites it.
func TestReferenceUpToDate(t *testing.T) {
	io, out, _ := testStdio()
	if code := run([]string{"explain"}, io); code != 0 {
		t.Fatalf("chaos explain exited %d", code)
	}
	if *update {
		if err := os.WriteFile(referencePath, out.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(referencePath)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out.Bytes(), want) {
		t.Errorf("%s is stale: run go test ./cmd/chaos -run TestReferenceUpToDate -update", referencePath)
	}
}

// TestReferenceExamplesLoad loads an experiment made of each kind's
// examples: the reference shows nothing the loader refuses.
func TestReferenceExamplesLoad(t *testing.T) {
	c := runner.Catalog{}
	for _, k := range c.TargetKinds() {
		td := c.DescribeTarget(k)
		if td.Example == "" {
			t.Errorf("target kind %s has no example", k)
			continue
		}
		for _, f := range c.FaultNames(k) {
			fd := c.DescribeFault(k, f)
			if fd.Summary == "" || fd.Example == "" {
				t.Errorf("fault %s of %s needs a summary and an example", f, k)
				continue
			}
			target := td.Example
			if strings.HasPrefix(f, "http_") {
				target = "{listen: 127.0.0.1:9091, upstream: 127.0.0.1:9090, protocol: http}"
			}
			src := fmt.Sprintf("version: v1\ntitle: t\ntargets:\n  x:\n    %s: %s\nmethod:\n  - fault: %s\n    target: x\n    with: %s\n", k, target, f, fd.Example)
			if _, err := experiment.Parse("example.yaml", []byte(src), experiment.Options{Catalog: c}); err != nil {
				t.Errorf("the example of %s fault %s does not load:\n%s\n%v", k, f, src, err)
			}
		}
	}
	for _, k := range c.ProbeKinds() {
		pd := c.DescribeProbe(k)
		if pd.Summary == "" || pd.Example == "" {
			t.Errorf("probe kind %s needs a summary and an example", k)
			continue
		}
		src := fmt.Sprintf("version: v1\ntitle: t\nsteady_state:\n  - name: c\n    probe: {%s: %s}\n", k, pd.Example)
		if pd.Expect != "" {
			src += "    expect: " + pd.Expect + "\n"
		}
		if _, err := experiment.Parse("example.yaml", []byte(src), experiment.Options{Catalog: c}); err != nil {
			t.Errorf("the example of probe %s does not load:\n%s\n%v", k, src, err)
		}
	}
}
