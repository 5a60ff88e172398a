package main

import (
	"bytes"
	"encoding/json"
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
