// Command torture runs chaos experiments, each with a service chaos
// starts, and ends chaos at a random moment with SIGKILL, SIGHUP (to its
// process group, as a closed terminal does) or SIGTERM. Then, with no
// manual action, it counts what is left 5 s after the signal. The goal is
// nothing left in any run.
//
// Its kinds of experiment, taken in turn:
//
//   - stop, latency, pause, disconnect: a process stopped, a proxy's
//     latency, a container paused, a container disconnected;
//   - net-latency, net-blackhole, net-bandwidth, intercept: network faults
//     in place in a container's namespace (packets held through NFQUEUE,
//     nftables drops, an HTB qdisc, the fault proxy with a latency),
//     under traffic from the host or, for intercept, from the container;
//   - cpu, memory, io, disk_fill: resource faults whose workers join a
//     container's cgroups (io and disk_fill write in its /data, a tmpfs).
//
// What it counts: stopped processes, paused or disconnected containers,
// listening proxies, orphaned services, watchdogs and chaos still
// running; in the network container, chaos_* nftables tables, HTB
// qdiscs, bound NFQUEUEs, listeners other than its service, and its
// traffic still slow or failing; in the resource container, processes in
// its cgroups that are not its own (workers), chaos-* files in /data,
// and records of the resource state directory that still name it.
//
//	go run ./bench/torture -n 100        # from the repository root
//	go run ./bench/torture -n 60 -kinds net-latency,intercept,cpu
//
// It needs the Docker engine (scripts/docker-up.sh) and root, and builds
// its image FROM scratch from examples/targets/hello; everything it
// creates is named chaos-torture-<random> and removed at the end.
package main

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"maps"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gamedayhq/chaos/internal/proc"
)

var (
	runs      = flag.Int("n", 100, "experiments to run")
	seed      = flag.Uint64("seed", 0, "seed for kinds, signals and moments (default: random)")
	after     = flag.Duration("after", 5*time.Second, "how long after the signal to count what is left")
	latest    = flag.Duration("latest", 3*time.Second, "the latest moment to signal, after chaos starts")
	verbose   = flag.Bool("v", false, "print every run")
	chaos     = flag.String("chaos", "", "the chaos binary to torture (default: built from this checkout)")
	keep      = flag.Bool("keep", false, "keep the experiments, their output and chaos's logs (the directory is printed)")
	during    = flag.Bool("during", false, "also look for what the fault leaves while it is on, just before the signal (which it delays), to show that the checks see each fault; faults then last 8s")
	kindsFlag = flag.String("kinds", strings.Join(kindNames(), ","), "the kinds of experiment to run, in turn, separated by commas")
)

// kind is one kind of experiment.
type kind struct {
	name string
	// body is the experiment's targets and method.
	body func(e *env) string
	// traffic, when set, is sent through the fault from before chaos
	// starts until the count begins.
	traffic func(e *env, stop <-chan struct{})
}

var kinds = []kind{
	{name: "stop", body: func(e *env) string {
		return fmt.Sprintf("targets:\n  victim: {process: {pid: %d}}\nmethod:\n  - {fault: stop, target: victim, for: 2500ms}\n", e.victim.Process.Pid)
	}},
	{name: "latency", body: func(e *env) string {
		return fmt.Sprintf("targets:\n  link: {proxy: {listen: \"127.0.0.1:%d\", upstream: \"127.0.0.1:%d\"}}\nmethod:\n  - {fault: latency, target: link, with: {delay: 100ms}, for: 2500ms}\n", e.proxyPort, e.svcPort)
	}},
	{name: "pause", body: func(e *env) string {
		return fmt.Sprintf("targets:\n  c: {docker: {name: %s-pause}}\nmethod:\n  - {fault: pause, target: c, for: 2500ms}\n", e.name)
	}},
	{name: "disconnect", body: func(e *env) string {
		return fmt.Sprintf("targets:\n  c: {docker: {name: %s-cut}}\nmethod:\n  - {fault: disconnect, target: c, with: {network: %s}, for: 2500ms}\n", e.name, e.net)
	}},
	// The network faults select the host's traffic to the container (the
	// gateway's address), which traffic sends, so that packets are held,
	// dropped or shaped when the signal comes.
	{name: "net-latency", traffic: hostTraffic, body: func(e *env) string {
		return e.netFault("{fault: latency, target: c, with: {host: %s, delay: 200ms, direction: both}, for: 2500ms}", e.gateway)
	}},
	{name: "net-blackhole", traffic: hostTraffic, body: func(e *env) string {
		return e.netFault("{fault: blackhole, target: c, with: {host: %s}, for: 2500ms}", e.gateway)
	}},
	{name: "net-bandwidth", traffic: hostTraffic, body: func(e *env) string {
		return e.netFault("{fault: bandwidth, target: c, with: {host: %s, rate: 64kbit, burst: 2KiB}, for: 2500ms}", e.gateway)
	}},
	{name: "intercept", traffic: peerTraffic, body: func(e *env) string {
		return e.netFault("{fault: intercept, target: c, with: {host: %s, port: 8081, latency: {delay: 200ms}}, for: 2500ms}", e.peerIP)
	}},
	{name: "cpu", body: func(e *env) string { return e.resFault("{fault: cpu, target: c, with: {workers: 2}, for: 2500ms}") }},
	{name: "memory", body: func(e *env) string { return e.resFault("{fault: memory, target: c, with: {size: 64MiB}, for: 2500ms}") }},
	{name: "io", body: func(e *env) string {
		return e.resFault("{fault: io, target: c, with: {path: /data, workers: 2, file_size: 4MiB}, for: 2500ms}")
	}},
	{name: "disk_fill", body: func(e *env) string {
		return e.resFault("{fault: disk_fill, target: c, with: {path: /data, leave_free: 0}, for: 2500ms}")
	}},
}

