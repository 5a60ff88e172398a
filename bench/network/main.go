// Command netbench measures the network faults of package network side by
// side in one run, against the same traffic without them: how precisely a
// latency delays, how accurately loss drops, what the packet queue and the
// intercept cost a TCP stream, whether a fault reaches a connection opened
// before it and whether its removal ever resets one, and how long a fault
// takes to go into and out of a container. bench/network/run.sh runs it
// (as root) and prints the table.
//
//	netbench run [-rounds N] [-secs S] [-pid PID] [-only NAME] [-cc CC]
//	                                                  the measurements; PID is a container's
//	netbench sink -listen ADDR                        (in a namespace) read and discard
//	netbench source -listen ADDR                      (in a namespace) write without end
//	netbench stream -addr ADDR [-up] -for D           (in a namespace) one stream, prints MiB/s
//	netbench idle                                      a container's process: wait for SIGTERM
package main

import (
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gamedayhq/chaos/internal/experiment"
	"github.com/gamedayhq/chaos/internal/inject/network"
	"github.com/gamedayhq/chaos/internal/inject/network/lab"
	"github.com/gamedayhq/chaos/internal/inject/proxy"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: netbench run|sink|source|stream|pace|idle [flags]")
		os.Exit(2)
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	listen := fs.String("listen", "0.0.0.0:9300", "sink, source: address to listen on")
	addr := fs.String("addr", "", "stream, pace: address to connect to")
	rate := fs.Int("rate", 1000, "pace: datagrams a second")
	up := fs.Bool("up", false, "stream: write to the peer")
	dur := fs.Duration("for", 3*time.Second, "stream, pace: how long")
	rounds := fs.Int("rounds", 5, "run: turns of each comparison")
	secs := fs.Duration("secs", 3*time.Second, "run: length of one throughput sample")
	pid := fs.Int("pid", 0, "run: pid of a container to time faults in (none: skip)")
	only := fs.String("only", "", "run: only the measurements whose name contains this")
	cc := fs.String("cc", "", "run: TCP congestion control in the lab's namespaces (empty: the machine's default)")
	cpuprofile := fs.String("cpuprofile", "", "run: write this process's CPU profile (the queue's and the proxy's work) to this file")
	fs.Parse(os.Args[2:])
	var err error
	switch os.Args[1] {
	case "run":
		if *cpuprofile != "" {
			f, ferr := os.Create(*cpuprofile)
			if ferr != nil {
				err = ferr
				break
			}
			_ = pprof.StartCPUProfile(f)
			defer pprof.StopCPUProfile()
		}
		err = run(*rounds, *secs, *pid, *only, *cc)
	case "sink":
		err = serve(*listen, func(c net.Conn) { _, _ = io.Copy(io.Discard, c) })
	case "source":
		err = serve(*listen, func(c net.Conn) { _, _ = io.Copy(c, zeros{}) })
	case "stream":
		err = stream(*addr, *up, *dur)
	case "pace":
		err = pace(*addr, *rate, *dur)
	case "idle":
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
		defer stop()
		<-ctx.Done()
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "netbench:", err)
		os.Exit(1)
	}
}

type zeros struct{}

func (zeros) Read(b []byte) (int, error) { clear(b); return len(b), nil }

func serve(listen string, handle func(net.Conn)) error {
	ln, err := net.Listen("tcp4", listen)
	if err != nil {
		return err
	}
	for {
		c, err := ln.Accept()
		if err != nil {
			return err
		}
		go func() { handle(c); c.Close() }()
	}
}

// stream moves bytes over one connection for d after a warm-up of a
// quarter of it, and prints MiB/s.
func stream(addr string, up bool, d time.Duration) error {
	var c net.Conn
	var err error
	// The server may still be starting on a loaded machine.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if c, err = net.DialTimeout("tcp4", addr, 5*time.Second); err == nil || time.Now().After(deadline) {
			break
		}
	}
	if err != nil {
		return err
	}
	defer c.Close()
	buf := make([]byte, 256<<10)
	var n int64
	var start time.Time
	warm := time.Now().Add(d / 4)
	end := warm.Add(d)
	for {
		now := time.Now()
		if start.IsZero() && now.After(warm) {
			start, n = now, 0
		}
		if now.After(end) {
			break
		}
		var k int
		if up {
			k, err = c.Write(buf)
		} else {
			k, err = c.Read(buf)
		}
		n += int64(k)
		if err != nil {
			return err
		}
	}
	fmt.Printf("%.1f\n", float64(n)/time.Since(start).Seconds()/(1<<20))
	return nil
}

