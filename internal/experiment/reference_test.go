package experiment_test

import (
	"strings"
	"testing"

	"github.com/gamedayhq/chaos/internal/experiment"
)

// fakeCatalog has one target kind with one fault, as another package would
// register them: the schema and the reference pick both up from the
// settings types and the docs, with nothing written for them here.
type fakeCatalog struct{}

type fakeTarget struct {
	Host string `yaml:"host" doc:"the host to act on" chaos:"required"`
}

type fakeFault struct {
	Loss  experiment.Percent  `yaml:"loss" doc:"the share of packets dropped"`
	After experiment.Duration `yaml:"after" doc:"how long to wait first"`
}

func (f *fakeFault) SetDefaults() { f.After = experiment.Duration(2e9) }

func (fakeCatalog) TargetKinds() []string { return []string{"net"} }
func (fakeCatalog) NewTarget(kind string) any {
	if kind == "net" {
		return &fakeTarget{}
	}
	return nil
}
func (fakeCatalog) FaultNames(string) []string { return []string{"loss"} }
func (fakeCatalog) NewFault(t, f string) any {
	if t == "net" && f == "loss" {
		return &fakeFault{}
	}
	return nil
}
func (fakeCatalog) ProbeKinds() []string       { return nil }
func (fakeCatalog) NewProbe(string) (any, any) { return nil, nil }
func (fakeCatalog) DescribeTarget(string) experiment.Doc {
	return experiment.Doc{Summary: "A host on the network.", Example: "{host: db}"}
}
func (fakeCatalog) DescribeFault(string, string) experiment.Doc {
	return experiment.Doc{Summary: "Drops packets.", Example: "{loss: 30%}"}
}
func (fakeCatalog) DescribeProbe(string) experiment.Doc  { return experiment.Doc{} }
func (fakeCatalog) StreamKinds() []string                { return []string{"http"} }
func (fakeCatalog) NewStream(string) any                 { return &experiment.HTTPRequest{} }
func (fakeCatalog) DescribeStream(string) experiment.Doc { return experiment.Doc{} }

func TestReferencePicksUpRegisteredKinds(t *testing.T) {
	entries := experiment.Reference(fakeCatalog{})
	found, hint := experiment.Lookup(entries, "loss")
	if len(found) != 1 {
		t.Fatalf("Lookup(loss) found %d entries (hint %q); want 1", len(found), hint)
	}
	got := found[0].Markdown()
	for _, want := range []string{
		"### loss (net fault)",
		"Drops packets.",
		"| `after` | duration | `2s` | how long to wait first |",
		"| `loss` | percent |  | the share of packets dropped |",
		"with: {loss: 30%}",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("the entry of loss does not say %q:\n%s", want, got)
		}
	}
	if found, _ := experiment.Lookup(entries, "net"); len(found) != 1 || !strings.Contains(found[0].Body, "| `host` | text | required | the host to act on |") {
		t.Errorf("Lookup(net) = %v; want the net target with its host key", found)
	}
	if _, hint := experiment.Lookup(entries, "los"); hint != `; did you mean "loss"?` {
		t.Errorf("Lookup(los) hint = %q", hint)
	}

	s := experiment.Schema(fakeCatalog{})
	step := s["$defs"].(map[string]any)["step"].(map[string]any)["oneOf"].([]any)[0].(map[string]any)
	alt := step["properties"].(map[string]any)["with"].(map[string]any)["anyOf"].([]any)[0].(map[string]any)
	if alt["title"] != "loss fault on a net target" || alt["description"] != "Drops packets." {
		t.Errorf("the fault's settings in the schema are titled %q, described %q", alt["title"], alt["description"])
	}
}
