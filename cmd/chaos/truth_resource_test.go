package main

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
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
				// limits: 15 ms of CPU an answer, 10 a second, a third
				// of the container's half CPU. cpu: 40 ms, 5 a second,
				// two fifths: the scheduler favours a thread that
				// slept, so a short answer slips in between the busy
				// workers, and only a long one shows them.
				cost := "15ms"
				if kind == "cpu" {
					cost = "40ms"
				}
				cmd = append(cmd, "-cost", cost, "-cache="+strconv.FormatBool(robust))
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
				if !robust {
					// A disk whose flushes cost nothing (a write cache
					// that acknowledges them) makes no service wait
					// behind any writers: right before the row, see
					// how much the fault slows this service, and say
					// so rather than call the row's pass a lie.
					r.before = func() string { return ioCalibrate(t, r, appDir, r.vars["victim_ip"]+":8080") }
				}
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

// ioCalibration is the io rows' fault with no hypothesis: chaos runs it
// while the test times the service itself.
const ioCalibration = `version: v1
title: The io fault alone, while the test times the service
vars: {victim: "", pid_file: "", "on": docker}
targets:
  docker: {docker: {name: "${victim}"}}
  process: {process: {pid_file: "${pid_file}"}}
method:
  - {fault: io, target: "${on}", with: {path: /data, workers: 32, file_size: 16MiB}, for: 6s}
`

// ioCalibrate times the service at addr, quiet and under the io fault
// that chaos applies with no hypothesis, and sets the row's check between
// the two: how slow a service gets behind writers is the machine's disk,
// not chaos's to decide. The row then wants chaos's verdict to see what
// the test saw. It returns why the row cannot be shown on this machine,
// or "".
func ioCalibrate(t *testing.T, r *truthRun, appDir, addr string) string {
	quiet := medianGet(t, addr, 2*time.Second, nil)
	file := filepath.Join(r.dir, "io-calibration.yaml")
	if err := os.WriteFile(file, []byte(ioCalibration), 0o644); err != nil {
		t.Error(err)
		return ""
	}
	// Only the vars it uses: a --var no value uses is refused.
	vars := map[string]string{}
	for _, k := range []string{"victim", "pid_file", "on"} {
		if v, ok := r.vars[k]; ok {
			vars[k] = v
		}
	}
	cal := &truthRun{c: truthCase{file: file}, vars: vars, dir: r.dir}
	done := make(chan struct{})
	go func() {
		defer close(done)
		cal.runOnce(appDir)
	}()
	// Judge the service from a second after the fault's start, as its
	// check's windows do, to its end.
	time.Sleep(2 * time.Second)
	loaded := medianGet(t, addr, 5*time.Second, done)
	<-done
	if cal.err != nil || cal.code != 0 {
		t.Errorf("io calibration run: exit %d, %v\n%s", cal.code, cal.err, cal.stderr)
		return ""
	}
	t.Logf("io/fragile calibration: the service answered in p50 %v quiet and %v under the io fault alone",
		quiet.Round(time.Millisecond), loaded.Round(time.Millisecond))
	// Halfway between the two, on a log scale, a factor of 3 or more
	// from each: a quiet service's median moves by some 20 ms on a busy
	// machine, so the quiet side counts as 20 ms at least.
	floor := max(quiet, 20*time.Millisecond)
	if loaded < 10*floor {
		return fmt.Sprintf("this machine's disk absorbs the io fault's writers: the service answered in p50 %v quiet and %v under the fault, too close for a check to tell apart",
			quiet.Round(time.Millisecond), loaded.Round(time.Millisecond))
	}
	fast := time.Duration(math.Sqrt(float64(floor) * float64(loaded))).Round(time.Millisecond)
	r.vars["fast"] = fast.String()
	t.Logf("io/fragile: the check wants p50 < %v", fast)
	return ""
}

// medianGet sends GETs to addr one after the other, five a second at most,
// for the given time or until done, and returns their median time; one
// that fails or takes over two seconds counts as two seconds.
func medianGet(t *testing.T, addr string, d time.Duration, done <-chan struct{}) time.Duration {
	t.Helper()
	var took []time.Duration
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		select {
		case <-done:
			end = time.Now()
			continue
		default:
		}
		start := time.Now()
		code, err := httpGet("http://"+addr+"/", 2*time.Second)
		el := time.Since(start)
		if err != nil || code != 200 {
			el = 2 * time.Second
		}
		took = append(took, el)
		time.Sleep(max(0, 200*time.Millisecond-el))
	}
	if len(took) == 0 {
		return 0
	}
	slices.Sort(took)
	return took[len(took)/2]
}
