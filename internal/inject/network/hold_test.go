package network_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gamedayhq/chaos/internal/inject"
	"github.com/gamedayhq/chaos/internal/inject/network"
	"github.com/gamedayhq/chaos/internal/inject/network/lab"
)

// A latency reaches a connection opened before it from its next packet,
// and new connections, UDP as well as TCP; once reverted, round trips are
// short again at once.
func TestLatency(t *testing.T) {
	noLeak(t)
	l := lab.New(t)
	echoTCP(t, l.B, "0.0.0.0:9000")
	echoUDP(t, l.B, "0.0.0.0:9001")
	dep := l.IPB.String()
	open := dial(t, l.A, "tcp4", dep+":9000")
	udp := dial(t, l.A, "udp4", dep+":9001")
	base := pings(t, open, 20)

	const delay = 30 * time.Millisecond
	a := apply(t, l.A, &network.Latency{Filter: network.Filter{Host: dep}, Delay: delay})
	for _, c := range []struct {
		name string
		c    interface{ Close() error }
		rtt  time.Duration
	}{
		{"open TCP connection", open, pings(t, open, 10)},
		{"new TCP connection", nil, pings(t, dial(t, l.A, "tcp4", dep+":9000"), 10)},
		{"UDP", nil, pings(t, udp, 10)},
	} {
		// Generous bounds: this checks that the delay applies, the
		// benchmark measures how precisely.
		if added := c.rtt - base; added < delay-2*time.Millisecond || added > delay+40*time.Millisecond {
			t.Errorf("%s: round trip %v (%v before); want %v more", c.name, c.rtt, base, delay)
		}
	}
	revert(t, a)
	noTables(t, l.A)
	if rtt := pings(t, open, 10); rtt > delay/2 {
		t.Errorf("round trip after revert %v; want back to about %v", rtt, base)
	}
}

// A latency of a dependency on a loopback address, given by its port,
// adds its delay once to each round trip (twice with both directions),
// as it does to a dependency elsewhere; without the port, which alone
// tells the dependency's packets from the target's there, it is refused.
func TestLatencyLoopback(t *testing.T) {
	noLeak(t)
	l := lab.New(t)
	echoTCP(t, l.A, "127.0.0.1:9000")
	open := dial(t, l.A, "tcp4", "127.0.0.1:9000")
	base := pings(t, open, 10)
	const delay = 30 * time.Millisecond
	for _, tc := range []struct {
		dir   network.Direction
		times time.Duration
	}{{network.Ingress, 1}, {network.Both, 2}} {
		a := apply(t, l.A, &network.Latency{Filter: network.Filter{Host: "127.0.0.1", Port: 9000, Direction: tc.dir}, Delay: delay})
		want := tc.times * delay
		if added := pings(t, open, 10) - base; added < want-2*time.Millisecond || added > want+20*time.Millisecond {
			t.Errorf("%s: round trip %v longer; want %v", tc.dir, added, want)
		}
		revert(t, a)
	}
	f := &network.Latency{Filter: network.Filter{Host: "127.0.0.1"}, Delay: delay}
	if _, err := network.Plan(l.A, "test", int(nextSeq.Add(1)), f); !contains(err, "give the dependency's port") {
		t.Errorf("Plan(latency of 127.0.0.1 without a port) = %v; want it refused", err)
	}
	noTables(t, l.A)
}

