// Command torture runs chaos experiments (process stop, proxy latency,
// container pause, container disconnect, each with a service chaos starts)
// and ends chaos at a random moment with SIGKILL, SIGHUP (to its process
// group, as a closed terminal does) or SIGTERM. Then, with no manual
// action, it counts what is left 5 s after the signal: stopped processes,
// paused or disconnected containers, listening proxies, orphaned services,
// and watchdogs still running. The goal is nothing left in any run.
//
//	go run ./bench/torture -n 100        # from the repository root
//
// It needs the Docker engine (scripts/docker-up.sh) and builds its image
// FROM scratch from examples/targets/hello; everything it creates is named
// chaos-torture-<random> and removed at the end.
package main

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"flag"
	"fmt"
	"maps"
	mrand "math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/gamedayhq/chaos/internal/proc"
)

var (
	runs    = flag.Int("n", 100, "experiments to run")
	seed    = flag.Uint64("seed", 0, "seed for kinds, signals and moments (default: random)")
	after   = flag.Duration("after", 5*time.Second, "how long after the signal to count what is left")
	latest  = flag.Duration("latest", 3*time.Second, "the latest moment to signal, after chaos starts")
	verbose = flag.Bool("v", false, "print every run")
	chaos   = flag.String("chaos", "", "the chaos binary to torture (default: built from this checkout)")
)

var kinds = []string{"stop", "latency", "pause", "disconnect"}

type signal struct {
	name  string
	sig   syscall.Signal
	group bool // sent to chaos's process group, as a terminal hangup is
}

var signals = []signal{{"SIGKILL", syscall.SIGKILL, false}, {"SIGHUP", syscall.SIGHUP, true}, {"SIGTERM", syscall.SIGTERM, false}}

// result is one run.
type result struct {
	kind, signal string
	at           time.Duration
	exit         string
	faultOn      bool // the fault was applied and not yet reverted at the signal
	serviceUp    bool // the service had started at the signal
	left         []string
	ledger       string // what chaos recover found afterwards
}

func main() {
	flag.Parse()
	if err := torture(); err != nil {
		fmt.Fprintln(os.Stderr, "torture:", err)
		os.Exit(1)
	}
}

// env is what the runs share.
type env struct {
	dir, chaos, name, net string
	victim                *exec.Cmd
}

func torture() error {
	if *seed == 0 {
		var b [8]byte
		rand.Read(b[:])
		*seed = binary.LittleEndian.Uint64(b[:]) >> 1
	}
	rnd := mrand.New(mrand.NewPCG(*seed, 1))
	var b [4]byte
	rand.Read(b[:])
	e := &env{name: "chaos-torture-" + hex.EncodeToString(b[:])}
	e.net = e.name + "-net"
	dir, err := os.MkdirTemp("", "chaos-torture-")
	if err != nil {
		return err
	}
	e.dir = dir
	defer e.cleanup()
	if err := e.setup(); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "torture: %d runs, seed %d, counting %s after the signal\n", *runs, *seed, *after)
	var results []result
	for i := range *runs {
		kind := kinds[i%len(kinds)]
		sig := signals[rnd.IntN(len(signals))]
		at := time.Duration(rnd.Int64N(int64(*latest)))
		r, err := e.run(i, kind, sig, at)
		if err != nil {
			return fmt.Errorf("run %d: %w", i, err)
		}
		results = append(results, r)
		if *verbose || len(r.left) > 0 {
			fmt.Fprintf(os.Stderr, "%3d %-10s %-7s at %-8s fault on %-5v %-10s left: %s\n", i, kind, sig.name, r.at.Round(time.Millisecond), r.faultOn, r.exit, orNothing(r.left))
		}
	}
	report(results)
	return nil
}

func orNothing(s []string) string {
	if len(s) == 0 {
		return "nothing"
	}
	return strings.Join(s, ", ")
}

func (e *env) setup() error {
	e.chaos = *chaos
	if e.chaos == "" {
		e.chaos = filepath.Join(e.dir, "chaos")
		if out, err := exec.Command("go", "build", "-o", e.chaos, "./cmd/chaos").CombinedOutput(); err != nil {
			return fmt.Errorf("build chaos: %v\n%s", err, out)
		}
	}
	img := filepath.Join(e.dir, "image")
	os.Mkdir(img, 0o755)
	build := exec.Command("go", "build", "-o", filepath.Join(img, "hello"), "./examples/targets/hello")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("build hello: %v\n%s", err, out)
	}
	os.WriteFile(filepath.Join(img, "Dockerfile"), []byte("FROM scratch\nCOPY hello /hello\nENTRYPOINT [\"/hello\", \"-listen\", \"0.0.0.0:8081\"]\n"), 0o644)
	steps := [][]string{
		{"build", "--quiet", "-t", e.name, img},
		{"network", "create", "--label", "chaos.torture=" + e.name, e.net},
		{"run", "-d", "--name", e.name + "-pause", "--label", "chaos.torture=" + e.name, "--network", e.net, e.name},
		{"run", "-d", "--name", e.name + "-cut", "--label", "chaos.torture=" + e.name, "--network", e.net, e.name},
	}
	for _, s := range steps {
		if _, err := docker(s...); err != nil {
			return err
		}
	}
	// The process that stop faults hit, in a group of its own.
	e.victim = exec.Command("sleep", "1000000")
	proc.OwnGroup(e.victim)
	return e.victim.Start()
}

