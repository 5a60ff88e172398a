// Command loadbench measures the accuracy and cost of chaos's load generator
// (internal/load) against a local HTTP server running in a separate process,
// and compares it with vegeta's attacker at the same rates in the same run.
//
// It checks three claims: at 2,000 req/s the achieved rate is within 1% of
// the target; at 10,000 req/s the generator uses less than one core; and a
// server that stalls for one second shows the stall in p99.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"syscall"
	"text/tabwriter"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/gamedayhq/chaos/internal/load"
)

// serveEnv makes the binary run as the target server instead.
const serveEnv = "LOADBENCH_SERVE"

func main() {
	if os.Getenv(serveEnv) != "" {
		os.Exit(serve(os.Stdout))
	}
	var c config
	flag.DurationVar(&c.Steady, "steady", 30*time.Second, "duration of the 2,000 req/s run")
	flag.DurationVar(&c.Heavy, "heavy", 10*time.Second, "duration of the 10,000 req/s run")
	flag.DurationVar(&c.StallRun, "stall-run", 5*time.Second, "duration of the run with a stall")
	flag.DurationVar(&c.Stall, "stall", time.Second, "how long the server stalls")
	flag.Float64Var(&c.SteadyRate, "steady-rate", 2000, "rate of the steady run, req/s")
	flag.Float64Var(&c.HeavyRate, "heavy-rate", 10000, "rate of the heavy run, req/s")
	flag.DurationVar(&c.Warmup, "warmup", 2*time.Second, "unmeasured run at the same rate before each measured one")
	flag.Parse()
	ok, err := run(c, os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadbench:", err)
		os.Exit(2)
	}
	if !ok {
		os.Exit(1)
	}
}

type config struct {
	Steady, Heavy, StallRun, Stall time.Duration
	Warmup                         time.Duration
	SteadyRate, HeavyRate          float64
}

// result is one tool's run of one scenario.
type result struct {
	scenario string
	tool     string
	target   float64
	requests int64
	achieved float64 // req/s
	errRatio float64
	p50, p90 time.Duration
	p99, max time.Duration
	cores    float64 // CPU time / wall time of this process
	cpu      time.Duration
	lag      time.Duration
	windows  []load.Window
}

// run runs every scenario with both tools and prints the table and the
// verdict of each claim. It reports whether all claims held.
func run(c config, out io.Writer) (bool, error) {
	srv, err := startServer()
	if err != nil {
		return false, err
	}
	defer srv.stop()

	type scenario struct {
		name  string
		rate  float64
		d     time.Duration
		stall bool
	}
	scenarios := []scenario{
		{fmt.Sprintf("%.0f/s for %v", c.SteadyRate, c.Steady), c.SteadyRate, c.Steady, false},
		{fmt.Sprintf("%.0f/s for %v", c.HeavyRate, c.Heavy), c.HeavyRate, c.Heavy, false},
		{fmt.Sprintf("%.0f/s, %v stall", c.SteadyRate, c.Stall), c.SteadyRate, c.StallRun, true},
	}
	var results []result
	for _, sc := range scenarios {
		for _, tool := range []string{"chaos", "vegeta"} {
			var stallDone <-chan error
			r, err := measure(tool, srv.url, sc.rate, c.Warmup, sc.d, func() {
				if sc.stall {
					// The stall starts after a third of the run, so the run
					// has normal traffic before and after it.
					stallDone = srv.stallAfter(sc.d/3, c.Stall)
				}
			})
			if err != nil {
				return false, fmt.Errorf("%s %s: %w", tool, sc.name, err)
			}
			if stallDone != nil {
				if err := <-stallDone; err != nil {
					return false, err
				}
			}
			r.scenario, r.tool, r.target = sc.name, tool, sc.rate
			results = append(results, r)
			// Let connections and garbage of one run settle before the next.
			time.Sleep(500 * time.Millisecond)
		}
	}
	printTable(out, results)
	fmt.Fprintln(out, "chaos counts latency from when each request was due, vegeta from when a worker")
	fmt.Fprintln(out, "started it; max lag is how late chaos sent a request past its due time.")

	steady, heavy, stalled := results[0], results[2], results[4]
	ok := true
	claim := func(held bool, format string, args ...any) {
		verdict := "PASS"
		if !held {
			verdict, ok = "FAIL", false
		}
		fmt.Fprintf(out, "%s  %s\n", verdict, fmt.Sprintf(format, args...))
	}
	fmt.Fprintln(out)
	dev := math.Abs(steady.achieved-steady.target) / steady.target
	claim(dev < 0.01, "achieved %.1f req/s for %.0f: %.2f%% off (want < 1%%)", steady.achieved, steady.target, 100*dev)
	// A run that fell short of its rate used less CPU than the rate needs:
	// the claim holds only for a run that achieved it.
	perReq := heavy.cpu.Seconds() / float64(max(heavy.requests, 1))
	claim(heavy.cores < 1 && heavy.achieved >= 0.99*heavy.target,
		"%.0f req/s used %.2f cores (want < 1) achieving %.1f req/s (want within 1%%); at %.0fµs of CPU per request the full rate needs %.2f cores",
		heavy.target, heavy.cores, heavy.achieved, perReq*1e6, heavy.target*perReq)
	claim(stalled.p99 >= c.Stall/2, "a %v stall shows in p99 = %v, max = %v (want p99 >= %v)", c.Stall, stalled.p99, stalled.max, c.Stall/2)
	var p99s []string
	for _, w := range stalled.windows {
		p99s = append(p99s, fmtDur(w.Latency.P99))
	}
	fmt.Fprintf(out, "      p99 per 1s window during the stall run: %s\n", strings.Join(p99s, " "))
	return ok, nil
}