func kindNames() []string {
	var out []string
	for _, k := range kinds {
		out = append(out, k.name)
	}
	return out
}

type signal struct {
	name  string
	sig   syscall.Signal
	group bool // sent to chaos's process group, as a terminal hangup is
}

var signals = []signal{{"SIGKILL", syscall.SIGKILL, false}, {"SIGHUP", syscall.SIGHUP, true}, {"SIGTERM", syscall.SIGTERM, false}}

// What a run may leave, in the order the report lists it.
var leftKinds = []string{
	"stopped process", "paused container", "disconnected container", "listening proxy",
	"chaos_* nftables table", "HTB qdisc", "bound NFQUEUE", "listener in the container", "container slow or unreachable", "its connections to the peer slow or failing",
	"process in the container's cgroups", "chaos-* file in /data", "resource record",
	"orphaned service", "watchdog still running", "chaos still running",
}

// result is one run.
type result struct {
	kind, signal string
	at           time.Duration
	exit         string
	faultOn      bool // the fault was applied and not yet reverted at the signal
	serviceUp    bool // the service had started at the signal
	left         []string
	details      []string // what the checks found, for the log
	ledger       string   // what chaos recover found afterwards
	seen         []string // what the checks found just before the signal, with -during
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
	// gateway is the host's address on the network; peerIP the address of
	// the container that intercept's dependency is.
	gateway, peerIP string

	// The run in progress: its ports and experiment number.
	i, svcPort, proxyPort int
}

// Containers of the network and the resource faults, and the network
// faults' peer.
func (e *env) nf() string   { return e.name + "-nf" }
func (e *env) res() string  { return e.name + "-res" }
func (e *env) peer() string { return e.name + "-peer" }

func (e *env) netFault(step string, args ...any) string {
	return fmt.Sprintf("targets:\n  c: {docker: {name: %s}}\nmethod:\n  - %s\n", e.nf(), fmt.Sprintf(step, args...))
}

func (e *env) resFault(step string) string {
	return fmt.Sprintf("targets:\n  c: {docker: {name: %s}}\nmethod:\n  - %s\n", e.res(), step)
}

