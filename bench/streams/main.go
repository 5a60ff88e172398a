// Command streambench measures the load streams that are not HTTP
// (internal/load's exec and tcp kinds) against a baseline measured in the
// same run:
//
//   - an exec stream of true at 200/s keeps its rate within 1%; what one
//     command costs (wall time and CPU, fork and exec included) is set
//     against running true back to back with os/exec alone;
//
//   - a tcp stream at 5,000/s against an echo server in another process
//     keeps its rate within 1% on under half a core (getrusage), set
//     against a bare loop of goroutines making the same exchanges at the
//     same rate.
//
//     go run ./bench/streams [-for 10s]
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/gamedayhq/chaos/internal/load"
)

// echoEnv makes the binary run as the echo server instead.
const echoEnv = "STREAMBENCH_ECHO"

func main() {
	if os.Getenv(echoEnv) != "" {
		os.Exit(echo(os.Stdout))
	}
	var c config
	flag.DurationVar(&c.For, "for", 10*time.Second, "length of each measured run")
	flag.Float64Var(&c.ExecRate, "exec-rate", 200, "rate of the exec stream, commands/s")
	flag.Float64Var(&c.TCPRate, "tcp-rate", 5000, "rate of the tcp stream, exchanges/s")
	flag.Parse()
	ok, err := run(c, os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "streambench:", err)
		os.Exit(2)
	}
	if !ok {
		os.Exit(1)
	}
}

type config struct {
	For               time.Duration
	ExecRate, TCPRate float64
}

// usage is CPU time used so far: this process's own, and that of its
// children that were waited for.
type usage struct{ self, children time.Duration }

func rusage() usage {
	var s, c syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &s)
	syscall.Getrusage(syscall.RUSAGE_CHILDREN, &c)
	tv := func(r syscall.Rusage) time.Duration {
		return time.Duration(r.Utime.Nano() + r.Stime.Nano())
	}
	return usage{tv(s), tv(c)}
}

func (u usage) sub(v usage) usage { return usage{u.self - v.self, u.children - v.children} }

type row struct{ name, value, claim string }

func run(c config, w io.Writer) (bool, error) {
	ok := true
	var rows []row
	add := func(name, value, claim string) { rows = append(rows, row{name, value, claim}) }
	verdict := func(pass bool, want string) string {
		if !pass {
			ok = false
			return "FAIL: want " + want
		}
		return "ok: " + want
	}

	// exec: the baseline, then the stream.
	n := int(c.ExecRate)
	u0, t0 := rusage(), time.Now()
	for range n {
		if err := exec.Command("true").Run(); err != nil {
			return false, fmt.Errorf("baseline: %w", err)
		}
	}
	baseWall, baseCPU := time.Since(t0)/time.Duration(n), rusage().sub(u0)
	s := load.Stream{Name: "exec", Rate: c.ExecRate, Timeout: 5 * time.Second}
	if err := load.Configure(&s, "exec", &load.ExecRequest{Run: []string{"true"}}); err != nil {
		return false, err
	}
	sum, used, err := measure(s, c.For)
	if err != nil {
		return false, err
	}
	perCmd := func(u usage, k int64) string {
		return fmt.Sprintf("%s self + %s child", (u.self / time.Duration(k)).Round(time.Microsecond), (u.children / time.Duration(k)).Round(time.Microsecond))
	}
	add("exec true: rate", fmt.Sprintf("%.2f/s of %.0f/s (%+.2f%%), %d errors", sum.RPS, c.ExecRate, dev(sum.RPS, c.ExecRate), errs(sum)),
		verdict(math.Abs(dev(sum.RPS, c.ExecRate)) < 1 && errs(sum) == 0, "within 1%, no errors"))
	add("  latency p50 / p99 (fork, exec, wait)", fmt.Sprintf("%s / %s", sum.Latency.P50, sum.Latency.P99), "")
	add("  CPU per command, stream", perCmd(used, sum.Requests), "")
	add("  CPU per command, os/exec back to back", perCmd(baseCPU, int64(n)), "baseline")
	add("  wall per command, os/exec back to back", baseWall.Round(time.Microsecond).String(), "baseline")
	add("  stream / baseline CPU per command", fmt.Sprintf("%.2fx", float64(used.self+used.children)/float64(sum.Requests)/(float64(baseCPU.self+baseCPU.children)/float64(n))), "")

	// tcp: an echo server in another process, so that getrusage counts
	// the sender alone.
	srv, addr, err := startEcho()
	if err != nil {
		return false, err
	}
	defer func() { srv.Process.Kill(); srv.Wait() }()
	bare, bareUsed, err := bareLoop(addr, c.TCPRate, c.For)
	if err != nil {
		return false, err
	}
	s = load.Stream{Name: "tcp", Rate: c.TCPRate, Timeout: 5 * time.Second}
	if err := load.Configure(&s, "tcp", &load.TCPRequest{Address: addr, Send: "PING\r\n", Reply: "PING"}); err != nil {
		return false, err
	}
	sum, used, err = measure(s, c.For)
	if err != nil {
		return false, err
	}
	cores := used.self.Seconds() / sum.Covered.Seconds()
	bareCores := bareUsed.self.Seconds() / c.For.Seconds()
	add("tcp PING: rate", fmt.Sprintf("%.1f/s of %.0f/s (%+.2f%%), %d errors", sum.RPS, c.TCPRate, dev(sum.RPS, c.TCPRate), errs(sum)),
		verdict(math.Abs(dev(sum.RPS, c.TCPRate)) < 1 && errs(sum) == 0, "within 1%, no errors"))
	add("  CPU, stream", fmt.Sprintf("%.3f cores", cores), verdict(cores < 0.5, "under 0.5 core"))
	add("  latency p50 / p99", fmt.Sprintf("%s / %s", sum.Latency.P50, sum.Latency.P99), "")
	add("  CPU, bare loop at the same rate", fmt.Sprintf("%.3f cores (%d exchanges, %d failed)", bareCores, bare.done, bare.failed), "baseline")
	add("  stream / bare loop CPU", fmt.Sprintf("%.2fx", cores/bareCores), "")

	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", r.name, r.value, r.claim)
	}
	return ok, tw.Flush()
}