// measure runs tool at rate for warmup, then calls started and measures a
// run of d. Both runs share their connections, so that the measured run
// starts with as many as the rate needs, as it would in a long run.
func measure(tool, url string, rate float64, warmup, d time.Duration, started func()) (result, error) {
	if tool == "chaos" {
		t := load.NewTransport(load.Stream{Rate: rate})
		defer t.CloseIdleConnections()
		if warmup > 0 {
			if _, err := runChaos(t, url, rate, warmup); err != nil {
				return result{}, err
			}
		}
		started()
		return runChaos(t, url, rate, d)
	}
	// As vegeta's own client, which an attacker cannot share between
	// attacks.
	dialer := &net.Dialer{KeepAlive: 30 * time.Second}
	t := &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		DialContext:         dialer.DialContext,
		MaxIdleConnsPerHost: vegeta.DefaultConnections,
		MaxConnsPerHost:     vegeta.DefaultMaxConnections,
	}
	defer t.CloseIdleConnections()
	client := &http.Client{Timeout: 10 * time.Second, Transport: t}
	if warmup > 0 {
		runVegeta(client, url, rate, warmup)
	}
	started()
	return runVegeta(client, url, rate, d), nil
}

func runChaos(t http.RoundTripper, url string, rate float64, d time.Duration) (result, error) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var windows []load.Window
	var r result
	err := measureCPU(&r, func() error {
		return load.Run(ctx, load.Stream{Name: "bench", Rate: rate, URL: url, Transport: t}, func(w load.Window) {
			windows = append(windows, w)
		})
	})
	if err != nil {
		return r, err
	}
	s, err := load.Merge(windows...)
	if err != nil {
		return r, err
	}
	// The achieved rate counts the requests sent, as vegeta's does: those
	// still in flight at the end were, those dropped for max_inflight were
	// not.
	r.requests = s.Requests - s.Errors[load.ClassMaxInflight] + s.Canceled
	r.achieved = float64(r.requests) / s.Covered.Seconds()
	r.errRatio = 1 - s.SuccessRatio
	r.p50, r.p90, r.p99, r.max = s.Latency.P50, s.Latency.P90, s.Latency.P99, s.Latency.Max
	r.lag = s.Lag
	r.windows = windows
	return r, nil
}