func (e *env) cleanup() {
	if e.victim != nil && e.victim.Process != nil {
		e.victim.Process.Signal(syscall.SIGCONT)
		e.victim.Process.Kill()
		e.victim.Wait()
	}
	docker("rm", "-f", e.name+"-pause", e.name+"-cut")
	docker("network", "rm", e.net)
	docker("rmi", "-f", e.name)
	for _, pid := range e.watchdogs() {
		syscall.Kill(pid, syscall.SIGKILL)
	}
	os.RemoveAll(e.dir)
}

func docker(args ...string) (string, error) {
	cmd := exec.Command("docker", args...)
	cmd.Env = append(os.Environ(), "DOCKER_BUILDKIT=0")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("docker %s: %v: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return strings.TrimSpace(string(out)), nil
}

func freePort() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func (e *env) experiment(i int, kind string, svcPort, proxyPort int) string {
	head := fmt.Sprintf(`version: v1
title: torture %d (%s)
services:
  - name: svc
    run: [%s, -listen, "127.0.0.1:%d", -pidfile, %s]
    ready: {http: {url: "http://127.0.0.1:%d/health"}, within: 5s}
    grace: 1s
`, i, kind, filepath.Join(e.dir, "image", "hello"), svcPort, filepath.Join(e.dir, fmt.Sprintf("svc-%d.pid", i)), svcPort)
	var body string
	switch kind {
	case "stop":
		body = fmt.Sprintf("targets:\n  victim: {process: {pid: %d}}\nmethod:\n  - {fault: stop, target: victim, for: 2500ms}\n", e.victim.Process.Pid)
	case "latency":
		body = fmt.Sprintf("targets:\n  link: {proxy: {listen: \"127.0.0.1:%d\", upstream: \"127.0.0.1:%d\"}}\nmethod:\n  - {fault: latency, target: link, with: {delay: 100ms}, for: 2500ms}\n", proxyPort, svcPort)
	case "pause":
		body = fmt.Sprintf("targets:\n  c: {docker: {name: %s-pause}}\nmethod:\n  - {fault: pause, target: c, for: 2500ms}\n", e.name)
	case "disconnect":
		body = fmt.Sprintf("targets:\n  c: {docker: {name: %s-cut}}\nmethod:\n  - {fault: disconnect, target: c, with: {network: %s}, for: 2500ms}\n", e.name, e.net)
	}
	return head + body
}

func (e *env) run(i int, kind string, sig signal, at time.Duration) (result, error) {
	r := result{kind: kind, signal: sig.name, at: at}
	svcPort, proxyPort := freePort(), freePort()
	file := filepath.Join(e.dir, fmt.Sprintf("exp-%d.yaml", i))
	if err := os.WriteFile(file, []byte(e.experiment(i, kind, svcPort, proxyPort)), 0o644); err != nil {
		return r, err
	}
	log, err := os.Create(filepath.Join(e.dir, fmt.Sprintf("run-%d.log", i)))
	if err != nil {
		return r, err
	}
	defer log.Close()
	cmd := exec.Command(e.chaos, "run", "--report-dir", filepath.Join(e.dir, fmt.Sprintf("out-%d", i)), file)
	cmd.Env = append(os.Environ(), "XDG_STATE_HOME="+filepath.Join(e.dir, "state"))
	cmd.Dir = e.dir // where a chaos whose ledger depends on it keeps it
	cmd.Stdout, cmd.Stderr = log, log
	proc.OwnGroup(cmd)
	if err := cmd.Start(); err != nil {
		return r, err
	}
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		close(exited)
	}()
	pidFile := filepath.Join(e.dir, fmt.Sprintf("svc-%d.pid", i))
	svcPID := 0
	deadline := time.Now().Add(at)
	for time.Now().Before(deadline) {
		if svcPID == 0 {
			svcPID = readPID(pidFile)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if so, err := os.ReadFile(log.Name()); err == nil {
		r.faultOn = bytes.Contains(so, []byte("fault.injected")) && !bytes.Contains(so, []byte("fault.reverted"))
	}
	r.serviceUp = svcPID > 0
	target := cmd.Process.Pid
	if sig.group {
		target = -target
	}
	syscall.Kill(target, sig.sig)
	signalled := time.Now()
	for time.Now().Before(signalled.Add(*after)) {
		if svcPID == 0 {
			svcPID = readPID(pidFile)
		}
		time.Sleep(20 * time.Millisecond)
	}
	select {
	case <-exited:
		r.exit = exitText(cmd.ProcessState)
	default:
		r.exit = "running"
		r.left = append(r.left, "chaos still running")
	}

	// What is left, with no manual action.
	if st := state(e.victim.Process.Pid); st == "T" || st == "t" {
		r.left = append(r.left, "stopped process")
	}
	if out, _ := docker("inspect", "-f", "{{.State.Paused}}", e.name+"-pause"); out == "true" {
		r.left = append(r.left, "paused container")
	}
	if out, _ := docker("inspect", "-f", "{{json .NetworkSettings.Networks}}", e.name+"-cut"); !strings.Contains(out, e.net) {
		r.left = append(r.left, "disconnected container")
	}
	if listening(proxyPort) {
		r.left = append(r.left, "listening proxy")
	}
	if svcPID > 0 && alive(svcPID) || listening(svcPort) {
		r.left = append(r.left, "orphaned service")
	}
	if wds := e.watchdogs(); len(wds) > 0 {
		r.left = append(r.left, "watchdog still running")
	}

	// What the ledger still held: chaos recover undoes it and lists it.
	rec := exec.Command(e.chaos, "recover")
	rec.Env, rec.Dir = cmd.Env, cmd.Dir
	out, _ := rec.Output()
	for _, line := range strings.Split(string(out), "\n") {
		if line != "" && !strings.HasPrefix(line, "ledgers in ") && line != "nothing to recover" {
			r.ledger = "entries left"
		}
	}

	// Start the next run clean, whatever this one left.
	syscall.Kill(e.victim.Process.Pid, syscall.SIGCONT)
	docker("unpause", e.name+"-pause")
	docker("network", "connect", e.net, e.name+"-cut")
	if svcPID > 0 {
		proc.KillGroup(svcPID, syscall.SIGKILL)
	}
	for _, pid := range e.watchdogs() {
		syscall.Kill(pid, syscall.SIGKILL)
	}
	select {
	case <-exited:
	default:
		proc.KillGroup(cmd.Process.Pid, syscall.SIGKILL)
		<-exited
	}
	return r, nil
}

func readPID(file string) int {
	b, err := os.ReadFile(file)
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}

func exitText(ps *os.ProcessState) string {
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return ws.Signal().String()
	}
	return "exit " + strconv.Itoa(ps.ExitCode())
}

// state is a process's state letter, "" when it is gone.
func state(pid int) string {
	st, _ := proc.State(pid)
	return st
}

func alive(pid int) bool { return !proc.Gone(pid) }

func listening(port int) bool {
	c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 200*time.Millisecond)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// watchdogs lists the chaos watchdogs of this harness's runs still there.
func (e *env) watchdogs() []int {
	var out []int
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	mark := []byte("watchdog\x00--ledger\x00" + filepath.Join(e.dir, "state"))
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err != nil || !bytes.Contains(b, mark) {
			continue
		}
		pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(p)))
		if alive(pid) {
			out = append(out, pid)
		}
	}
	return out
}

