package main

import (
	"runtime/debug"
	"testing"
)

// TestVersionOf checks where chaos version takes its version from: the
// module version that go install records, else ldflags, else dev, with the
// commit a build from a checkout records.
func TestVersionOf(t *testing.T) {
	vcs := []debug.BuildSetting{
		{Key: "vcs.revision", Value: "0123456789abcdef0123456789abcdef01234567"},
		{Key: "vcs.time", Value: "2026-12-06T02:00:00Z"},
	}
	tests := []struct {
		name        string
		bi          *debug.BuildInfo
		ldflags     string
		short, long string
	}{
		{"go install", &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "v1.2.3"}}, "", "v1.2.3", "v1.2.3, built with go1.26.0"},
		{"module version beats ldflags", &debug.BuildInfo{Main: debug.Module{Version: "v1.2.3"}}, "v0.9", "v1.2.3", "v1.2.3"},
		{"checkout with ldflags", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: vcs}, "v2.0.0", "v2.0.0", "v2.0.0 (commit 0123456789ab, 2026-12-06T02:00:00Z)"},
		{"checkout", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: append(vcs, debug.BuildSetting{Key: "vcs.modified", Value: "true"})}, "", "dev+0123456789ab-modified", "dev+0123456789ab-modified (commit 0123456789ab, 2026-12-06T02:00:00Z, modified)"},
		{"pseudo-version", &debug.BuildInfo{Main: debug.Module{Version: "v0.0.0-20261206020000-0123456789ab"}, Settings: vcs}, "", "v0.0.0-20261206020000-0123456789ab", "v0.0.0-20261206020000-0123456789ab (commit 0123456789ab, 2026-12-06T02:00:00Z)"},
		{"ldflags only", nil, "v3", "v3", "v3"},
		{"nothing", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, "", "dev", "dev"},
	}
	for _, tt := range tests {
		short, long := versionOf(tt.bi, tt.ldflags)
		if short != tt.short || long != tt.long {
			t.Errorf("%s: versionOf = %q, %q; want %q, %q", tt.name, short, long, tt.short, tt.long)
		}
	}
}