func dev(got, want float64) float64 { return (got - want) / want * 100 }

func errs(s load.Summary) int64 {
	var n int64
	for _, k := range s.Errors {
		n += k
	}
	return n
}

// measure runs a stream for d and returns its merged windows and the CPU
// used meanwhile.
func measure(s load.Stream, d time.Duration) (load.Summary, usage, error) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var mu sync.Mutex
	var ws []load.Window
	u0 := rusage()
	err := load.Run(ctx, s, func(w load.Window) { mu.Lock(); ws = append(ws, w); mu.Unlock() })
	used := rusage().sub(u0)
	if err != nil {
		return load.Summary{}, used, err
	}
	// The first and the last window are partial: the rate is read from
	// the whole ones.
	if len(ws) > 2 {
		ws = ws[1 : len(ws)-1]
	}
	sum, err := load.Merge(ws...)
	return sum, used, err
}

type bareResult struct{ done, failed int64 }

// bareLoop makes the exchange at rate for d with a goroutine per exchange,
// the least a sender can do, and returns the CPU it used.
func bareLoop(addr string, rate float64, d time.Duration) (bareResult, usage, error) {
	var res bareResult
	var mu sync.Mutex
	var wg sync.WaitGroup
	u0 := rusage()
	start := time.Now()
	per := time.Duration(float64(time.Second) / rate)
	for i := 0; ; i++ {
		due := start.Add(time.Duration(i) * per)
		if due.Sub(start) >= d {
			break
		}
		time.Sleep(time.Until(due))
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := exchange(addr)
			mu.Lock()
			res.done++
			if err != nil {
				res.failed++
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	return res, rusage().sub(u0), nil
}

func exchange(addr string) error {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	buf := make([]byte, 4)
	_, err = io.ReadFull(c, buf)
	return err
}

// startEcho starts this binary as the echo server and returns its address.
func startEcho() (*exec.Cmd, string, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, "", err
	}
	cmd := exec.Command(self)
	cmd.Env = append(os.Environ(), echoEnv+"=1")
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, "", err
	}
	if err := cmd.Start(); err != nil {
		return nil, "", err
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		return nil, "", fmt.Errorf("echo server: %w", err)
	}
	return cmd, strings.TrimSpace(line), nil
}

// echo serves on a loopback port it prints: each connection gets back
// what it sends until it closes.
func echo(w io.Writer) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Fprintln(w, ln.Addr())
	for {
		c, err := ln.Accept()
		if err != nil {
			continue
		}
		go func() {
			defer c.Close()
			io.Copy(c, c)
		}()
	}
}
