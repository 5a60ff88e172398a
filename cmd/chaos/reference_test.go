package main

import (
	"bytes"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/txtar"

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
	for _, k := range c.StreamKinds() {
		sd := c.DescribeStream(k)
		if sd.Summary == "" || sd.Example == "" {
			t.Errorf("load stream kind %s needs a summary and an example", k)
			continue
		}
		src := fmt.Sprintf("version: v1\ntitle: t\nload:\n  - name: l\n    %s: %s\n    rate: 1/s\nsteady_state:\n  - name: c\n    from: l\n    expect: {success: \">= 99%%\"}\n", k, sd.Example)
		if _, err := experiment.Parse("example.yaml", []byte(src), experiment.Options{Catalog: c}); err != nil {
			t.Errorf("the example of load stream %s does not load:\n%s\n%v", k, src, err)
		}
	}
}

const walkthroughPath = "../../docs/walkthrough.md"

// TestWalkthroughInSync checks that the experiment docs/walkthrough.md
// ends with is the one its testscript runs, and that every link into the
// reference finds its heading.
func TestWalkthroughInSync(t *testing.T) {
	doc, err := os.ReadFile(walkthroughPath)
	if err != nil {
		t.Fatal(err)
	}
	const mark = "<!-- walkthrough:experiment -->\n```yaml\n"
	_, rest, ok := strings.Cut(string(doc), mark)
	if !ok {
		t.Fatalf("%s has no %q", walkthroughPath, mark)
	}
	want, _, _ := strings.Cut(rest, "```")
	ar, err := txtar.ParseFile("testdata/script/walkthrough.txtar")
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, f := range ar.Files {
		if f.Name == "experiments/my-first.yaml" {
			found = true
			if string(f.Data) != want {
				t.Errorf("the experiment in walkthrough.txtar differs from the one in %s", walkthroughPath)
			}
		}
	}
	if !found {
		t.Error("walkthrough.txtar has no experiments/my-first.yaml")
	}

	ref, err := os.ReadFile(referencePath)
	if err != nil {
		t.Fatal(err)
	}
	anchors := map[string]bool{}
	for _, line := range strings.Split(string(ref), "\n") {
		if title, ok := strings.CutPrefix(strings.TrimLeft(line, "#"), " "); ok && strings.HasPrefix(line, "#") {
			anchors[experiment.Anchor(title)] = true
		}
	}
	links := regexp.MustCompile(`reference\.md#([a-z0-9_-]+)`).FindAllStringSubmatch(string(doc), -1)
	if len(links) < 10 {
		t.Errorf("%s links to the reference %d times; it is written from it", walkthroughPath, len(links))
	}
	for _, l := range links {
		if !anchors[l[1]] {
			t.Errorf("%s links to reference.md#%s, which is no heading", walkthroughPath, l[1])
		}
	}
}