func torture() error {
	var chosen []kind
	for n := range strings.SplitSeq(*kindsFlag, ",") {
		i := slices.IndexFunc(kinds, func(k kind) bool { return k.name == strings.TrimSpace(n) })
		if i < 0 {
			return fmt.Errorf("-kinds: no kind %q: use %s", n, strings.Join(kindNames(), ", "))
		}
		chosen = append(chosen, kinds[i])
	}
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
		k := chosen[i%len(chosen)]
		sig := signals[rnd.IntN(len(signals))]
		at := time.Duration(rnd.Int64N(int64(*latest)))
		r, err := e.run(i, k, sig, at)
		if err != nil {
			return fmt.Errorf("run %d: %w", i, err)
		}
		results = append(results, r)
		if *verbose || len(r.left) > 0 {
			fmt.Fprintf(os.Stderr, "%3d %-13s %-7s at %-8s fault on %-5v %-10s left: %s\n", i, k.name, sig.name, r.at.Round(time.Millisecond), r.faultOn, r.exit, orNothing(r.left))
			for _, d := range r.details {
				fmt.Fprintf(os.Stderr, "      %s\n", d)
			}
		}
	}
	report(chosen, results)
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
	label := "chaos.torture=" + e.name
	steps := [][]string{
		{"build", "--quiet", "-t", e.name, img},
		{"network", "create", "--label", label, e.net},
		{"run", "-d", "--name", e.name + "-pause", "--label", label, "--network", e.net, e.name},
		{"run", "-d", "--name", e.name + "-cut", "--label", label, "--network", e.net, e.name},
		{"run", "-d", "--name", e.nf(), "--label", label, "--network", e.net, e.name},
		{"run", "-d", "--name", e.peer(), "--label", label, "--network", e.net, e.name},
		{"run", "-d", "--name", e.res(), "--label", label, "--network", e.net, "--memory", "256m", "--tmpfs", "/data:size=96m", e.name},
	}
	for _, s := range steps {
		if _, err := docker(s...); err != nil {
			return err
		}
	}
	var err error
	if e.gateway, err = docker("network", "inspect", "-f", "{{(index .IPAM.Config 0).Gateway}}", e.net); err != nil {
		return err
	}
	if e.peerIP, err = docker("inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", e.peer()); err != nil {
		return err
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
	e.killStrays()
	docker("rm", "-f", e.name+"-pause", e.name+"-cut", e.nf(), e.peer(), e.res())
	docker("network", "rm", e.net)
	docker("rmi", "-f", e.name)
	for _, pid := range e.watchdogs() {
		syscall.Kill(pid, syscall.SIGKILL)
	}
	if *keep {
		fmt.Fprintf(os.Stderr, "torture: experiments and logs kept in %s\n", e.dir)
		return
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

func (e *env) experiment(k kind) string {
	head := fmt.Sprintf(`version: v1
title: torture %d (%s)
services:
  - name: svc
    run: [%s, -listen, "127.0.0.1:%d", -pidfile, %s]
    ready: {http: {url: "http://127.0.0.1:%d/health"}, within: 5s}
    grace: 1s
`, e.i, k.name, filepath.Join(e.dir, "image", "hello"), e.svcPort, e.pidFile(), e.svcPort)
	body := k.body(e)
	if *during {
		// Long enough for the checks to see the fault before it ends.
		body = strings.ReplaceAll(body, "for: 2500ms", "for: 8s")
	}
	return head + body
}

func (e *env) pidFile() string { return filepath.Join(e.dir, fmt.Sprintf("svc-%d.pid", e.i)) }

func (e *env) run(i int, k kind, sig signal, at time.Duration) (result, error) {
	r := result{kind: k.name, signal: sig.name, at: at}
	e.i, e.svcPort, e.proxyPort = i, freePort(), freePort()
	file := filepath.Join(e.dir, fmt.Sprintf("exp-%d.yaml", i))
	if err := os.WriteFile(file, []byte(e.experiment(k)), 0o644); err != nil {
		return r, err
	}
	log, err := os.Create(filepath.Join(e.dir, fmt.Sprintf("run-%d.log", i)))
	if err != nil {
		return r, err
	}
	defer log.Close()
	stopTraffic := make(chan struct{})
	var traffic sync.WaitGroup
	if k.traffic != nil {
		traffic.Go(func() { k.traffic(e, stopTraffic) })
	}
	cmd := exec.Command(e.chaos, "run", "--report-dir", filepath.Join(e.dir, fmt.Sprintf("out-%d", i)), file)
	cmd.Env = append(os.Environ(), "XDG_STATE_HOME="+filepath.Join(e.dir, "state"))
	cmd.Dir = e.dir // where a chaos whose ledger depends on it keeps it
	cmd.Stdout, cmd.Stderr = log, log
	proc.OwnGroup(cmd)
	if err := cmd.Start(); err != nil {
		close(stopTraffic)
		return r, err
	}
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		close(exited)
	}()
	svcPID := 0
	deadline := time.Now().Add(at)
	for time.Now().Before(deadline) {
		if svcPID == 0 {
			svcPID = readPID(e.pidFile())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if so, err := os.ReadFile(log.Name()); err == nil {
		r.faultOn = bytes.Contains(so, []byte("fault.injected")) && !bytes.Contains(so, []byte("fault.reverted"))
	}
	r.serviceUp = svcPID > 0
	if *during && r.faultOn {
		e.look(func(what string, _ ...string) { r.seen = append(r.seen, what) })
	}
	target := cmd.Process.Pid
	if sig.group {
		target = -target
	}
	syscall.Kill(target, sig.sig)
	signalled := time.Now()
	for time.Now().Before(signalled.Add(*after)) {
		if svcPID == 0 {
			svcPID = readPID(e.pidFile())
		}
		time.Sleep(20 * time.Millisecond)
	}
	close(stopTraffic)
	traffic.Wait()
	select {
	case <-exited:
		r.exit = exitText(cmd.ProcessState)
	default:
		r.exit = "running"
		r.left = append(r.left, "chaos still running")
	}

	// What is left, with no manual action.
	left := func(what string, details ...string) {
		r.left = append(r.left, what)
		for _, d := range details {
			r.details = append(r.details, what+": "+d)
		}
	}
	e.look(left)
	if svcPID > 0 && alive(svcPID) || listening(e.svcPort) {
		left("orphaned service")
	}
	if wds := e.watchdogs(); len(wds) > 0 {
		left("watchdog still running")
	}

	// What the ledger still held: chaos recover undoes it and lists it.
	rec := exec.Command(e.chaos, "recover")
	rec.Env, rec.Dir = cmd.Env, cmd.Dir
	out, _ := rec.Output()
	for line := range strings.SplitSeq(string(out), "\n") {
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
	if len(r.left) > 0 {
		// A container restarts with a new network namespace and an empty
		// tmpfs; the strays in its cgroups go first, or it would not stop.
		e.killStrays()
		for _, c := range []string{e.nf(), e.res()} {
			docker("restart", "-t", "1", c)
		}
		e.removeRecords()
	}
	return r, nil
}

// look counts what the faults leave in place, through left.
func (e *env) look(left func(string, ...string)) {
	e.checkNetwork(left)
	if st := state(e.victim.Process.Pid); st == "T" || st == "t" {
		left("stopped process")
	}
	if out, _ := docker("inspect", "-f", "{{.State.Paused}}", e.name+"-pause"); out == "true" {
		left("paused container")
	}
	if out, _ := docker("inspect", "-f", "{{json .NetworkSettings.Networks}}", e.name+"-cut"); !strings.Contains(out, e.net) {
		left("disconnected container")
	}
	if listening(e.proxyPort) {
		left("listening proxy")
	}
	e.checkResource(left)
}

// checkNetwork looks in the network container's namespace for what a
// network fault puts there, and at its traffic.
func (e *env) checkNetwork(left func(string, ...string)) {
	pid := mainPID(e.nf())
	if pid == 0 {
		left("container slow or unreachable", "the container is not running")
		return
	}
	ip, _ := docker("inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", e.nf())
	if d, err := fastest(func() (time.Duration, error) { return get("http://" + ip + ":8081/health") }); err != nil || d > slow {
		left("container slow or unreachable", fmt.Sprintf("GET from the host: %s, %v", d, err))
	}
	if d, err := fastest(func() (time.Duration, error) { return getFrom(pid, e.peerIP+":8081") }); err != nil || d > slow {
		left("its connections to the peer slow or failing", fmt.Sprintf("GET from the container: %s, %v", d, err))
	}
	if out, err := nsenter(pid, "nft", "list", "tables"); err == nil {
		var tables []string
		for l := range strings.SplitSeq(out, "\n") {
			if strings.Contains(l, " chaos_") {
				tables = append(tables, strings.TrimPrefix(l, "table "))
			}
		}
		if len(tables) > 0 {
			left("chaos_* nftables table", tables...)
		}
	}
	if out, err := nsenter(pid, "tc", "qdisc", "show"); err == nil {
		var qs []string
		for l := range strings.SplitSeq(out, "\n") {
			if strings.HasPrefix(l, "qdisc htb ") {
				qs = append(qs, l)
			}
		}
		if len(qs) > 0 {
			left("HTB qdisc", qs...)
		}
	}
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/net/netfilter/nfnetlink_queue", pid)); err == nil && len(bytes.TrimSpace(b)) > 0 {
		left("bound NFQUEUE", strings.Fields(string(b))...)
	}
	if ls := listeners(pid); len(ls) > 0 {
		left("listener in the container", ls...)
	}
}

// slow is what a request between the host and a container never takes
// without a fault, even on a busy machine: the network faults above hold
// packets 200 ms or drop them.
const slow = 150 * time.Millisecond

// fastest makes up to three tries and returns the fastest, or the last
// error.
func fastest(try func() (time.Duration, error)) (time.Duration, error) {
	best, err := time.Duration(0), error(nil)
	for range 3 {
		d, e := try()
		if e != nil {
			err = e
			continue
		}
		if best == 0 || d < best {
			best = d
		}
		if best <= slow {
			return best, nil
		}
	}
	if best > 0 {
		return best, nil
	}
	return 0, err
}

// checkResource looks for the workers and files of a resource fault in
// the resource container, and for records that still name it.
func (e *env) checkResource(left func(string, ...string)) {
	pid := mainPID(e.res())
	if pid == 0 {
		return
	}
	if ps := e.strays(); len(ps) > 0 {
		var ds []string
		for _, p := range ps {
			cl, _ := proc.Cmdline(p)
			ds = append(ds, fmt.Sprintf("%d %s", p, cl))
		}
		left("process in the container's cgroups", ds...)
	}
	if ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/root/data", pid)); err == nil {
		var files []string
		for _, f := range ents {
			if strings.HasPrefix(f.Name(), "chaos-") {
				files = append(files, f.Name())
			}
		}
		if len(files) > 0 {
			left("chaos-* file in /data", files...)
		}
	}
	if recs := e.records(); len(recs) > 0 {
		left("resource record", recs...)
	}
}

// strays lists the processes in the resource container's cgroups that
// are not in its pid namespace: what chaos moved there.
func (e *env) strays() []int {
	id, _ := docker("inspect", "-f", "{{.Id}}", e.res())
	pid := mainPID(e.res())
	if id == "" || pid == 0 {
		return nil
	}
	pidns, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/pid", pid))
	var out []int
	for _, p := range proc.PIDs() {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", p))
		if err != nil || !bytes.Contains(b, []byte(id)) {
			continue
		}
		if ns, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/pid", p)); ns != pidns && alive(p) {
			out = append(out, p)
		}
	}
	return out
}

func (e *env) killStrays() {
	for _, p := range e.strays() {
		syscall.Kill(p, syscall.SIGKILL)
	}
	for deadline := time.Now().Add(5 * time.Second); len(e.strays()) > 0 && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
	}
}