// pace sends small UDP datagrams to addr for d, evenly spaced at rate a
// second (each sent when due, by a sleep with a timer slack of 1ns).
func pace(addr string, rate int, d time.Duration) error {
	c, err := net.Dial("udp4", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	runtime.LockOSThread()
	_ = unix.Prctl(unix.PR_SET_TIMERSLACK, 1, 0, 0, 0)
	gap := time.Second / time.Duration(rate)
	start := time.Now()
	buf := make([]byte, 64)
	for i := 0; ; i++ {
		due := start.Add(time.Duration(i) * gap)
		if due.Sub(start) > d {
			return nil
		}
		if w := time.Until(due); w > 0 {
			ts := unix.NsecToTimespec(w.Nanoseconds())
			_ = unix.Nanosleep(&ts, nil)
		}
		_, _ = c.Write(buf) // a refused datagram is no matter here
	}
}

// bench is one run's lab and helpers.
type bench struct {
	l      *lab.Lab
	rounds int
	secs   time.Duration
	seq    int
	procs  []*exec.Cmd
	rows   []row
}

type row struct{ name, base, with, result, want string }

func (b *bench) add(name, base, with, result, want string) {
	b.rows = append(b.rows, row{name, base, with, result, want})
	fmt.Fprintf(os.Stderr, "  %s: %s / %s = %s\n", name, base, with, result)
}

// allowCongestionControl adds cc to the machine's allowed congestion
// controls if it is not there (a namespace other than the first may only
// choose an allowed one), and returns what puts the list back.
func allowCongestionControl(cc string) (restore func(), err error) {
	const allowed = "/proc/sys/net/ipv4/tcp_allowed_congestion_control"
	b, err := os.ReadFile(allowed)
	if err != nil {
		return nil, err
	}
	was := strings.TrimSpace(string(b))
	if slices.Contains(strings.Fields(was), cc) {
		return func() {}, nil
	}
	if err := os.WriteFile(allowed, []byte(was+" "+cc), 0o644); err != nil {
		return nil, fmt.Errorf("allow congestion control %s: %w", cc, err)
	}
	return func() { _ = os.WriteFile(allowed, []byte(was), 0o644) }, nil
}

func run(rounds int, secs time.Duration, pid int, only, cc string) error {
	if os.Geteuid() != 0 {
		return errors.New("network faults need root")
	}
	l, err := lab.Up()
	if err != nil {
		return err
	}
	b := &bench{l: l, rounds: rounds, secs: secs}
	defer func() {
		for _, p := range b.procs {
			_ = p.Process.Kill()
			_ = p.Wait()
		}
		l.Close()
	}()
	// A new namespace takes the machine's congestion control; the
	// streams' rates depend on it (bbr without the fq qdisc paces in TCP
	// itself, at about half cubic's rate on a veth).
	if cc != "" {
		restore, err := allowCongestionControl(cc)
		if err != nil {
			return err
		}
		defer restore()
	}
	for _, ns := range []network.Namespace{l.A, l.B} {
		if cc == "" {
			break
		}
		if err := ns.Do(func() error {
			return os.WriteFile("/proc/sys/net/ipv4/tcp_congestion_control", []byte(cc), 0o644)
		}); err != nil {
			return fmt.Errorf("congestion control %s: %w", cc, err)
		}
	}
	if cc == "" {
		if b, err := os.ReadFile("/proc/sys/net/ipv4/tcp_congestion_control"); err == nil {
			cc = strings.TrimSpace(string(b))
		}
	}
	// The streams' far ends, in processes of their own in the dependency's
	// namespace (a stream dials until they listen).
	if err := b.spawn(l.PathB, "sink", "-listen", "0.0.0.0:9300"); err != nil {
		return err
	}
	if err := b.spawn(l.PathB, "source", "-listen", "0.0.0.0:9301"); err != nil {
		return err
	}
	load0 := loadavg()
	fmt.Fprintf(os.Stderr, "measuring (%d rounds, %v per stream sample), load average %s ...\n", rounds, secs, load0)
	steps := []struct {
		name string
		fn   func() error
	}{
		{"latency", func() error { return b.latency(false) }}, {"latency6", func() error { return b.latency(true) }},
		{"jitter", b.jitter},
		{"loss", func() error { return b.loss(false) }}, {"loss6", func() error { return b.loss(true) }},
		{"queue", b.queueThroughput}, {"queuecpu", b.queueCPU},
		{"intercept", b.interceptThroughput}, {"keepalive", b.keepAlive}, {"cut", b.interceptKeepAlive},
	}
	for _, step := range steps {
		if !strings.Contains(step.name, only) {
			continue
		}
		if err := step.fn(); err != nil {
			return err
		}
	}
	if pid != 0 && strings.Contains("container", only) {
		if err := b.container(pid); err != nil {
			return err
		}
	}
	fmt.Printf("\nload average: %s at the start, %s at the end (2 cores); TCP congestion control %s\n\n", load0, loadavg(), cc)
	fmt.Printf("%-62s %11s %11s %26s  %s\n", "", "without", "with", "result", "target")
	for _, r := range b.rows {
		fmt.Printf("%-62s %11s %11s %26s  %s\n", r.name, r.base, r.with, r.result, r.want)
	}
	return nil
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	return strings.Join(strings.Fields(string(b))[:3], " ")
}

// apply plans and applies f in ns for the bench's run.
func (b *bench) apply(ns network.Namespace, f network.Fault) (*network.Applied, error) {
	b.seq++
	rec, err := network.Plan(ns, "netbench", b.seq, f)
	if err != nil {
		return nil, err
	}
	return network.Apply(context.Background(), rec, f)
}

// spawn runs this program with args inside the lab namespace at path.
func (b *bench) spawn(path string, args ...string) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	cmd := exec.Command("nsenter", append([]string{"--net=" + path, self}, args...)...)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return err
	}
	b.procs = append(b.procs, cmd)
	return nil
}

