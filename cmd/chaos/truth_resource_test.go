package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
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
	// A disk whose flushes cost nothing (a write cache that acknowledges
	// them) makes no service wait behind the io fault's writers: measure
	// it first, and say so rather than call the row's pass a lie.
	stall := diskStall(t, t.TempDir())
	t.Logf("a %d KiB journal in fsynced 16 KiB records took p50 %v behind %d writers like the io fault's", journalRecords*16, stall.Round(time.Millisecond), ioWriters)
	var runs []*truthRun
	for _, c := range truthCases {
		if !resourceRow(c) {
			continue
		}
		for _, robust := range c.targets() {
			r := newTruthRun(t, c, robust)
			kind := strings.TrimSuffix(c.file, ".yaml")
			if kind == "io" && !robust && stall < ioStallNeeded {
				r.skip = fmt.Sprintf("this machine's disk absorbs the io fault: a journal's fsyncs took p50 %v behind its writers, under the %v the row needs to see a slow service",
					stall.Round(time.Millisecond), ioStallNeeded)
			}
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
				cmd = append(cmd, "-dir", "/data", "-spool", strconv.Itoa(journalRecords*16<<10), "-sync="+strconv.FormatBool(!robust))
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

// journalRecords is how many 16 KiB records the io rows' service writes
// for each request, each made durable when it syncs: eight take some
// milliseconds on a quiet virtual disk (tens while other programs write),
// and hundreds behind the io fault's 32 writers.
const journalRecords = 8

// ioWriters and ioFileSize are the io rows' fault's workers and file_size.
const (
	ioWriters  = 32
	ioFileSize = 16 << 20
)

// ioStallNeeded is how long a fsynced journal must wait behind the io
// fault's writers, at the median, measured before the rows, for the
// fragile io row's service to be slower than its check's 100 ms for sure
// (its median under the fault is some five times the calibration's).
const ioStallNeeded = 150 * time.Millisecond

// diskStall measures how long a service that makes its journal durable
// waits on dir's disk while writers like the io fault's write and fsync
// 1 MiB blocks there: the median time to write a journal of
// journalRecords 16 KiB records, each followed by an fsync, as the
// service does, over three seconds.
func diskStall(t *testing.T, dir string) time.Duration {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for i := range ioWriters {
		wg.Go(func() {
			f, err := os.Create(filepath.Join(dir, fmt.Sprintf("writer-%d", i)))
			if err != nil {
				t.Error(err)
				return
			}
			defer f.Close()
			block := make([]byte, 1<<20)
			for off := int64(0); ctx.Err() == nil; off = (off + 1<<20) % ioFileSize {
				if _, err := f.WriteAt(block, off); err != nil {
					t.Error(err)
					return
				}
				if err := f.Sync(); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	var took []time.Duration
	rec := make([]byte, 16<<10)
	for n := 0; ctx.Err() == nil; n++ {
		start := time.Now()
		f, err := os.Create(filepath.Join(dir, fmt.Sprintf("journal-%d", n)))
		if err != nil {
			t.Fatal(err)
		}
		for range journalRecords {
			if _, err := f.Write(rec); err != nil {
				t.Fatal(err)
			}
			if err := f.Sync(); err != nil {
				t.Fatal(err)
			}
		}
		f.Close()
		os.Remove(f.Name())
		took = append(took, time.Since(start))
		time.Sleep(100 * time.Millisecond)
	}
	wg.Wait()
	slices.Sort(took)
	return took[len(took)/2]
}
