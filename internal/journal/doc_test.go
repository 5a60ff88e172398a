package journal_test

import (
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/gamedayhq/chaos/internal/journal"
)

var update = flag.Bool("update", false, "rewrite the event table of docs/architecture.md")

const architecture = "../../docs/architecture.md"

// docs/architecture.md lists every event type with its fields, as
// journal.Types says.
func TestArchitectureEvents(t *testing.T) {
	var b strings.Builder
	b.WriteString("| type | what it says | fields |\n|---|---|---|\n")
	for _, ti := range journal.Types() {
		fmt.Fprintf(&b, "| `%s` | %s | %s |\n", ti.Type, ti.Doc, strings.Join(ti.Fields, ", "))
	}
	doc := string(readFile(t, architecture))
	const begin, end = "<!-- events: generated from journal.Types() -->\n", "<!-- end events -->"
	i, k := strings.Index(doc, begin), strings.Index(doc, end)
	if i < 0 || k < i {
		t.Fatalf("%s: no event table between %q and %q", architecture, begin, end)
	}
	if got := doc[i+len(begin) : k]; got != b.String() {
		if *update {
			if err := os.WriteFile(architecture, []byte(doc[:i+len(begin)]+b.String()+doc[k:]), 0o644); err != nil {
				t.Fatal(err)
			}
			return
		}
		t.Errorf("%s: the event table differs from journal.Types(); go test ./internal/journal -run TestArchitectureEvents -update rewrites it\ngot:\n%s\nwant:\n%s", architecture, got, b.String())
	}
}

// Every event type constant is listed once in journal.Types, with a
// description.
func TestTypesListEveryType(t *testing.T) {
	seen := map[string]bool{}
	for _, ti := range journal.Types() {
		if seen[string(ti.Type)] {
			t.Errorf("%s listed twice", ti.Type)
		}
		seen[string(ti.Type)] = true
		if ti.Doc == "" {
			t.Errorf("%s has no description", ti.Type)
		}
	}
	f, err := parser.ParseFile(token.NewFileSet(), "event.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, spec := range g.Specs {
			vs := spec.(*ast.ValueSpec)
			if id, ok := vs.Type.(*ast.Ident); !ok || id.Name != "Type" {
				continue
			}
			for _, v := range vs.Values {
				typ, _ := strconv.Unquote(v.(*ast.BasicLit).Value)
				n++
				if !seen[typ] {
					t.Errorf("event type %s is not in journal.Types()", typ)
				}
			}
		}
	}
	if n != len(seen) {
		t.Errorf("event.go declares %d event types; journal.Types() lists %d", n, len(seen))
	}
}