// streamOnce runs one stream from the target's namespace and returns its
// MiB/s.
func (b *bench) streamOnce(addr string, up bool) (float64, error) {
	self, err := os.Executable()
	if err != nil {
		return 0, err
	}
	dir := "-up=false"
	if up {
		dir = "-up"
	}
	out, err := exec.Command("nsenter", "--net="+b.l.PathA, self, "stream", "-addr", addr, dir, "-for", b.secs.String()).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			err = fmt.Errorf("%w: %s", err, strings.TrimSpace(string(ee.Stderr)))
		}
		return 0, fmt.Errorf("stream to %s: %w", addr, err)
	}
	return strconv.ParseFloat(strings.TrimSpace(string(out)), 64)
}

func ms(d time.Duration) string { return fmt.Sprintf("%.3f ms", float64(d)/1e6) }

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func quantile(ds []time.Duration, q float64) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[min(len(s)-1, int(q*float64(len(s))))]
}

func medianF(fs []float64) float64 {
	s := slices.Clone(fs)
	slices.Sort(s)
	return s[len(s)/2]
}

// pingRTTs pings n times on c, one at a time.
func pingRTTs(c net.Conn, n int) ([]time.Duration, error) {
	return lab.Ping(c, n, 10*time.Second)
}

// dep is the dependency's address, IPv6 or IPv4, and the words for a
// row's name.
func (b *bench) dep(six bool) (netip.Addr, string) {
	if six {
		return b.l.IP6B, " over IPv6"
	}
	return b.l.IPB, ""
}