// A queue holds 16384 packets at most and fails open: what finds it full
// passes at once, without the delay. The revert says how many did, and
// through inject that is a fault ended early, so that no check under it
// counts as the system coping with the latency.
func TestLatencyQueueFull(t *testing.T) {
	noLeak(t)
	l := lab.New(t)
	sink := countUDP(t, l.A, l.IPA.String()+":9004", false)
	// Far longer than sending takes, even on a loaded machine under the
	// race detector: what arrived before the revert passed without it,
	// and the revert lets the held ones go at once.
	f := &network.Latency{Filter: network.Filter{Host: l.IPB.String()}, Delay: 30 * time.Second}
	rec, err := network.Plan(l.A, "test", int(nextSeq.Add(1)), f)
	if err != nil {
		t.Fatal(err)
	}
	a, err := network.Apply(context.Background(), rec, f)
	if err != nil {
		t.Fatal(err)
	}
	const n = 30000
	sendUDP(t, l.B, l.IPA.String()+":9004", n, 64, 0)
	early, _, _, _ := sink.counts()
	err = a.Revert(context.Background())
	t.Logf("%d of %d datagrams arrived before the delay; Revert = %v", early, n, err)
	var unheld *network.Unheld
	if !errors.As(err, &unheld) || unheld.Passed < int64(early) || unheld.Passed > n {
		t.Errorf("Revert = %v; want an *Unheld saying at least %d of %d passed", err, early, n)
	}
	noTables(t, l.A)

	// Through inject, for a process in the namespace.
	cmd := exec.Command("ip", "netns", "exec", filepath.Base(l.PathA), "sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if ns, err := network.ProcessNamespace(cmd.Process.Pid); err == nil && ns.Inode == l.A.Inode {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("ip netns exec never entered the lab's namespace")
		}
		time.Sleep(5 * time.Millisecond)
	}
	tg := inject.Target{Kind: "process", ID: strconv.Itoa(cmd.Process.Pid), Name: "sleep"}
	fault := newFault(t, "process", "latency")
	if err := json.Unmarshal([]byte(`{"host": "`+l.IPB.String()+`", "delay": 2000000000}`), fault); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	env := inject.NewEnv(1, nil)
	env.RunID = "queue-full"
	u, err := fault.Plan(ctx, env, tg)
	if err != nil {
		t.Fatal(err)
	}
	if u, err = fault.Inject(ctx, env, tg, u); err != nil {
		t.Fatal(err)
	}
	sendUDP(t, l.B, l.IPA.String()+":9004", n, 64, 0)
	ended, err := inject.RevertEarly(ctx, env, u)
	if err != nil || !strings.Contains(ended.Early, "passed without it") {
		t.Errorf("RevertEarly = %q, %v; want the fault ended early, packets having passed without it", ended.Early, err)
	}
	noTables(t, l.A)
}