func report(results []result) {
	leftKinds := []string{"stopped process", "paused container", "disconnected container", "listening proxy", "orphaned service", "watchdog still running", "chaos still running"}
	fmt.Printf("%d runs, seed %d, counted %s after the signal (signal at a random moment in [0, %s) after chaos started)\n\n", len(results), *seed, *after, *latest)
	fmt.Println("| kind | signal | runs | runs with something left |")
	fmt.Println("|---|---|---:|---:|")
	total, bad := 0, 0
	for _, k := range kinds {
		for _, s := range signals {
			n, left := 0, 0
			for _, r := range results {
				if r.kind == k && r.signal == s.name {
					n++
					if len(r.left) > 0 {
						left++
					}
				}
			}
			total, bad = total+n, bad+left
			fmt.Printf("| %s | %s | %d | %d |\n", k, s.name, n, left)
		}
	}
	fmt.Printf("| **all** | | **%d** | **%d** |\n\n", total, bad)
	fmt.Println("| left 5 s after the signal | runs |")
	fmt.Println("|---|---:|")
	for _, lk := range leftKinds {
		n := 0
		for _, r := range results {
			if slices.Contains(r.left, lk) {
				n++
			}
		}
		fmt.Printf("| %s | %d |\n", lk, n)
	}
	ledger := 0
	for _, r := range results {
		if r.ledger != "" {
			ledger++
		}
	}
	on, up := 0, 0
	for _, r := range results {
		if r.faultOn {
			on++
		}
		if r.serviceUp {
			up++
		}
	}
	fmt.Printf("\nAt the signal, the fault was on in %d runs and the service up in %d.\n", on, up)
	fmt.Printf("chaos recover afterwards found something to undo in %d of %d runs.\n", ledger, len(results))
	exits := map[string]int{}
	for _, r := range results {
		exits[r.signal+" -> "+r.exit]++
	}
	fmt.Println("\n| signal -> how chaos ended | runs |")
	fmt.Println("|---|---:|")
	for _, k := range slices.Sorted(maps.Keys(exits)) {
		fmt.Printf("| %s | %d |\n", k, exits[k])
	}
}