// latency: a 10 ms latency at one connection, added p50 over the same
// connection without it, in turns.
func (b *bench) latency(six bool) error {
	dep, over := b.dep(six)
	addr := netip.AddrPortFrom(dep, 9000).String()
	ln, err := lab.ListenTCP(b.l.B, addr)
	if err != nil {
		return err
	}
	srv := lab.Serve(ln, lab.Echo)
	defer srv.Close()
	c, err := lab.Dial(b.l.A, "tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	const delay = 10 * time.Millisecond
	var base, with []time.Duration
	for range b.rounds {
		r, err := pingRTTs(c, 200)
		if err != nil {
			return err
		}
		base = append(base, r...)
		a, err := b.apply(b.l.A, &network.Latency{Filter: network.Filter{Host: dep.String()}, Delay: delay})
		if err != nil {
			return err
		}
		r, err = pingRTTs(c, 200)
		if err != nil {
			return err
		}
		with = append(with, r...)
		if err := a.Revert(context.Background()); err != nil {
			return err
		}
	}
	added := median(with) - median(base)
	b.add("latency 10ms, 1 TCP conn"+over+": added p50", ms(median(base)), ms(median(with)), ms(added), "10 +- 0.3 ms")
	b.add("  added p95 (tail: machine load)", ms(quantile(base, .95)), ms(quantile(with, .95)), ms(quantile(with, .95)-quantile(base, .95)), "")
	return nil
}

// jitter: 50 ms +- 10 ms on UDP round trips; the spread of the added
// delay.
func (b *bench) jitter() error {
	sc, err := lab.ListenUDP(b.l.B, "0.0.0.0:9001")
	if err != nil {
		return err
	}
	stop := lab.EchoUDP(sc)
	defer stop()
	c, err := lab.Dial(b.l.A, "udp4", b.l.IPB.String()+":9001", time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	base, err := pingRTTs(c, 200)
	if err != nil {
		return err
	}
	a, err := b.apply(b.l.A, &network.Latency{Filter: network.Filter{Host: b.l.IPB.String()}, Delay: 50 * time.Millisecond, Jitter: 10 * time.Millisecond})
	if err != nil {
		return err
	}
	defer a.Revert(context.Background())
	with, err := pingRTTs(c, 100*b.rounds)
	if err != nil {
		return err
	}
	m := median(base)
	q := func(p float64) string { return fmt.Sprintf("%.1f", float64(quantile(with, p)-m)/1e6) }
	b.add("latency 50ms +- 10ms, UDP: added min/p5/p50/p95/max", ms(m), ms(median(with)),
		strings.Join([]string{q(0), q(.05), q(.5), q(.95), q(1)}, "/"), "40/41/50/59/60 ms (uniform)")
	return a.Revert(context.Background())
}

// loss: 30% asked over 10,000 UDP datagrams.
func (b *bench) loss(six bool) error {
	dep, over := b.dep(six)
	addr := netip.AddrPortFrom(dep, 9002).String()
	sc, err := lab.ListenUDP(b.l.B, addr)
	if err != nil {
		return err
	}
	defer sc.Close()
	if rc, err := sc.SyscallConn(); err == nil {
		_ = rc.Control(func(fd uintptr) {
			_ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUFFORCE, 32<<20)
		})
	}
	count := func(n int) (int, int, error) {
		c, err := lab.Dial(b.l.A, "udp", addr, time.Second)
		if err != nil {
			return 0, 0, err
		}
		defer c.Close()
		buf := make([]byte, 64)
		failed := 0
		for i := range n {
			binary.BigEndian.PutUint32(buf, uint32(i))
			if _, err := c.Write(buf); err != nil {
				failed++
			}
			if i%20 == 0 {
				time.Sleep(100 * time.Microsecond)
			}
		}
		got := 0
		rb := make([]byte, 64)
		for {
			_ = sc.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
			if _, err := sc.Read(rb); err != nil {
				break
			}
			got++
		}
		return got, failed, nil
	}
	const n = 10000
	base, _, err := count(n)
	if err != nil {
		return err
	}
	a, err := b.apply(b.l.A, &network.Loss{Filter: network.Filter{Host: dep.String(), Percent: percent(30)}})
	if err != nil {
		return err
	}
	got, failed, err := count(n)
	if err != nil {
		return err
	}
	if err := a.Revert(context.Background()); err != nil {
		return err
	}
	b.add("loss 30%, 10,000 UDP datagrams"+over+": lost", fmt.Sprintf("%.2f%%", 100*float64(n-base)/n), fmt.Sprintf("%.2f%%", 100*float64(n-got)/n),
		fmt.Sprintf("%.2f%%", 100*float64(base-got)/n), "27-33%")
	b.add("  send errors under loss", "", strconv.Itoa(failed), strconv.Itoa(failed), "0")
	return nil
}

// throughput measures one stream direct and under a fault, in turns, and
// returns the medians.
// throughput streams to addr without and with on, in turns. on returns
// what undoes it and where the stream goes while it is on ("" for addr).
func (b *bench) throughput(addr string, up bool, on func() (string, func() error, error)) (float64, float64, error) {
	var base, with []float64
	for range b.rounds {
		r, err := b.streamOnce(addr, up)
		if err != nil {
			return 0, 0, err
		}
		base = append(base, r)
		to, off, err := on()
		if err != nil {
			return 0, 0, err
		}
		if to == "" {
			to = addr
		}
		r, err = b.streamOnce(to, up)
		if err2 := off(); err == nil {
			err = err2
		}
		if err != nil {
			return 0, 0, err
		}
		with = append(with, r)
	}
	return medianF(base), medianF(with), nil
}

// fault is an on for throughput: f applied in the target's namespace,
// then more (if any) on what was applied.
func (b *bench) fault(f network.Fault, more func(*network.Applied) error) func() (string, func() error, error) {
	return func() (string, func() error, error) {
		a, err := b.apply(b.l.A, f)
		if err != nil {
			return "", nil, err
		}
		off := func() error { return a.Revert(context.Background()) }
		if more != nil {
			if err := more(a); err != nil {
				return "", nil, errors.Join(err, off())
			}
		}
		return "", off, nil
	}
}

// bareProxy is an on for throughput: a listener in the target's
// namespace that copies each connection both ways to dst with io.Copy
// (which splices) and does nothing else, the least any proxy beside the
// target costs; the stream goes to it instead of dst.
func (b *bench) bareProxy(dst string) func() (string, func() error, error) {
	return func() (string, func() error, error) {
		ln, err := lab.ListenTCP(b.l.A, "127.0.0.1:0")
		if err != nil {
			return "", nil, err
		}
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				go func() {
					defer c.Close()
					u, err := lab.Dial(b.l.A, "tcp", dst, 5*time.Second)
					if err != nil {
						return
					}
					defer u.Close()
					done := make(chan struct{})
					go func() {
						_, _ = io.Copy(u, c)
						_ = u.(*net.TCPConn).CloseWrite()
						close(done)
					}()
					_, _ = io.Copy(c, u)
					_ = c.(*net.TCPConn).CloseWrite()
					<-done
				}()
			}
		}()
		return ln.Addr().String(), ln.Close, nil
	}
}

