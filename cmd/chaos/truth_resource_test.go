package main

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"

	"github.com/gamedayhq/chaos/internal/inject/docker/dockertest"
)

// TestTruthTableResource runs the rows of resource faults. Each run gets a
// container of its own, FROM scratch with the app bound in, that serves
// "app work" with the row's defence when robust; a process row hits the
// container's main process, as seen from the host.
func TestTruthTableResource(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("resource faults move a worker into the target's cgroups, which needs root")
	}
	env := dockertest.New(t)
	appDir := buildApp(t)
	var runs []*truthRun
	for _, c := range truthCases {
		if !resourceRow(c) {
			continue
		}
		for _, robust := range c.targets() {
			r := newTruthRun(t, c, robust)
			kind := strings.TrimSuffix(c.file, ".yaml")
			name := strings.ReplaceAll(strings.ReplaceAll(c.fault, "/", "-"), "_", "-") + "-" + r.target()
			cmd := []string{"/app", "work", "-listen", ":8080"}
			host := &container.HostConfig{Mounts: []mount.Mount{{Type: mount.TypeBind, Source: filepath.Join(appDir, "app"), Target: "/app", ReadOnly: true}}}
			switch kind {
			case "cpu", "limits":
				// 15 ms of CPU an answer, 10 a second: a third of the
				// container's half CPU.
				cmd = append(cmd, "-cost", "15ms", "-cache="+strconv.FormatBool(robust))
				host.Resources.NanoCPUs = 5e8
			case "memory":
				// The fragile service holds its last four 8 MiB
				// buffers; the robust one four small ones.
				buffer := "8388608"
				if robust {
					buffer = c.robust["buffer"]
				}
				cmd = append(cmd, "-buffer", buffer, "-keep", "4")
				host.Resources.Memory = 128 << 20
			case "io":
				// A directory of the host's disk: a tmpfs has nothing
				// to wait for.
				data := t.TempDir()
				cmd = append(cmd, "-dir", "/data", "-spool", "65536", "-sync="+strconv.FormatBool(!robust))
				host.Mounts = append(host.Mounts, mount.Mount{Type: mount.TypeBind, Source: data, Target: "/data"})
			case "disk_fill":
				cmd = append(cmd, "-dir", "/data", "-spool", "65536", "-spool-optional="+strconv.FormatBool(robust))
				host.Tmpfs = map[string]string{"/data": "size=32m"}
			default:
				t.Fatalf("row %s: no container for it", c.fault)
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			created, err := env.Client.ContainerCreate(ctx, &container.Config{Image: dockertest.ImageRef, Labels: env.Labels(nil), Entrypoint: cmd}, host, nil, nil, env.Name(name))
			if err == nil {
				err = env.Client.ContainerStart(ctx, created.ID, container.StartOptions{})
			}
			cancel()
			if err != nil {
				t.Fatal(err)
			}
			info := env.Inspect(created.ID)
			ip := ""
			for _, n := range info.NetworkSettings.Networks {
				ip = n.IPAddress
			}
			if err := waitHTTP(ip+":8080", 30*time.Second); err != nil {
				t.Fatal(err)
			}
			r.vars["victim"], r.vars["victim_ip"] = env.Name(name), ip
			if _, ok := c.vars["on"]; ok {
				// Relative paths are taken from the experiment file's
				// directory: name the run's own pid file in full.
				pidFile := filepath.Join(r.dir, "victim.pid")
				if err := os.WriteFile(pidFile, []byte(strconv.Itoa(info.State.Pid)), 0o644); err != nil {
					t.Fatal(err)
				}
				r.vars["pid_file"] = pidFile
			}
			runs = append(runs, r)
		}
	}
	// One at a time: a run's fault takes CPU, memory or disk that the
	// others' services would miss.
	runTruthWith(t, runs, appDir, 1)
}
