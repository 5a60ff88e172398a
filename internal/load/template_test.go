package load_test

import (
	"testing"

	"github.com/gamedayhq/chaos/internal/load"
)

func TestTemplateExpand(t *testing.T) {
	const id = "0f8fad5b-d9cb-469f-a165-70867728950e"
	tests := []struct {
		in     string
		want   string
		static bool
		uuid   bool
	}{
		{"", "", true, false},
		{"plain", "plain", true, false},
		{"/orders/${seq}", "/orders/42", false, false},
		{"${seq}${seq}", "4242", false, false},
		{"key=${uuid}", "key=" + id, false, true},
		{`{"id":"${uuid}","n":${seq}}`, `{"id":"` + id + `","n":42}`, false, true},
		{"${shop}/x/${seq}", "${shop}/x/42", false, false},
		{"${", "${", true, false},
		{"$${seq}", "${seq}", true, false},
		{"a$${uuid}b${uuid}$$${seq}", "a${uuid}b" + id + "$${seq}", false, true},
		{"${SEQ} ${ seq}", "${SEQ} ${ seq}", true, false},
		{"a${unknown}b${seq}c", "a${unknown}b42c", false, false},
	}
	for _, tt := range tests {
		tmpl := load.ParseTemplate(tt.in)
		if got := tmpl.Expand(load.Vars{Seq: 42, UUID: id}); got != tt.want {
			t.Errorf("ParseTemplate(%q).Expand() = %q; want %q", tt.in, got, tt.want)
		}
		if got := tmpl.String(); got != tt.in {
			t.Errorf("ParseTemplate(%q).String() = %q; want the source", tt.in, got)
		}
		if got := tmpl.Static(); got != tt.static {
			t.Errorf("ParseTemplate(%q).Static() = %v; want %v", tt.in, got, tt.static)
		}
		if got := tmpl.UsesUUID(); got != tt.uuid {
			t.Errorf("ParseTemplate(%q).UsesUUID() = %v; want %v", tt.in, got, tt.uuid)
		}
	}
}

func BenchmarkTemplateExpand(b *testing.B) {
	tmpl := load.ParseTemplate(`{"item":"book","seq":${seq},"key":"${uuid}"}`)
	v := load.Vars{Seq: 123456, UUID: "0f8fad5b-d9cb-469f-a165-70867728950e"}
	b.ReportAllocs()
	for b.Loop() {
		_ = tmpl.Expand(v)
	}
}