// resourceDir is where chaos, run as root, keeps the records of the
// resource faults it applied until it reverts them.
const resourceDir = "/run/chaos/resource"

// records lists the files of the resource state directory that name the
// resource container.
func (e *env) records() []string {
	id, _ := docker("inspect", "-f", "{{.Id}}", e.res())
	files, _ := filepath.Glob(filepath.Join(resourceDir, "*", "*.json"))
	var out []string
	for _, f := range files {
		if b, err := os.ReadFile(f); err == nil && id != "" && bytes.Contains(b, []byte(id)) {
			out = append(out, f)
		}
	}
	return out
}

func (e *env) removeRecords() {
	for _, f := range e.records() {
		os.Remove(f)
		os.Remove(filepath.Dir(f)) // once empty
	}
}

// mainPID is a running container's main process, 0 when it has none.
func mainPID(name string) int {
	out, _ := docker("inspect", "-f", "{{.State.Pid}}", name)
	pid, _ := strconv.Atoi(out)
	return pid
}

func nsenter(pid int, args ...string) (string, error) {
	out, err := exec.Command("nsenter", append([]string{"-t", strconv.Itoa(pid), "-n", "--"}, args...)...).CombinedOutput()
	return string(out), err
}

// listeners lists the TCP listeners in pid's network namespace other
// than the service's, on 8081, and Docker's DNS, on 127.0.0.11.
func listeners(pid int) []string {
	var out []string
	for _, f := range []string{"tcp", "tcp6"} {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/net/%s", pid, f))
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			fs := strings.Fields(sc.Text())
			if len(fs) < 4 || fs[3] != "0A" {
				continue
			}
			addr, port, _ := strings.Cut(fs[1], ":")
			if n, _ := strconv.ParseUint(port, 16, 16); n != 8081 && addr != dockerDNS {
				out = append(out, fmt.Sprintf("%s port %d", f, n))
			}
		}
	}
	return out
}

