package resource_test

import (
	"encoding/json"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/gamedayhq/chaos/internal/experiment"
	"github.com/gamedayhq/chaos/internal/inject/resource"
)

func TestParseBytes(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want resource.Bytes
		err  string
	}{
		{"256MiB", resource.Bytes{N: 256 << 20}, ""},
		{"1GiB", resource.Bytes{N: 1 << 30}, ""},
		{"1000", resource.Bytes{N: 1000}, ""},
		{"50%", resource.Bytes{Share: 0.5}, ""},
		{" 12.5% ", resource.Bytes{Share: 0.125}, ""},
		{"0%", resource.Bytes{}, "nothing"},
		{"150%", resource.Bytes{}, "out of range"},
		{"lots", resource.Bytes{}, "neither a size nor a share"},
	} {
		got, err := resource.ParseBytes(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParseBytes(%q) = %+v, %v; want an error with %q", tc.in, got, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParseBytes(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
	if got := (resource.Bytes{Share: 0.25}).Of(400); got != 100 {
		t.Errorf("25%%.Of(400) = %d; want 100", got)
	}
}

func TestParseCPUs(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want resource.CPUs
		err  string
	}{
		{"0.5", resource.CPUs{N: 0.5}, ""},
		{"2", resource.CPUs{N: 2}, ""},
		{"75%", resource.CPUs{Share: 0.75}, ""},
		{"0", resource.CPUs{}, "neither"},
		{"-1", resource.CPUs{}, "neither"},
		{"a lot", resource.CPUs{}, "neither"},
	} {
		got, err := resource.ParseCPUs(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParseCPUs(%q) = %+v, %v; want an error with %q", tc.in, got, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParseCPUs(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
}

// TestSettingsRoundTrip decodes settings from YAML as an experiment
// writes them, and sends them through JSON as a record does.
func TestSettingsRoundTrip(t *testing.T) {
	var l resource.Limits
	if err := yaml.Unmarshal([]byte("cpus: 50%\ncpu_shares: 256\nmemory: 64MiB\nallow_oom: true\n"), &l); err != nil {
		t.Fatal(err)
	}
	want := resource.Limits{CPUs: resource.CPUs{Share: 0.5}, CPUShares: 256, Memory: resource.Bytes{N: 64 << 20}, AllowOOM: true}
	if l != want {
		t.Errorf("decoded %+v; want %+v", l, want)
	}
	b, err := json.Marshal(l)
	if err != nil {
		t.Fatal(err)
	}
	var back resource.Limits
	if err := json.Unmarshal(b, &back); err != nil || back != l {
		t.Errorf("JSON %s read back as %+v, %v; want %+v", b, back, err, l)
	}
	var m resource.Memory
	if err := yaml.Unmarshal([]byte("size: [1]\n"), &m); err == nil {
		t.Errorf("size: [1] decoded without an error")
	}
}

func TestValidate(t *testing.T) {
	zero := experiment.Size(0)
	for _, tc := range []struct {
		fault resource.Fault
		want  string // empty: valid
	}{
		{&resource.CPU{Workers: 2}, ""},
		{&resource.CPU{Load: 0.5}, ""},
		{&resource.CPU{}, "set workers"},
		{&resource.CPU{Workers: 1000}, "want 1 to 256"},
		{&resource.Memory{Size: resource.Bytes{N: 1}}, ""},
		{&resource.Memory{}, "set size"},
		{&resource.IO{Path: "/data"}, ""},
		{&resource.IO{}, "set path"},
		{&resource.IO{Path: "/d", BlockSize: 128 << 20}, "at most 64MiB"},
		{&resource.IO{Path: "/d", BlockSize: 8 << 20, FileSize: 4 << 20}, "larger than file_size"},
		{&resource.IO{Path: "/d", Workers: 65}, "want 1 to 64"},
		{&resource.DiskFill{Path: "/d", Size: 1}, ""},
		{&resource.DiskFill{Path: "/d", LeaveFree: &zero}, ""},
		{&resource.DiskFill{Path: "/d"}, "set size"},
		{&resource.DiskFill{Path: "/d", Size: 1, LeaveFree: &zero}, "not both"},
		{&resource.Limits{CPUs: resource.CPUs{N: 0.5}}, ""},
		{&resource.Limits{}, "set cpus"},
		{&resource.Limits{CPUShares: 1}, "want 2 or more"},
		{&resource.Limits{CPUs: resource.CPUs{N: 0.001}}, "no less than 0.01"},
		{&resource.Limits{Memory: resource.Bytes{N: 1 << 20}}, "no less than 6MiB"},
	} {
		err := tc.fault.Validate()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s %+v: Validate = %v; want valid", tc.fault.Kind(), tc.fault, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s %+v: Validate = %v; want an error with %q", tc.fault.Kind(), tc.fault, err, tc.want)
		}
	}
}