func mib(v float64) string { return fmt.Sprintf("%.0f MiB/s", v) }

func ratio(a, b float64) string { return fmt.Sprintf("%.2fx", a/b) }

// queueThroughput: one TCP stream with every packet the target receives
// queued to this process and let go at once (a latency of 1us, below what
// a verdict takes), against the same stream direct.
func (b *bench) queueThroughput() error {
	for _, dir := range []struct {
		name, addr string
		up         bool
	}{{"upload (its ACKs queued)", ":9300", true}, {"download (its data queued)", ":9301", false}} {
		d, q, err := b.throughput(b.l.IPB.String()+dir.addr, dir.up,
			b.fault(&network.Latency{Filter: network.Filter{Host: b.l.IPB.String()}, Delay: time.Microsecond}, nil))
		if err != nil {
			return err
		}
		b.add("TCP stream through the packet queue, "+dir.name, mib(d), mib(q), ratio(q, d), ">= 0.75x")
	}
	return nil
}

// queueCPU: the CPU this process spends, in percent of one core, while a
// packet fault queues datagrams arriving evenly at a few rates, against
// the same datagrams with no fault (this process only reads them then).
// The datagrams come from a process of their own in the dependency's
// namespace.
func (b *bench) queueCPU() error {
	ln, err := lab.ListenUDP(b.l.A, "0.0.0.0:9005")
	if err != nil {
		return err
	}
	defer ln.Close()
	go func() {
		buf := make([]byte, 64)
		for {
			if _, err := ln.Read(buf); err != nil {
				return
			}
		}
	}()
	self, err := os.Executable()
	if err != nil {
		return err
	}
	const d = 2 * time.Second
	cpu := func(rate int) (float64, error) {
		before := cpuTime()
		start := time.Now()
		cmd := exec.Command("nsenter", "--net="+b.l.PathB, self, "pace", "-addr", b.l.IPA.String()+":9005",
			"-rate", strconv.Itoa(rate), "-for", d.String())
		cmd.Stderr = os.Stderr
		if err := cmd.Run(); err != nil {
			return 0, fmt.Errorf("pace %d/s: %w", rate, err)
		}
		return 100 * float64(cpuTime()-before) / float64(time.Since(start)), nil
	}
	for _, rate := range []int{1000, 5000, 20000} {
		var base, with []float64
		for range b.rounds {
			c, err := cpu(rate)
			if err != nil {
				return err
			}
			base = append(base, c)
			a, err := b.apply(b.l.A, &network.Latency{Filter: network.Filter{Host: b.l.IPB.String()}, Delay: time.Microsecond})
			if err != nil {
				return err
			}
			c, err = cpu(rate)
			if err2 := a.Revert(context.Background()); err == nil {
				err = err2
			}
			if err != nil {
				return err
			}
			with = append(with, c)
		}
		bm, wm := medianF(base), medianF(with)
		b.add(fmt.Sprintf("CPU of the packet queue, %d UDP datagrams/s evenly", rate),
			fmt.Sprintf("%.1f%%", bm), fmt.Sprintf("%.1f%%", wm), fmt.Sprintf("+%.1f%% of a core", wm-bm), "")
	}
	return nil
}

