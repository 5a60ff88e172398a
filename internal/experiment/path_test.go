package experiment_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gamedayhq/chaos/internal/experiment"
	"github.com/gamedayhq/chaos/internal/inject/process"
	"github.com/gamedayhq/chaos/internal/load"
	"github.com/gamedayhq/chaos/internal/probe"
	"github.com/gamedayhq/chaos/internal/runner"
)

// TestRelativePaths checks that relative paths are taken from the
// experiment file's directory, and that ${file_dir} names it.
func TestRelativePaths(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "sub", "x.yaml")
	src := `version: v1
title: paths
services:
  - name: a
    run: [./bin/a, "${file_dir}/data"]
  - name: b
    run: [b]
    dir: work
steady_state:
  - name: c
    probe: {exec: {run: [./check.sh]}}
method:
  - exec: {run: [./step.sh], dir: /tmp}
    undo: {run: [./undo.sh]}
`
	exp, err := experiment.Parse(file, []byte(src), experiment.Options{Catalog: runner.Catalog{}})
	if err != nil {
		t.Fatal(err)
	}
	sub := filepath.Join(dir, "sub")
	for _, c := range []struct{ name, got, want string }{
		{"service dir", string(exp.Services[0].Dir), sub},
		{"${file_dir}", exp.Services[0].Run[1], sub + "/data"},
		{"relative service dir", string(exp.Services[1].Dir), filepath.Join(sub, "work")},
		{"exec probe dir", string(exp.SteadyState[0].Probe.Spec.(*probe.ExecSpec).Dir), sub},
		{"exec step dir", string(exp.Method[0].Exec.Dir), "/tmp"},
		{"undo dir", string(exp.Method[0].Undo.Dir), sub},
	} {
		if c.got != c.want {
			t.Errorf("%s = %q; want %q", c.name, c.got, c.want)
		}
	}

	// A file named relative to the working directory.
	wd, _ := os.Getwd()
	exp, err = experiment.Parse("rel/y.yaml", []byte(src), experiment.Options{Catalog: runner.Catalog{}})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(exp.Services[0].Dir), filepath.Join(wd, "rel"); got != want {
		t.Errorf("service dir of rel/y.yaml = %q; want %q", got, want)
	}

	_, err = experiment.Parse(file, []byte("version: v1\ntitle: t\nvars: {file_dir: x}\n"), experiment.Options{Catalog: runner.Catalog{}})
	if err == nil {
		t.Error("a variable named file_dir was accepted")
	}
}

// TestPIDFileRelative checks a setting of type Path in a kind's settings.
func TestPIDFileRelative(t *testing.T) {
	file := filepath.Join(t.TempDir(), "x.yaml")
	src := "version: v1\ntitle: t\ntargets:\n  p:\n    process: {pid_file: run/app.pid}\nmethod:\n  - fault: stop\n    target: p\n"
	exp, err := experiment.Parse(file, []byte(src), experiment.Options{Catalog: runner.Catalog{}})
	if err != nil {
		t.Fatal(err)
	}
	got := string(exp.Targets[0].Spec.(*process.Spec).PIDFile)
	if want := filepath.Join(filepath.Dir(file), "run/app.pid"); got != want {
		t.Errorf("pid_file = %q; want %q", got, want)
	}
}

// TestExecStreamDir checks that an exec load stream's command runs in the
// experiment file's directory unless it names one, taken from there.
func TestExecStreamDir(t *testing.T) {
	file := filepath.Join(t.TempDir(), "x.yaml")
	src := "version: v1\ntitle: t\nload:\n  - {name: a, exec: {run: [./a.sh]}, rate: 1/s}\n  - {name: b, exec: {run: [./b.sh], dir: sub}, rate: 1/s}\n" +
		"steady_state:\n  - {name: c, from: a, expect: {success: \">= 99%\"}}\n"
	exp, err := experiment.Parse(file, []byte(src), experiment.Options{Catalog: runner.Catalog{}})
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Dir(file)
	for i, want := range []string{dir, filepath.Join(dir, "sub")} {
		if got := string(exp.Load[i].Spec.(*load.ExecRequest).Dir); got != want {
			t.Errorf("stream %s: dir = %q; want %q", exp.Load[i].Name, got, want)
		}
	}
}

// TestSettings checks that settings are shown as a file writes them.
func TestSettings(t *testing.T) {
	type inner struct {
		Size experiment.Size `yaml:"size"`
	}
	type s struct {
		Delay   time.Duration       `yaml:"delay"`
		Percent *experiment.Percent `yaml:"percent"`
		Signal  experiment.Signal   `yaml:"signal"`
		Zero    int                 `yaml:"zero"`
		Inner   inner               `yaml:",inline"`
		List    []string            `yaml:"list"`
	}
	p := experiment.Percent(0.3)
	got, _ := json.Marshal(experiment.Settings(&s{Delay: 300 * time.Millisecond, Percent: &p, Signal: experiment.MustSignal("SIGKILL"), Inner: inner{Size: 1024}, List: []string{"a"}}))
	want := `{"delay":"300ms","list":["a"],"percent":"30%","signal":"SIGKILL","size":1024}`
	if string(got) != want {
		t.Errorf("Settings = %s; want %s", got, want)
	}
}