// No round trip through a packet latency ends before the delay, over
// UDP or TCP: a client whose timeout equals the delay must see it fire.
func TestLatencyNeverEarly(t *testing.T) {
	noLeak(t)
	l := lab.New(t)
	echoTCP(t, l.B, "0.0.0.0:9000")
	echoUDP(t, l.B, "0.0.0.0:9001")
	dep := l.IPB.String()
	const delay = 5 * time.Millisecond
	a := apply(t, l.A, &network.Latency{Filter: network.Filter{Host: dep}, Delay: delay})
	for _, c := range []struct{ netw, addr string }{{"udp4", dep + ":9001"}, {"tcp4", dep + ":9000"}} {
		rtts, err := lab.Ping(dial(t, l.A, c.netw, c.addr), 100, 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		var early []time.Duration
		for _, r := range rtts {
			if r < delay {
				early = append(early, r)
			}
		}
		if len(early) > 0 {
			t.Errorf("%s: %d of %d round trips shorter than the %v delay: %v", c.netw, len(early), len(rtts), delay, early)
		}
	}
	revert(t, a)
}

// Reverting a latency lets every packet it holds through: a steady UDP
// stream loses nothing, however many packets are held at that moment.
func TestLatencyRevertLosesNothing(t *testing.T) {
	noLeak(t)
	l := lab.New(t)
	sink := countUDP(t, l.B, "0.0.0.0:9005", false)
	a := apply(t, l.A, &network.Latency{Filter: network.Filter{Host: l.IPB.String(), Direction: network.Egress}, Delay: 100 * time.Millisecond, Jitter: 20 * time.Millisecond})
	done := make(chan int)
	const n = 1500
	go func() { done <- sendUDP(t, l.A, l.IPB.String()+":9005", n, 64, 200*time.Microsecond) }()
	time.Sleep(150 * time.Millisecond)
	held, _, _, _ := sink.counts()
	revert(t, a)
	if failed := <-done; failed > 0 {
		t.Errorf("%d sends failed", failed)
	}
	sink.settle(100 * time.Millisecond)
	got, distinct, _, _ := sink.counts()
	t.Logf("%d had arrived at the revert; %d of %d in all", held, got, n)
	if distinct != n {
		t.Errorf("%d of %d datagrams arrived; want every one", distinct, n)
	}
	noTables(t, l.A)
}

// Reorder holds back the share asked, and the others overtake them.
func TestReorder(t *testing.T) {
	noLeak(t)
	l := lab.New(t)
	sink := countUDP(t, l.B, "0.0.0.0:9006", false)
	a := apply(t, l.A, &network.Reorder{Filter: network.Filter{Host: l.IPB.String(), Direction: network.Egress, Percent: pct(25)}, Delay: 5 * time.Millisecond})
	const n = 2000
	drops := backlogDrops()
	if failed := sendUDP(t, l.A, l.IPB.String()+":9006", n, 64, 100*time.Microsecond); failed > 0 {
		t.Errorf("%d sends failed", failed)
	}
	// The revert lets every packet still held go: counting only after it
	// does not take a release that a loaded machine delays for a loss.
	revert(t, a)
	sink.settle(100 * time.Millisecond)
	_, distinct, _, late := sink.counts()
	share := float64(late) / float64(distinct)
	t.Logf("25%% asked: %.1f%% arrived after a later one", share*100)
	// A loaded machine may drop a few on the link (the backlog).
	if distinct < n*99/100 {
		t.Errorf("%d of %d arrived (the kernel dropped %d packets for a full backlog meanwhile; UDP counters: target %v, dependency %v)",
			distinct, n, backlogDrops()-drops, udpStats(l.A), udpStats(l.B))
	}
	if share < 0.19 || share > 0.31 {
		t.Errorf("%.1f%% overtaken; want 25%%", share*100)
	}
}

// Corrupt damages payloads: by default the receiver's kernel drops the
// damaged datagrams (bad checksum); with valid_checksum they reach the
// application, one bit off. IPv4 and IPv6 alike.
func TestCorruptDelivers(t *testing.T) {
	noLeak(t)
	l := lab.New(t)
	const n = 2000
	for _, fam := range labFamilies(l) {
		for _, valid := range []bool{false, true} {
			t.Run(fam.name+"/"+map[bool]string{false: "checksum left bad", true: "valid checksum"}[valid], func(t *testing.T) {
				for _, dir := range []network.Direction{network.Egress, network.Ingress} {
					from, to, addr := l.A, l.B, fam.dep(9007)
					if dir == network.Ingress {
						from, to, addr = l.B, l.A, fam.target(9007)
					}
					sink := countUDP(t, to, addr, true)
					a := apply(t, l.A, &network.Corrupt{Filter: network.Filter{Host: fam.b.String(), Direction: dir, Percent: pct(20)}, ValidChecksum: valid})
					sendUDP(t, from, addr, n, 200, 50*time.Microsecond)
					revert(t, a) // lets every queued packet go
					sink.settle(100 * time.Millisecond)
					sink.close()
					want := make([]byte, 200)
					for i := range want[4:] {
						want[4+i] = byte(i)
					}
					damaged := 0
					for _, d := range sink.data {
						if !bytes.Equal(d[4:], want[4:]) {
							damaged++
						}
					}
					got := len(sink.data)
					t.Logf("%s, 20%% asked: %d of %d arrived, %d damaged", dir, got, n, damaged)
					lost, share := float64(n-got)/n, float64(damaged)/n
					if valid {
						// A flip in the sequence number is not seen as damage.
						if got < n*99/100 || share < 0.15 || share > 0.25 {
							t.Errorf("%s: %d arrived, %.1f%% damaged; want all, 20%% damaged", dir, got, share*100)
						}
					} else if damaged > 0 || lost < 0.15 || lost > 0.25 {
						t.Errorf("%s: %.1f%% lost, %d damaged; want 20%% lost and none damaged", dir, lost*100, damaged)
					}
				}
			})
		}
		noTables(t, l.A)
	}
}

// Two faults that hold packets in one namespace get queues of their own,
// and both act.
func TestTwoHoldersInOneNamespace(t *testing.T) {
	noLeak(t)
	l := lab.New(t)
	echoTCP(t, l.B, "0.0.0.0:9000")
	c := dial(t, l.A, "tcp4", l.IPB.String()+":9000")
	f := &network.Latency{Filter: network.Filter{Host: l.IPB.String()}, Delay: 15 * time.Millisecond}
	// Both plans name the same first queue number.
	rec1, err := network.Plan(l.A, "same", 1, f)
	if err != nil {
		t.Fatal(err)
	}
	rec2 := rec1
	rec2.Seq, rec2.Table = 2, network.TableName("same", 2)
	a1, err := network.Apply(context.Background(), rec1, f)
	if err != nil {
		t.Fatal(err)
	}
	defer a1.Revert(context.Background())
	f2 := *f
	f2.Direction = network.Egress
	a2, err := network.Apply(context.Background(), rec2, &f2)
	if err != nil {
		t.Fatal(err)
	}
	defer a2.Revert(context.Background())
	if a2.Record().Queue == a1.Record().Queue {
		t.Fatalf("both faults hold packets on queue %d", a1.Record().Queue)
	}
	if rtt := pings(t, c, 5); rtt < 28*time.Millisecond {
		t.Errorf("round trip %v under two latencies of 15ms; want 30ms", rtt)
	}
	revert(t, a1)
	revert(t, a2)
	noTables(t, l.A)
}

// A process that holds packets and dies leaves the traffic flowing: the
// packets it held are lost, the later ones pass undelayed (queue bypass),
// until RemoveRun takes the rules away. Nothing of the run is left then.
func TestHolderDies(t *testing.T) {
	l := lab.New(t)
	echoUDP(t, l.B, "0.0.0.0:9001")
	echoTCP(t, l.B, "0.0.0.0:9000")
	c := dial(t, l.A, "udp4", l.IPB.String()+":9001")
	ready := runHelper(t, l.PathA, "hold", "crashrun", l.IPB.String())
	// The helper holds packets for 50ms and blackholes port 9000.
	if rtt := pings(t, c, 3); rtt < 45*time.Millisecond {
		t.Fatalf("round trip %v with the helper's 50ms latency on", rtt)
	}
	ready.kill(t)
	start := time.Now()
	for {
		rtts, err := lab.Ping(c, 1, 200*time.Millisecond)
		if err == nil && rtts[0] < 20*time.Millisecond {
			break
		}
		if time.Since(start) > 5*time.Second {
			t.Fatalf("after the holder died: %v, %v; want fast round trips (bypass)", rtts, err)
		}
	}
	// Rules that do not need the dead process stay until removed.
	if _, err := lab.Dial(l.A, "tcp4", l.IPB.String()+":9000", 300*time.Millisecond); !isTimeout(err) {
		t.Errorf("dial the blackholed port after the helper died = %v; want a timeout", err)
	}
	tables, err := network.Tables(l.A, "crashrun")
	if err != nil || len(tables) != 3 {
		t.Fatalf("tables of the dead run: %v, %v; want its three", tables, err)
	}
	removed, err := network.RemoveRun(context.Background(), l.A, "crashrun")
	if err != nil || strings.Join(removed, ",") != strings.Join(tables, ",") {
		t.Errorf("RemoveRun() = %v, %v; want %v", removed, err, tables)
	}
	noTables(t, l.A)
	pings(t, dial(t, l.A, "tcp4", l.IPB.String()+":9000"), 1)
}

// helperEnv runs this test binary as the process that applies faults, for
// the tests that kill it.
const helperEnv = "CHAOS_NETWORK_TEST_HELPER"

func TestMain(m *testing.M) {
	if spec := os.Getenv(helperEnv); spec != "" {
		os.Exit(helper(spec))
	}
	os.Exit(m.Run())
}

// helper applies, for run RUN in the namespace at PATH, a 50ms latency and
// a blackhole of port 9000 and a loss to HOST, says "ready" and waits to be
// killed.
func helper(spec string) int {
	parts := strings.Split(spec, ",") // what,path,run,host
	ns, err := network.NamedNamespace(parts[1])
	if err != nil {
		os.Stderr.WriteString(err.Error())
		return 1
	}
	for i, f := range []network.Fault{
		&network.Latency{Filter: network.Filter{Host: parts[3]}, Delay: 50 * time.Millisecond},
		&network.Blackhole{Filter: network.Filter{Host: parts[3], Port: 9000, Protocol: "tcp"}},
	} {
		rec, err := network.Plan(ns, parts[2], i+1, f)
		if err == nil {
			_, err = network.Apply(context.Background(), rec, f)
		}
		if err != nil {
			os.Stderr.WriteString(err.Error())
			return 1
		}
	}
	os.Stdout.WriteString("ready\n")
	time.Sleep(time.Minute)
	return 0
}

// helperProc is a running helper.
type helperProc struct {
	cmd *exec.Cmd
}

// runHelper starts the helper and waits until it has applied its faults.
func runHelper(t testing.TB, args ...string) *helperProc {
	t.Helper()
	path, run, host := args[0], args[2], args[3]
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+strings.Join([]string{args[1], path, run, host}, ","))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	h := &helperProc{cmd: cmd}
	t.Cleanup(func() { h.kill(t) })
	line := make(chan string, 1)
	go func() {
		b := make([]byte, 6)
		n, _ := io.ReadFull(out, b)
		line <- string(b[:n])
	}()
	select {
	case l := <-line:
		if l != "ready\n" {
			t.Fatalf("the helper did not get ready: %q, %s", l, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("the helper did not get ready in 30s: %s", stderr.String())
	}
	return h
}

// kill kills the helper with SIGKILL, as a crash would.
func (h *helperProc) kill(t testing.TB) {
	if h.cmd.ProcessState != nil {
		return
	}
	_ = h.cmd.Process.Kill()
	_ = h.cmd.Wait()
}