// dockerDNS is 127.0.0.11 as /proc/net/tcp writes it.
const dockerDNS = "0B00007F"

var client = &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

// get makes one request on a new connection and returns how long it took.
func get(url string) (time.Duration, error) {
	start := time.Now()
	resp, err := client.Get(url)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return 0, err
	}
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("status %d", resp.StatusCode)
	}
	return time.Since(start), nil
}

// getFrom makes one request to addr from pid's network namespace, on a
// new connection, and returns how long it took.
func getFrom(pid int, addr string) (time.Duration, error) {
	type answer struct {
		d   time.Duration
		err error
	}
	done := make(chan answer, 1)
	go func() {
		// Never unlocked: the thread ends with the goroutine, so that
		// no other goroutine runs in the container's namespace.
		runtime.LockOSThread()
		ns, err := os.Open(fmt.Sprintf("/proc/%d/ns/net", pid))
		if err != nil {
			done <- answer{err: err}
			return
		}
		defer ns.Close()
		if err := unix.Setns(int(ns.Fd()), unix.CLONE_NEWNET); err != nil {
			done <- answer{err: fmt.Errorf("enter the namespace of %d: %w", pid, err)}
			return
		}
		start := time.Now()
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			done <- answer{err: err}
			return
		}
		defer c.Close()
		c.SetDeadline(start.Add(time.Second))
		if _, err := io.WriteString(c, "GET /health HTTP/1.0\r\nHost: peer\r\n\r\n"); err != nil {
			done <- answer{err: err}
			return
		}
		b, err := io.ReadAll(c)
		if err == nil && !bytes.HasPrefix(b, []byte("HTTP/1.0 200")) && !bytes.HasPrefix(b, []byte("HTTP/1.1 200")) {
			err = fmt.Errorf("answer %q", b[:min(len(b), 40)])
		}
		done <- answer{time.Since(start), err}
	}()
	a := <-done
	return a.d, a.err
}

