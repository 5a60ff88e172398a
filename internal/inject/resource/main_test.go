package resource_test

import (
	"bufio"
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
	"golang.org/x/sys/unix"

	"github.com/gamedayhq/chaos/internal/inject/docker"
	"github.com/gamedayhq/chaos/internal/inject/resource"
	"github.com/gamedayhq/chaos/internal/proc"
)

// The test binary is also the worker (as chaos is in production) and a
// stand-in for a chaos process that applies a fault and is then killed.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case resource.WorkerCommand:
			os.Exit(resource.WorkerMain(os.Stdin, os.Stdout))
		case "apply-and-wait":
			os.Exit(applyAndWait(os.Args[2]))
		}
	}
	goleak.VerifyTestMain(removingBuilds{m})
}

// removingBuilds removes the binaries the tests built once they have run.
type removingBuilds struct{ *testing.M }

func (r removingBuilds) Run() int {
	code := r.M.Run()
	for _, bin := range []string{chaosBin, spinBin} {
		if bin != "" {
			_ = os.RemoveAll(filepath.Dir(bin))
		}
	}
	return code
}

// applyAndWait applies the record in file as a chaos run would, says so on
// stdout and waits to be killed.
func applyAndWait(file string) int {
	b, err := os.ReadFile(file)
	if err != nil {
		fmt.Println(err)
		return 1
	}
	var in struct {
		StateDir, Exe string
		Record        resource.Record
		// FileSizeLimit, when set, is the RLIMIT_FSIZE the worker inherits.
		FileSizeLimit uint64
	}
	if err := json.Unmarshal(b, &in); err != nil {
		fmt.Println(err)
		return 1
	}
	if in.FileSizeLimit > 0 {
		lim := unix.Rlimit{Cur: in.FileSizeLimit, Max: in.FileSizeLimit}
		if err := unix.Setrlimit(unix.RLIMIT_FSIZE, &lim); err != nil {
			fmt.Println(err)
			return 1
		}
	}
	inj := &resource.Injector{StateDir: in.StateDir, Exe: in.Exe}
	if in.Record.Target.Container != "" {
		e, err := docker.Connect(context.Background())
		if err != nil {
			fmt.Println(err)
			return 1
		}
		inj.Docker = e
	}
	if _, err := inj.Apply(context.Background(), in.Record); err != nil {
		fmt.Println(err)
		return 1
	}
	fmt.Println("applied")
	time.Sleep(time.Hour)
	return 0
}

// newInjector returns an Injector whose records go to a directory of the
// test and whose workers are the chaos binary.
func newInjector(t *testing.T) *resource.Injector {
	t.Helper()
	return injector(t, nil, t.TempDir())
}

// needRoot skips a test whose workers must be moved into cgroups, which
// takes root.
func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("moving workers into a target's cgroups takes root: run the tests as root")
	}
}

// injector returns an Injector over d and state whose workers are the
// chaos binary.
func injector(t *testing.T, d resource.Docker, state string) *resource.Injector {
	t.Helper()
	needRoot(t)
	return &resource.Injector{Docker: d, StateDir: state, Exe: chaosBinary(t), Grace: 2 * time.Second}
}

var (
	chaosOnce sync.Once
	chaosBin  string
	chaosErr  error
)

// chaosBinary builds chaos, whose hidden stress-worker command runs the
// workers as in production. It is built without the race detector even
// under -race, whose own memory would count in the target's cgroup.
func chaosBinary(t *testing.T) string {
	t.Helper()
	chaosOnce.Do(func() {
		dir, err := os.MkdirTemp("", "chaos-bin-")
		if err != nil {
			chaosErr = err
			return
		}
		bin := filepath.Join(dir, "chaos")
		cmd := exec.Command("go", "build", "-o", bin, "github.com/gamedayhq/chaos/cmd/chaos")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			chaosErr = fmt.Errorf("build chaos: %v\n%s", err, out)
			return
		}
		chaosBin = bin
	})
	if chaosErr != nil {
		t.Fatal(chaosErr)
	}
	return chaosBin
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// runID returns a run ID unique to the test.
func runID(t *testing.T) string {
	return fmt.Sprintf("test-%d-%d", os.Getpid(), time.Now().UnixNano())
}

// sleeper starts a process that does nothing, as a target.
func sleeper(t *testing.T) *exec.Cmd {
	t.Helper()
	cmd := exec.Command("sleep", "600")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return cmd
}

//go:embed testdata/spin/main.go
var spinSource []byte

var (
	spinOnce sync.Once
	spinBin  string
	spinErr  error
)

// spinBinary builds the CPU-bound test service, static, so that it also
// runs in a container FROM scratch.
func spinBinary(t *testing.T) string {
	t.Helper()
	spinOnce.Do(func() {
		dir, err := os.MkdirTemp("", "chaos-spin-")
		if err != nil {
			spinErr = err
			return
		}
		if err := os.WriteFile(filepath.Join(dir, "main.go"), spinSource, 0o644); err != nil {
			spinErr = err
			return
		}
		if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module spin\n\ngo 1.22\n"), 0o644); err != nil {
			spinErr = err
			return
		}
		cmd := exec.Command("go", "build", "-o", "spin", ".")
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+runtime.GOARCH, "GOWORK=off", "GOTOOLCHAIN=local", "GOFLAGS=-buildvcs=false")
		if out, err := cmd.CombinedOutput(); err != nil {
			spinErr = fmt.Errorf("build the spin service: %v\n%s", err, out)
			return
		}
		spinBin = filepath.Join(dir, "spin")
	})
	if spinErr != nil {
		t.Fatal(spinErr)
	}
	return spinBin
}

// localSpin starts the spin service as a local process and returns it
// and its address.
func localSpin(t *testing.T) (*exec.Cmd, string) {
	t.Helper()
	cmd := exec.Command(spinBinary(t))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("read the spin service's address: %v", err)
	}
	return cmd, strings.TrimSpace(line)
}

// rate measures how many requests per second addr's /work serves to two
// clients that send one after the other for d.
func rate(t *testing.T, addr string, d time.Duration) float64 {
	t.Helper()
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	var n atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range 2 {
		wg.Go(func() {
			for time.Since(start) < d {
				resp, err := client.Get("http://" + addr + "/work")
				if err != nil {
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					n.Add(1)
				}
			}
		})
	}
	wg.Wait()
	return float64(n.Load()) / time.Since(start).Seconds()
}

// workersOf lists the pids of the workers of a run, from /proc.
func workersOf(runID string) []int {
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	var out []int
	for _, d := range dirs {
		b, err := os.ReadFile(filepath.Join(d, "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(string(b), "\x00")
		if len(args) > 3 && args[1] == resource.WorkerCommand && args[3] == runID {
			var pid int
			fmt.Sscan(filepath.Base(d), &pid)
			if !proc.Gone(pid) {
				out = append(out, pid)
			}
		}
	}
	return out
}

// waitFor polls cond until it holds or d passes.
func waitFor(d time.Duration, cond func() bool) bool {
	for deadline := time.Now().Add(d); ; {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

// revert reverts rec and wants no error.
func revert(t *testing.T, in *resource.Injector, rec resource.Record) []string {
	t.Helper()
	w, err := in.Revert(ctxT(t), rec)
	if err != nil {
		t.Fatalf("Revert: %v", err)
	}
	return w
}

func syscallKill(pid int) error { return syscall.Kill(pid, syscall.SIGKILL) }

// killGroup kills a process started by the test.
func killGroup(cmd *exec.Cmd) { _ = syscall.Kill(cmd.Process.Pid, syscall.SIGKILL) }
