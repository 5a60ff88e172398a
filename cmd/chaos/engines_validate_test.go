package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestEnginesValidate checks what validate says of engines it needs the
// Docker CLI's settings for: the default engine and contexts.
func TestEnginesValidate(t *testing.T) {
	for _, tc := range []struct {
		name, env, file, want string
	}{
		{
			name: "a crash on a remote default engine",
			env:  "tcp://192.0.2.9:2376",
			file: "targets:\n  web: {docker: {name: web}}\nmethod:\n  - {fault: kill, target: web, with: {crash: true}}\n",
			want: `exp.yaml:6:5: step "kill web": a crash signals the container's process from this machine, but the default Docker engine (tcp://192.0.2.9:2376) is not on this machine`,
		},
		{
			name: "a context that does not exist",
			file: "engines:\n  b: {context: nosuch}\ntargets:\n  web: {docker: {name: web, engine: [b]}}\nmethod:\n  - {fault: kill, target: web}\n",
			want: `exp.yaml:4:16: engine "b": no Docker context "nosuch" in `,
		},
		{
			name: "a crash on a context of a remote engine",
			file: "engines:\n  b: {context: far}\ntargets:\n  web: {docker: {name: web, engine: [b]}}\nmethod:\n  - {fault: kill, target: web, with: {crash: true}}\n",
			want: `exp.yaml:8:5: step "kill web": a crash signals the container's process from this machine, but engine "b" (ssh://ops@192.0.2.7) is not on this machine`,
		},
		{
			name: "context and host together",
			file: "engines:\n  b: {context: far, host: \"unix:///x.sock\"}\ntargets:\n  web: {docker: {name: web, engine: [b]}}\nmethod:\n  - {fault: kill, target: web}\n",
			want: `exp.yaml:4:6: "b" in engines in the experiment: give either context or host, not both`,
		},
		{
			name: "tls on a unix socket",
			file: "engines:\n  b: {host: \"unix:///x.sock\", tls: {verify: false}}\ntargets:\n  web: {docker: {name: web, engine: [b]}}\nmethod:\n  - {fault: kill, target: web}\n",
			want: `tls is for a tcp:// host, not unix://`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("DOCKER_HOST", tc.env)
			t.Setenv("DOCKER_CONTEXT", "")
			cfg := t.TempDir()
			t.Setenv("DOCKER_CONFIG", cfg)
			writeContext(t, cfg, "far", "ssh://ops@192.0.2.7")
			dir := t.TempDir()
			file := filepath.Join(dir, "exp.yaml")
			if err := os.WriteFile(file, []byte("version: v1\ntitle: engines\n"+tc.file), 0o644); err != nil {
				t.Fatal(err)
			}
			io, _, errb := testStdio()
			if code := run([]string{"validate", file}, io); code != exitUsage {
				t.Fatalf("validate exited %d, want %d\n%s", code, exitUsage, errb)
			}
			if !strings.Contains(errb.String(), tc.want) {
				t.Errorf("validate printed:\n%s\nwant a line with:\n%s", errb, tc.want)
			}
		})
	}
}