// hostTraffic sends requests from the host to the network container
// until stop, so that a network fault on it has packets to act on.
func hostTraffic(e *env, stop <-chan struct{}) {
	ip, _ := docker("inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", e.nf())
	keep := &http.Client{Timeout: time.Second}
	pace(stop, func() {
		if resp, err := keep.Get("http://" + ip + ":8081/"); err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	})
}

// peerTraffic sends requests from the network container to its peer
// until stop, so that intercept has connections to take.
func peerTraffic(e *env, stop <-chan struct{}) {
	pid := mainPID(e.nf())
	pace(stop, func() { getFrom(pid, e.peerIP+":8081") })
}

// pace calls send from a few goroutines, each every 20 ms, until stop.
func pace(stop <-chan struct{}, send func()) {
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			t := time.NewTicker(20 * time.Millisecond)
			defer t.Stop()
			for {
				select {
				case <-stop:
					return
				case <-t.C:
					send()
				}
			}
		})
	}
	wg.Wait()
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

func report(chosen []kind, results []result) {
	fmt.Printf("%d runs, seed %d, counted %s after the signal (signal at a random moment in [0, %s) after chaos started)\n\n", len(results), *seed, *after, *latest)
	fmt.Println("| kind | signal | runs | fault on at the signal | runs with something left |")
	fmt.Println("|---|---|---:|---:|---:|")
	total, bad, on := 0, 0, 0
	for _, k := range chosen {
		for _, s := range signals {
			n, left, faultOn := 0, 0, 0
			for _, r := range results {
				if r.kind == k.name && r.signal == s.name {
					n++
					if len(r.left) > 0 {
						left++
					}
					if r.faultOn {
						faultOn++
					}
				}
			}
			total, bad, on = total+n, bad+left, on+faultOn
			fmt.Printf("| %s | %s | %d | %d | %d |\n", k.name, s.name, n, faultOn, left)
		}
	}
	fmt.Printf("| **all** | | **%d** | **%d** | **%d** |\n\n", total, on, bad)
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
	if *during {
		fmt.Println("\nWith -during, what the checks found just before the signal, in the runs whose fault was on then:")
		fmt.Println("\n| kind | fault on | found |")
		fmt.Println("|---|---:|---|")
		for _, k := range chosen {
			on, found := 0, map[string]int{}
			for _, r := range results {
				if r.kind == k.name && r.faultOn {
					on++
					for _, w := range r.seen {
						found[w]++
					}
				}
			}
			var fs []string
			for _, w := range leftKinds {
				if found[w] > 0 {
					fs = append(fs, fmt.Sprintf("%s %d", w, found[w]))
				}
			}
			fmt.Printf("| %s | %d | %s |\n", k.name, on, orNothing(fs))
		}
	}
	ledger, up := 0, 0
	for _, r := range results {
		if r.ledger != "" {
			ledger++
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