// cpuTime is the CPU time this process has used, user and system.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// interceptThroughput: one TCP stream through the intercept with a fault
// on that leaves the bytes alone (a 1ms connect latency), against the
// same stream direct; and with the intercept applied but no fault on.
func (b *bench) interceptThroughput() error {
	for _, dir := range []struct {
		name, addr string
		up         bool
	}{{"upload", ":9300", true}, {"download", ":9301", false}} {
		dst := b.l.IPB.String() + dir.addr
		d, i, err := b.throughput(dst, dir.up, b.fault(&network.Intercept{Filter: network.Filter{Host: b.l.IPB.String()}}, func(a *network.Applied) error {
			_, err := a.Interception().Add(context.Background(), proxy.Fault{Params: &proxy.Latency{Connect: time.Millisecond}})
			return err
		}))
		if err != nil {
			return err
		}
		b.add("TCP stream through the intercept, fault on, "+dir.name, mib(d), mib(i), ratio(i, d), ">= 0.8x")
		d, p, err := b.throughput(dst, dir.up, b.bareProxy(dst))
		if err != nil {
			return err
		}
		b.add("  for scale: a bare splice proxy beside the target, "+dir.name, mib(d), mib(p), ratio(p, d), "")
	}
	tables := 0
	d, i, err := b.throughput(b.l.IPB.String()+":9301", false, b.fault(&network.Intercept{Filter: network.Filter{Host: b.l.IPB.String()}}, func(*network.Applied) error {
		t, err := network.Tables(b.l.A, "")
		tables += len(t)
		return err
	}))
	if err != nil {
		return err
	}
	b.add("intercept, no fault on, download", mib(d), mib(i), ratio(i, d), "= direct")
	b.add("  rules installed with no fault on", "", "", strconv.Itoa(tables), "0")
	return nil
}

// keepAlive: a connection opened before a latency meant for all
// connections is reached by it from its next packet, and taking the fault
// out (again and again, with pings on the way) never resets it.
func (b *bench) keepAlive() error {
	ln, err := lab.ListenTCP(b.l.B, "0.0.0.0:9003")
	if err != nil {
		return err
	}
	srv := lab.Serve(ln, lab.Echo)
	defer srv.Close()
	c, err := lab.Dial(b.l.A, "tcp4", b.l.IPB.String()+":9003", time.Second)
	if err != nil {
		return err
	}
	p := lab.StartPinger(c, 2*time.Millisecond)
	if err := p.Wait(20, 5*time.Second); err != nil {
		return err
	}
	var before, first []time.Duration
	const delay = 20 * time.Millisecond
	for range 10 * b.rounds {
		n := p.Count()
		before = append(before, p.Since(n-1)...)
		a, err := b.apply(b.l.A, &network.Latency{Filter: network.Filter{Host: b.l.IPB.String()}, Delay: delay})
		if err != nil {
			return err
		}
		n = p.Count()
		if err := p.Wait(2, 5*time.Second); err != nil {
			return fmt.Errorf("keep-alive connection under the fault: %w", err)
		}
		// The first ping that started after the fault went in.
		first = append(first, p.Since(n + 1)[0])
		if err := a.Revert(context.Background()); err != nil {
			return err
		}
		if err := p.Wait(5, 5*time.Second); err != nil {
			return fmt.Errorf("keep-alive connection after removal: %w", err)
		}
	}
	errs := 0
	if p.Stop() != nil {
		errs++
	}
	b.add("keep-alive conn opened before a 20ms latency: next RTT", ms(median(before)), ms(median(first)), ms(median(first)-median(before)), "+20 ms")
	b.add(fmt.Sprintf("  resets over %d removals", 10*b.rounds), "", "", strconv.Itoa(errs), "0")
	return nil
}

