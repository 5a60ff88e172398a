package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"gopkg.in/yaml.v3"
)

const schemaPath = "../../schema/experiment.json"

// TestSchemaUpToDate fails when the checked-in schema differs from what
// `chaos schema` prints; go test -update rewrites it.
func TestSchemaUpToDate(t *testing.T) {
	io, out, _ := testStdio()
	if code := run([]string{"schema"}, io); code != 0 {
		t.Fatalf("chaos schema exited %d", code)
	}
	if *update {
		if err := os.WriteFile(schemaPath, out.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(schemaPath)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out.Bytes(), want) {
		t.Errorf("%s is stale: run go test ./cmd/chaos -run TestSchemaUpToDate -update", schemaPath)
	}
}

// TestExperimentsMatchSchema checks every shipped experiment against the
// schema, as an editor would.
func TestExperimentsMatchSchema(t *testing.T) {
	c := jsonschema.NewCompiler()
	sch, err := c.Compile(schemaPath)
	if err != nil {
		t.Fatalf("compile schema: %v", err)
	}
	check := func(f string) error {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var doc any
		if err := yaml.Unmarshal(b, &doc); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		// Through JSON, so that the validator sees JSON types only.
		j, _ := json.Marshal(doc)
		inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(j))
		if err != nil {
			t.Fatal(err)
		}
		return sch.Validate(inst)
	}
	files, _ := filepath.Glob("../../experiments/*.yaml")
	more, _ := filepath.Glob("../../experiments/*/*.yaml")
	for _, f := range append(files, more...) {
		if err := check(f); err != nil {
			t.Errorf("%s does not match the schema: %v", f, err)
		}
	}
	for _, f := range []string{"unknown-key-top", "bad-duration", "unknown-fault-param", "step-two-kinds"} {
		if check("testdata/invalid/"+f+".yaml") == nil {
			t.Errorf("invalid experiment %s matches the schema", f)
		}
	}
}

// TestSchemaDescribesEverything fails when a key of the format, or of a
// registered kind, has no description, or when a fault's settings are an
// anonymous alternative: the schema and the reference both come from
// them.
func TestSchemaDescribesEverything(t *testing.T) {
	b, err := os.ReadFile(schemaPath)
	if err != nil {
		t.Fatal(err)
	}
	var s any
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	var walk func(n any, path string)
	walk = func(n any, path string) {
		switch n := n.(type) {
		case map[string]any:
			props, _ := n["properties"].(map[string]any)
			for k, v := range props {
				if d, _ := v.(map[string]any)["description"].(string); d == "" {
					t.Errorf("%s/properties/%s has no description: give its field a doc tag", path, k)
				}
			}
			for k, v := range n {
				walk(v, path+"/"+k)
			}
		case []any:
			for i, v := range n {
				walk(v, fmt.Sprintf("%s/%d", path, i))
			}
		}
	}
	walk(s, "#")
	step := s.(map[string]any)["$defs"].(map[string]any)["step"].(map[string]any)["oneOf"].([]any)[0].(map[string]any)
	for i, alt := range step["properties"].(map[string]any)["with"].(map[string]any)["anyOf"].([]any) {
		a := alt.(map[string]any)
		if a["title"] == nil || a["description"] == nil || a["examples"] == nil {
			t.Errorf("fault settings %d (%v) need a title, a description and an example: give the fault a Doc", i, a["title"])
		}
	}
}