func runVegeta(client *http.Client, url string, rate float64, d time.Duration) result {
	atk := vegeta.NewAttacker(vegeta.Client(client))
	tr := vegeta.NewStaticTargeter(vegeta.Target{Method: http.MethodGet, URL: url})
	pacer := vegeta.ConstantPacer{Freq: int(rate), Per: time.Second}
	var m vegeta.Metrics
	var r result
	_ = measureCPU(&r, func() error {
		for res := range atk.Attack(tr, pacer, d, "bench") {
			m.Add(res)
		}
		return nil
	})
	m.Close()
	r.requests, r.achieved = int64(m.Requests), m.Rate
	r.errRatio = 1 - m.Success
	r.p50, r.p90, r.p99, r.max = m.Latencies.P50, m.Latencies.P90, m.Latencies.P99, m.Latencies.Max
	r.lag = -1
	return r
}

// measureCPU runs f and sets r.cores to the CPU time this process used per
// second of wall time meanwhile. The server runs in another process, so only
// the generator's work is counted.
func measureCPU(r *result, f func() error) error {
	before, start := cpuTime(), time.Now()
	err := f()
	r.cpu = cpuTime() - before
	r.cores = r.cpu.Seconds() / time.Since(start).Seconds()
	return err
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func printTable(out io.Writer, results []result) {
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "scenario\ttool\ttarget/s\trequests\tachieved/s\terrors\tp50\tp90\tp99\tmax\tmax lag\tCPU cores\tCPU/req\t")
	for _, r := range results {
		lag := "n/a"
		if r.lag >= 0 {
			lag = fmtDur(r.lag)
		}
		perReq := "n/a"
		if r.requests > 0 {
			perReq = fmt.Sprintf("%.0fµs", float64(r.cpu.Microseconds())/float64(r.requests))
		}
		fmt.Fprintf(tw, "%s\t%s\t%.0f\t%d\t%.1f\t%.2f%%\t%s\t%s\t%s\t%s\t%s\t%.2f\t%s\t\n",
			r.scenario, r.tool, r.target, r.requests, r.achieved, 100*r.errRatio,
			fmtDur(r.p50), fmtDur(r.p90), fmtDur(r.p99), fmtDur(r.max), lag, r.cores, perReq)
	}
	tw.Flush()
}

func fmtDur(d time.Duration) string {
	switch {
	case d >= time.Second:
		return fmt.Sprintf("%.2fs", d.Seconds())
	case d >= time.Millisecond:
		return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
	default:
		return fmt.Sprintf("%dµs", d.Microseconds())
	}
}

// server is the target server process.
type server struct {
	cmd *exec.Cmd
	url string
}

// startServer starts this binary again as the target server, so that the
// server's CPU time is not counted as the generator's.
func startServer() (*server, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("start server: %w", err)
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), serveEnv+"=1")
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("start server: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start server: %w", err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return nil, fmt.Errorf("start server: read its address: %w", err)
	}
	return &server{cmd: cmd, url: "http://" + strings.TrimSpace(line) + "/"}, nil
}

func (s *server) stop() {
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
}

// stallAfter makes the server hold every request arriving during d, from
// after on, until the stall ends.
func (s *server) stallAfter(after, d time.Duration) <-chan error {
	done := make(chan error, 1)
	go func() {
		time.Sleep(after)
		resp, err := http.Get(fmt.Sprintf("%sstall?for=%s", s.url, d))
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				err = fmt.Errorf("stall server: %s", resp.Status)
			}
		}
		done <- err
	}()
	return done
}

// serve runs the target server until killed: "/" answers "ok" at once, or
// at the end of a stall; "/stall?for=D" stalls it for D.
func serve(stdout io.Writer) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadbench server:", err)
		return 1
	}
	var gate atomic.Pointer[chan struct{}]
	mux := http.NewServeMux()
	mux.HandleFunc("/stall", func(w http.ResponseWriter, r *http.Request) {
		d, err := time.ParseDuration(r.URL.Query().Get("for"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		g := make(chan struct{})
		gate.Store(&g)
		time.Sleep(d)
		gate.Store(nil)
		close(g)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if g := gate.Load(); g != nil {
			<-*g
		}
		_, _ = io.WriteString(w, "ok")
	})
	fmt.Fprintln(stdout, ln.Addr())
	err = (&http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}).Serve(ln)
	if !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintln(os.Stderr, "loadbench server:", err)
		return 1
	}
	return 0
}