// interceptKeepAlive: with cut_established, a connection opened before
// an intercept fault is cut and its reconnection meets the fault; the
// reconnected one is never reset when the fault is removed.
func (b *bench) interceptKeepAlive() error {
	ln, err := lab.ListenTCP(b.l.B, "0.0.0.0:9004")
	if err != nil {
		return err
	}
	srv := lab.Serve(ln, lab.Echo)
	defer srv.Close()
	addr := b.l.IPB.String() + ":9004"
	cut, resets := 0, 0
	var rtts []time.Duration
	for range b.rounds {
		c, err := lab.Dial(b.l.A, "tcp4", addr, time.Second)
		if err != nil {
			return err
		}
		if _, err := pingRTTs(c, 3); err != nil {
			return err
		}
		a, err := b.apply(b.l.A, &network.Intercept{Filter: network.Filter{Host: b.l.IPB.String(), Port: 9004}, CutEstablished: true})
		if err != nil {
			return err
		}
		id, err := a.Interception().Add(context.Background(), proxy.Fault{Params: &proxy.Latency{Delay: 20 * time.Millisecond}})
		if err != nil {
			return err
		}
		if _, err := pingRTTs(c, 1); errors.Is(err, syscall.ECONNABORTED) {
			cut++
		}
		c.Close()
		c, err = lab.Dial(b.l.A, "tcp4", addr, time.Second)
		if err != nil {
			return err
		}
		r, err := pingRTTs(c, 3)
		if err != nil {
			return err
		}
		rtts = append(rtts, r...)
		p := lab.StartPinger(c, 2*time.Millisecond)
		if err := a.Interception().Remove(context.Background(), id); err != nil {
			return err
		}
		if err := p.Wait(50, 5*time.Second); err != nil {
			resets++
		}
		if p.Stop() != nil {
			resets++
		}
		if err := a.Revert(context.Background()); err != nil {
			return err
		}
	}
	b.add("intercept cut_established: open conns cut / reconnect RTT", "", ms(median(rtts)), fmt.Sprintf("%d of %d cut", cut, b.rounds), "all cut, +20 ms")
	b.add("  resets of the proxied conn when its fault goes", "", "", strconv.Itoa(resets), "0")
	return nil
}

// container: how long faults take to go into a container and out, as a
// run applies and reverts them (plan, apply; revert), over 20 rounds each.
func (b *bench) container(pid int) error {
	ns, err := network.ProcessNamespace(pid)
	if err != nil {
		return err
	}
	gw := "172.17.0.1"
	for _, f := range []network.Fault{
		&network.Blackhole{Filter: network.Filter{Host: gw, Port: 9}},
		&network.Reject{Filter: network.Filter{Host: gw, Port: 9}},
		&network.Latency{Filter: network.Filter{Host: gw, Port: 9}, Delay: 10 * time.Millisecond},
		&network.Intercept{Filter: network.Filter{Host: gw, Port: 9}},
	} {
		var in, out []time.Duration
		for range 20 {
			start := time.Now()
			a, err := b.apply(ns, f)
			if err == nil && a.Interception() != nil {
				_, err = a.Interception().Add(context.Background(), proxy.Fault{Params: &proxy.Down{}})
			}
			if err != nil {
				return fmt.Errorf("%s in the container: %w", f.Kind(), err)
			}
			in = append(in, time.Since(start))
			start = time.Now()
			if err := a.Revert(context.Background()); err != nil {
				return err
			}
			out = append(out, time.Since(start))
		}
		b.add(fmt.Sprintf("%s in a container: apply / revert p50 (max)", f.Kind()), "", "",
			fmt.Sprintf("%.2f / %.2f (%.1f) ms", ms1(median(in)), ms1(median(out)), ms1(max(slices.Max(in), slices.Max(out)))), "<= 50 ms each")
	}
	left, err := network.Tables(ns, "netbench")
	if err != nil {
		return err
	}
	b.add("  tables left in the container", "", "", strconv.Itoa(len(left)), "0")
	return nil
}

func ms1(d time.Duration) float64 { return math.Round(float64(d)/1e4) / 100 }

func percent(p float64) *experiment.Percent {
	v := experiment.Percent(p / 100)
	return &v
}
