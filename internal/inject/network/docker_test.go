package network_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"

	"github.com/gamedayhq/chaos/internal/inject"
	"github.com/gamedayhq/chaos/internal/inject/network"
	"github.com/gamedayhq/chaos/internal/inject/network/lab"
	"github.com/gamedayhq/chaos/internal/inject/proxy"
)

// box is a test container and its namespace.
type box struct {
	id  string
	ns  network.Namespace
	ip  string
	ip6 string // on a network with IPv6
	pid int
}

// containers starts a target and a dependency on a network of their own
// that Docker marks internal: nothing the test sends can leave it.
func containers(t *testing.T) (d *lab.Docker, target, dep box) {
	t.Helper()
	lab.RequireRoot(t)
	d = lab.NewDocker(t)
	net := d.Network("net", true)
	target = inspect(t, d, d.Run("target", net), net)
	dep = inspect(t, d, d.Run("dep", net), net)
	return d, target, dep
}

func inspect(t *testing.T, d *lab.Docker, id, net string) box {
	t.Helper()
	info := d.Inspect(id)
	ns, err := network.ProcessNamespace(info.State.Pid)
	if err != nil {
		t.Fatal(err)
	}
	b := box{id: id, ns: ns, pid: info.State.Pid}
	if n := info.NetworkSettings.Networks[net]; n != nil {
		b.ip, b.ip6 = n.IPAddress, n.GlobalIPv6Address
	}
	return b
}

// timed applies f in ns and returns how long Plan and Apply took.
func timed(t *testing.T, ns network.Namespace, f network.Fault) (*network.Applied, time.Duration) {
	t.Helper()
	start := time.Now()
	a := apply(t, ns, f)
	return a, time.Since(start)
}

func timedRevert(t *testing.T, a *network.Applied) time.Duration {
	t.Helper()
	start := time.Now()
	revert(t, a)
	return time.Since(start)
}

// Faults in a container FROM scratch, through the pid the engine gives:
// each one acts and goes, UDP as well as TCP, on connections opened before
// as well as after.
func TestContainerFaults(t *testing.T) {
	_, target, dep := containers(t)
	echoTCP(t, dep.ns, "0.0.0.0:9000")
	echoUDP(t, dep.ns, "0.0.0.0:9001")
	// The dependency's HTTP service, served in its namespace.
	ln, err := lab.ListenTCP(dep.ns, "0.0.0.0:8080")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "dependency") })}
	go hs.Serve(ln)
	defer hs.Close()
	tcpAddr, udpAddr := dep.ip+":9000", dep.ip+":9001"
	open := dial(t, target.ns, "tcp4", tcpAddr)
	udp := dial(t, target.ns, "udp4", udpAddr)
	base := pings(t, open, 10)

	t.Run("reject", func(t *testing.T) {
		a, took := timed(t, target.ns, &network.Reject{Filter: network.Filter{Host: dep.ip, Port: 8080}})
		if _, err := lab.Dial(target.ns, "tcp4", dep.ip+":8080", 2*time.Second); !errors.Is(err, syscall.ECONNREFUSED) {
			t.Errorf("dial = %v; want connection refused", err)
		}
		t.Logf("reject: applied in %v, reverted in %v", took, timedRevert(t, a))
		dial(t, target.ns, "tcp4", dep.ip+":8080")
	})
	t.Run("latency", func(t *testing.T) {
		const delay = 25 * time.Millisecond
		a, took := timed(t, target.ns, &network.Latency{Filter: network.Filter{Host: dep.ip}, Delay: delay})
		for name, c := range map[string]net.Conn{"open TCP": open, "UDP": udp, "new TCP": dial(t, target.ns, "tcp4", tcpAddr)} {
			if rtt := pings(t, c, 5); rtt < base+delay-2*time.Millisecond || rtt > base+delay+40*time.Millisecond {
				t.Errorf("%s: round trip %v; want %v more than %v", name, rtt, delay, base)
			}
		}
		t.Logf("latency: applied in %v, reverted in %v", took, timedRevert(t, a))
		if rtt := pings(t, open, 5); rtt > delay/2 {
			t.Errorf("round trip after revert %v", rtt)
		}
	})
	t.Run("blackhole", func(t *testing.T) {
		a, took := timed(t, target.ns, &network.Blackhole{Filter: network.Filter{Host: dep.ip, Port: 9001, Protocol: "udp"}})
		if _, err := lab.Ping(udp, 1, 300*time.Millisecond); !isTimeout(err) {
			t.Errorf("UDP ping = %v; want a timeout", err)
		}
		t.Logf("blackhole: applied in %v, reverted in %v", took, timedRevert(t, a))
		pings(t, udp, 2)
	})
	t.Run("loss", func(t *testing.T) {
		sink := countUDP(t, dep.ns, "0.0.0.0:9002", false)
		a := apply(t, target.ns, &network.Loss{Filter: network.Filter{Host: dep.ip, Percent: pct(50)}})
		const n = 1000
		sendUDP(t, target.ns, dep.ip+":9002", n, 64, 50*time.Microsecond)
		sink.settle(100 * time.Millisecond)
		got, _, _, _ := sink.counts()
		if lost := float64(n-got) / n; lost < 0.4 || lost > 0.6 {
			t.Errorf("lost %.1f%%; want 50%%", lost*100)
		}
		revert(t, a)
	})
	t.Run("partition", func(t *testing.T) {
		a := apply(t, target.ns, &network.Partition{Peers: []string{dep.ip}})
		if _, err := lab.Ping(open, 1, 300*time.Millisecond); !isTimeout(err) {
			t.Errorf("ping across the partition = %v; want a timeout", err)
		}
		revert(t, a)
		if _, err := lab.Ping(open, 1, 10*time.Second); err != nil {
			t.Errorf("the open connection after the partition: %v", err)
		}
	})
	t.Run("packets", func(t *testing.T) {
		// Duplicate, reorder and corrupt on UDP, one after the other.
		const n = 1000
		for i, f := range []network.Fault{
			&network.Duplicate{Filter: network.Filter{Host: dep.ip, Port: 9010, Percent: pct(50)}},
			&network.Reorder{Filter: network.Filter{Host: dep.ip, Port: 9011, Direction: network.Egress, Percent: pct(50)}, Delay: 5 * time.Millisecond},
			&network.Corrupt{Filter: network.Filter{Host: dep.ip, Port: 9012, Percent: pct(50)}},
		} {
			addr := fmt.Sprintf(":%d", 9010+i)
			sink := countUDP(t, dep.ns, "0.0.0.0"+addr, false)
			a := apply(t, target.ns, f)
			sendUDP(t, target.ns, dep.ip+addr, n, 64, 100*time.Microsecond)
			revert(t, a) // lets every held packet go
			sink.settle(100 * time.Millisecond)
			got, _, dups, late := sink.counts()
			t.Logf("%s 50%%: %d arrived, %d duplicates, %d overtaken", f.Kind(), got, dups, late)
			switch i {
			case 0:
				if dups < n*4/10 || dups > n*6/10 {
					t.Errorf("duplicate 50%%: %d duplicates of %d", dups, n)
				}
			case 1:
				if late < n*4/10 || late > n*6/10 {
					t.Errorf("reorder 50%%: %d of %d overtaken", late, n)
				}
			case 2:
				if lost := n - got; lost < n*4/10 || lost > n*6/10 {
					t.Errorf("corrupt 50%%: %d of %d dropped by the receiver for their checksum", lost, n)
				}
			}
		}
	})
	t.Run("bandwidth", func(t *testing.T) {
		ln, err := lab.ListenTCP(dep.ns, "0.0.0.0:9200")
		if err != nil {
			t.Fatal(err)
		}
		sink := lab.Serve(ln, lab.Sink)
		defer sink.Close()
		a := apply(t, target.ns, &network.Bandwidth{Filter: network.Filter{Host: dep.ip}, Rate: 16_000_000})
		sendBulk(t, target.ns, dep.ip+":9200")
		if got := measure(sink, time.Second); got < 1.5e6 || got > 2.2e6 {
			t.Errorf("rate %.2f MB/s; want 2 MB/s", got/1e6)
		}
		revert(t, a)
	})
	t.Run("intercept", func(t *testing.T) {
		tr := &http.Transport{DialContext: func(_ context.Context, _, addr string) (net.Conn, error) {
			return lab.Dial(target.ns, "tcp4", addr, 2*time.Second)
		}}
		defer tr.CloseIdleConnections()
		client := &http.Client{Transport: tr, Timeout: 5 * time.Second}
		a, took := timed(t, target.ns, &network.Intercept{Filter: network.Filter{Host: dep.ip, Port: 8080}, HTTP: true})
		start := time.Now()
		if _, err := a.Interception().Add(t.Context(), proxy.Fault{Params: &proxy.HTTPError{Status: 502}}); err != nil {
			t.Fatal(err)
		}
		attach := time.Since(start)
		resp, err := client.Get("http://" + dep.ip + ":8080/")
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 502 {
			t.Errorf("GET through the intercept = %d; want the fault's 502", resp.StatusCode)
		}
		tr.CloseIdleConnections()
		t.Logf("intercept: started in %v, first fault on in %v, reverted in %v", took, attach, timedRevert(t, a))
	})
	noTables(t, target.ns)
}

// A container restarted during a fault comes back in a new namespace,
// without the fault; the revert says the fault went with the old one and
// releases what this process held for it.
func TestContainerRestartMidFault(t *testing.T) {
	d, target, dep := containers(t)
	echoUDP(t, dep.ns, "0.0.0.0:9001")
	held := apply(t, target.ns, &network.Latency{Filter: network.Filter{Host: dep.ip}, Delay: 20 * time.Millisecond})
	drop := apply(t, target.ns, &network.Blackhole{Filter: network.Filter{Host: dep.ip, Port: 8080}})
	icept := apply(t, target.ns, &network.Intercept{Filter: network.Filter{Host: dep.ip, Port: 8080}})
	if _, err := icept.Interception().Add(t.Context(), proxy.Fault{Params: &proxy.Latency{Delay: time.Millisecond}}); err != nil {
		t.Fatal(err)
	}
	zero := 0
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := d.Client.ContainerRestart(ctx, target.id, container.StopOptions{Timeout: &zero}); err != nil {
		t.Fatal(err)
	}
	after := inspect(t, d, target.id, "")
	if after.ns.Inode == target.ns.Inode {
		t.Fatalf("the restarted container kept namespace %d", after.ns.Inode)
	}
	for _, a := range []*network.Applied{held, drop, icept} {
		if err := a.Revert(context.Background()); !errors.Is(err, network.ErrGone) {
			t.Errorf("Revert(%s) after a restart = %v; want ErrGone", a.Record().Kind, err)
		}
		if err := network.Revert(context.Background(), a.Record()); !errors.Is(err, network.ErrGone) {
			t.Errorf("Revert(record of %s) after a restart = %v; want ErrGone", a.Record().Kind, err)
		}
	}
	noTables(t, after.ns)
	if _, err := network.RemoveRun(context.Background(), target.ns, "test"); !errors.Is(err, network.ErrGone) {
		t.Errorf("RemoveRun() in the old namespace = %v; want ErrGone", err)
	}
}

// A chaos killed with SIGKILL leaves its rules in the container; the
// packets they queue pass (bypass), and RemoveRun, by the run's name
// alone, leaves nothing of it.
func TestContainerKilledThenRecovered(t *testing.T) {
	_, target, dep := containers(t)
	echoUDP(t, dep.ns, "0.0.0.0:9001")
	echoTCP(t, dep.ns, "0.0.0.0:9000")
	udp := dial(t, target.ns, "udp4", dep.ip+":9001")
	h := runHelper(t, fmt.Sprintf("/proc/%d/ns/net", target.pid), "hold", "killedrun", dep.ip)
	if rtt := pings(t, udp, 3); rtt < 45*time.Millisecond {
		t.Fatalf("round trip %v with the helper's 50ms on", rtt)
	}
	h.kill(t)
	deadline := time.Now().Add(5 * time.Second)
	for {
		rtts, err := lab.Ping(udp, 1, 200*time.Millisecond)
		if err == nil && rtts[0] < 20*time.Millisecond {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the helper died: %v, %v; want fast round trips", rtts, err)
		}
	}
	tables, err := network.Tables(target.ns, "killedrun")
	if err != nil || len(tables) != 3 {
		t.Fatalf("tables of the killed run: %v, %v", tables, err)
	}
	removed, err := network.RemoveRun(context.Background(), target.ns, "killedrun")
	if err != nil || len(removed) != 3 {
		t.Errorf("RemoveRun() = %v, %v; want the three tables", removed, err)
	}
	noTables(t, target.ns)
	pings(t, dial(t, target.ns, "tcp4", dep.ip+":9000"), 2)
}

// A docker target's fault may name a container, for host and among a
// partition's peers: the engine gives its addresses on all its networks,
// the dry run shows them, the record (the ledger's undo) keeps them and
// the rules act on them. A name that names no container is refused before
// anything is touched.
func TestContainerNamedThroughInject(t *testing.T) {
	d, target, dep := containers(t)
	// The dependency is on a second network too: its name stands for
	// both addresses.
	other := d.Network("other", true)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := d.Client.NetworkConnect(ctx, other, dep.id, nil); err != nil {
		t.Fatal(err)
	}
	depOther := inspect(t, d, dep.id, other).ip
	if depOther == "" || depOther == dep.ip {
		t.Fatalf("the dependency's address on the second network: %q", depOther)
	}
	echoTCP(t, dep.ns, "0.0.0.0:9000")
	echoTCP(t, dep.ns, "0.0.0.0:9010")
	depName := d.Name("dep")
	env := inject.NewEnv(1, nil)
	defer env.Close()
	env.RunID = "named"
	tg := inject.Target{Kind: "docker", ID: target.id, Name: d.Name("target")}

	t.Run("partition", func(t *testing.T) {
		f := newFault(t, "docker", "partition")
		if err := json.Unmarshal([]byte(`{"peers": ["`+depName+`"], "port": 9000, "protocol": "tcp"}`), f); err != nil {
			t.Fatal(err)
		}
		lines, err := f.(inject.Describer).Describe(ctx, env, tg)
		if err != nil {
			t.Fatal(err)
		}
		plan := strings.Join(lines, "\n")
		t.Logf("dry run:\n%s", plan)
		for _, want := range []string{"container " + depName + " is ", dep.ip, depOther, "th dport 9000"} {
			if !strings.Contains(plan, want) {
				t.Errorf("dry run:\n%s\nwant %q in it", plan, want)
			}
		}
		u, err := f.Plan(ctx, env, tg)
		if err != nil {
			t.Fatal(err)
		}
		var rec network.Record
		if err := json.Unmarshal(u.Data, &rec); err != nil {
			t.Fatal(err)
		}
		if got := fmt.Sprint(rec.Names[depName]); !strings.Contains(got, dep.ip) || !strings.Contains(got, depOther) {
			t.Errorf("record names %v; want %s: [%s %s]", rec.Names, depName, dep.ip, depOther)
		}
		if len(u.Notes) != 1 || !strings.HasPrefix(u.Notes[0], "container "+depName+" is ") || !strings.Contains(u.Notes[0], depOther) {
			t.Errorf("notes %q; want the container's addresses, for the journal", u.Notes)
		}
		if _, err := f.Inject(ctx, env, tg, u); err != nil {
			t.Fatal(err)
		}
		if c, err := lab.Dial(target.ns, "tcp4", dep.ip+":9000", 300*time.Millisecond); !isTimeout(err) {
			if c != nil {
				c.Close()
			}
			t.Errorf("dial the named container's port = %v; want a timeout", err)
		}
		pings(t, dial(t, target.ns, "tcp4", dep.ip+":9010"), 1)
		if err := inject.Revert(ctx, env, u); err != nil {
			t.Fatal(err)
		}
		noTables(t, target.ns)
		pings(t, dial(t, target.ns, "tcp4", dep.ip+":9000"), 1)
	})
	t.Run("host", func(t *testing.T) {
		f := newFault(t, "docker", "reject")
		if err := json.Unmarshal([]byte(`{"host": "`+depName+`", "port": 9000, "protocol": "tcp"}`), f); err != nil {
			t.Fatal(err)
		}
		u, err := f.Plan(ctx, env, tg)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.Inject(ctx, env, tg, u); err != nil {
			t.Fatal(err)
		}
		if _, err := lab.Dial(target.ns, "tcp4", dep.ip+":9000", 2*time.Second); !errors.Is(err, syscall.ECONNREFUSED) {
			t.Errorf("dial the named container = %v; want connection refused", err)
		}
		pings(t, dial(t, target.ns, "tcp4", dep.ip+":9010"), 1)
		if err := inject.Revert(ctx, env, u); err != nil {
			t.Fatal(err)
		}
		noTables(t, target.ns)
	})
	t.Run("intercept cuts", func(t *testing.T) {
		// The one connection open to the port is cut, and the note says
		// so.
		echoTCP(t, dep.ns, "0.0.0.0:9020")
		open := dial(t, target.ns, "tcp4", dep.ip+":9020")
		pings(t, open, 1)
		f := newFault(t, "docker", "intercept")
		if err := json.Unmarshal([]byte(`{"host": "`+depName+`", "port": 9020, "cut_established": true, "latency": {"params": {"delay": 1000000}}}`), f); err != nil {
			t.Fatal(err)
		}
		u, err := f.Plan(ctx, env, tg)
		if err != nil {
			t.Fatal(err)
		}
		u, err = f.Inject(ctx, env, tg, u)
		if err != nil {
			t.Fatal(err)
		}
		if want := "cut 1 open connection to the dependency"; !slices.Contains(u.Notes, want) {
			t.Errorf("notes %q; want %q", u.Notes, want)
		}
		if _, err := lab.Ping(open, 1, 2*time.Second); err == nil {
			t.Error("the open connection still answers; want it cut")
		}
		pings(t, dial(t, target.ns, "tcp4", dep.ip+":9020"), 1)
		if err := inject.Revert(ctx, env, u); err != nil {
			t.Fatal(err)
		}
		noTables(t, target.ns)
	})
	t.Run("no such container", func(t *testing.T) {
		f := newFault(t, "docker", "blackhole")
		if err := json.Unmarshal([]byte(`{"host": "`+d.Name("nobody")+`"}`), f); err != nil {
			t.Fatal(err)
		}
		if _, err := f.Plan(ctx, env, tg); err == nil || !strings.Contains(err.Error(), `no container named "`+d.Name("nobody")+`"`) {
			t.Errorf("Plan() naming no container = %v; want a refusal", err)
		}
		noTables(t, target.ns)
	})
}

// On a network with IPv6, faults reach the container's IPv6 traffic as
// its IPv4: by address, and by the container's name, which stands for
// both.
func TestContainerIPv6(t *testing.T) {
	lab.RequireRoot(t)
	d := lab.NewDocker(t)
	net6 := d.Network6("net6")
	target := inspect(t, d, d.Run("target", net6), net6)
	dep := inspect(t, d, d.Run("dep", net6), net6)
	if dep.ip6 == "" || dep.ip == "" {
		t.Fatalf("the dependency's addresses on an IPv6 network: %q and %q", dep.ip, dep.ip6)
	}
	echoTCP(t, dep.ns, "[::]:9000")
	echoTCP(t, dep.ns, "0.0.0.0:9000")
	v6, v4 := net.JoinHostPort(dep.ip6, "9000"), net.JoinHostPort(dep.ip, "9000")
	open := dial(t, target.ns, "tcp6", v6)
	base := pings(t, open, 5)

	t.Run("latency", func(t *testing.T) {
		const delay = 30 * time.Millisecond
		a := apply(t, target.ns, &network.Latency{Filter: network.Filter{Host: dep.ip6}, Delay: delay})
		if rtt := pings(t, open, 5); rtt-base < delay-2*time.Millisecond || rtt-base > delay+40*time.Millisecond {
			t.Errorf("round trip on the open IPv6 connection %v (%v before); want %v more", rtt, base, delay)
		}
		if rtt := pings(t, dial(t, target.ns, "tcp4", v4), 5); rtt > delay/2 {
			t.Errorf("IPv4 round trip %v; want it untouched", rtt)
		}
		revert(t, a)
		noTables(t, target.ns)
	})
	t.Run("reject", func(t *testing.T) {
		a := apply(t, target.ns, &network.Reject{Filter: network.Filter{Host: dep.ip6, Port: 9000}})
		if _, err := lab.Dial(target.ns, "tcp6", v6, 2*time.Second); !errors.Is(err, syscall.ECONNREFUSED) {
			t.Errorf("dial = %v; want connection refused", err)
		}
		if _, err := lab.Ping(open, 1, 2*time.Second); !errors.Is(err, syscall.ECONNRESET) {
			t.Errorf("ping on the open connection = %v; want a reset", err)
		}
		revert(t, a)
		noTables(t, target.ns)
		pings(t, dial(t, target.ns, "tcp6", v6), 1)
	})
	t.Run("intercept", func(t *testing.T) {
		a := apply(t, target.ns, &network.Intercept{Filter: network.Filter{Host: dep.ip6, Port: 9000}})
		if _, err := a.Interception().Add(t.Context(), proxy.Fault{Params: &proxy.Latency{Delay: 30 * time.Millisecond}}); err != nil {
			t.Fatal(err)
		}
		c := dial(t, target.ns, "tcp6", v6)
		if rtt := pings(t, c, 3); rtt < 30*time.Millisecond {
			t.Errorf("round trip through the intercept %v; want the fault's 30ms", rtt)
		}
		if c.RemoteAddr().String() != v6 {
			t.Errorf("the client is connected to %s; want %s", c.RemoteAddr(), v6)
		}
		revert(t, a)
		noTables(t, target.ns)
	})
	t.Run("partition by name", func(t *testing.T) {
		env := inject.NewEnv(1, nil)
		defer env.Close()
		env.RunID = "named6"
		ctx := t.Context()
		tg := inject.Target{Kind: "docker", ID: target.id, Name: d.Name("target")}
		f := newFault(t, "docker", "partition")
		if err := json.Unmarshal([]byte(`{"peers": ["`+d.Name("dep")+`"], "port": 9000, "protocol": "tcp"}`), f); err != nil {
			t.Fatal(err)
		}
		u, err := f.Plan(ctx, env, tg)
		if err != nil {
			t.Fatal(err)
		}
		if len(u.Notes) != 1 || !strings.Contains(u.Notes[0], dep.ip) || !strings.Contains(u.Notes[0], dep.ip6) {
			t.Errorf("notes %q; want both of the container's addresses", u.Notes)
		}
		if _, err := f.Inject(ctx, env, tg, u); err != nil {
			t.Fatal(err)
		}
		if tables, _ := network.Tables(target.ns, "named6"); len(tables) != 3 {
			t.Errorf("tables %v; want ip, ip6 and netdev", tables)
		}
		for _, c := range []struct{ netw, addr string }{{"tcp6", v6}, {"tcp4", v4}} {
			if conn, err := lab.Dial(target.ns, c.netw, c.addr, 300*time.Millisecond); !isTimeout(err) {
				if conn != nil {
					conn.Close()
				}
				t.Errorf("dial %s = %v; want a timeout", c.addr, err)
			}
		}
		if err := inject.Revert(ctx, env, u); err != nil {
			t.Fatal(err)
		}
		noTables(t, target.ns)
		pings(t, dial(t, target.ns, "tcp6", v6), 1)
	})
}

// A fault whose host names a container selects the addresses the name
// stood for when it went on. A dependency that came back on another
// address while it was on (reconnected, recreated) took its traffic out
// of the fault's rules: a blackhole of it let everything through from
// then on, and counted the packets it dropped before as its traffic met.
// The revert finds the container's new address and says the fault ended
// early.
func TestContainerNamedMoved(t *testing.T) {
	d, target, dep := containers(t)
	net := d.Name("net")
	echoTCP(t, dep.ns, "0.0.0.0:9000")
	depName := d.Name("dep")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	env := inject.NewEnv(1, nil)
	defer env.Close()
	env.RunID = "moved"
	tg := inject.Target{Kind: "docker", ID: target.id, Name: d.Name("target")}
	f := newFault(t, "docker", "blackhole")
	if err := json.Unmarshal([]byte(`{"host": "`+depName+`", "port": 9000}`), f); err != nil {
		t.Fatal(err)
	}
	u, err := f.Plan(ctx, env, tg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Inject(ctx, env, tg, u); err != nil {
		t.Fatal(err)
	}
	if c, err := lab.Dial(target.ns, "tcp4", dep.ip+":9000", 300*time.Millisecond); !isTimeout(err) {
		if c != nil {
			c.Close()
		}
		t.Fatalf("dial the named container = %v; want a timeout", err)
	}
	// The dependency leaves the network; another container takes its
	// address; it comes back on a new one.
	if err := d.Client.NetworkDisconnect(ctx, net, dep.id, true); err != nil {
		t.Fatal(err)
	}
	d.Run("filler", net)
	if err := d.Client.NetworkConnect(ctx, net, dep.id, nil); err != nil {
		t.Fatal(err)
	}
	moved := inspect(t, d, dep.id, net).ip
	if moved == "" || moved == dep.ip {
		t.Fatalf("the dependency came back on %q; want an address other than %s", moved, dep.ip)
	}
	pings(t, dial(t, target.ns, "tcp4", moved+":9000"), 1)
	ended, err := inject.RevertEarly(ctx, env, u)
	t.Logf("revert: %+v, %v", ended, err)
	if err != nil || !strings.Contains(ended.Early, moved) {
		t.Errorf("RevertEarly() = %+v, %v; want it to say the fault ended early, the container being now at %s", ended, err, moved)
	}
	noTables(t, target.ns)
}

// An intercept without cut_established leaves the target's open
// connections to the dependency direct: a client whose pool was open
// before it sends its requests there, and the proxy fault meets only
// those of a new connection. The fault met traffic, and the run is
// warned that it met only part of it.
func TestInterceptWarnsOfBypass(t *testing.T) {
	d, target, dep := containers(t)
	echoTCP(t, dep.ns, "0.0.0.0:9000")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var warnings []string
	env := inject.NewEnv(1, func(msg string) { warnings = append(warnings, msg) })
	defer env.Close()
	env.RunID = "bypass"
	tg := inject.Target{Kind: "docker", ID: target.id, Name: d.Name("target")}
	old := dial(t, target.ns, "tcp4", dep.ip+":9000")
	pings(t, old, 1)
	f := newFault(t, "docker", "intercept")
	if err := json.Unmarshal([]byte(`{"host": "`+dep.ip+`", "port": 9000, "latency": {"params": {"delay": 1000000}}}`), f); err != nil {
		t.Fatal(err)
	}
	u, err := f.Plan(ctx, env, tg)
	if err != nil {
		t.Fatal(err)
	}
	if u, err = f.Inject(ctx, env, tg, u); err != nil {
		t.Fatal(err)
	}
	pings(t, old, 20)
	pings(t, dial(t, target.ns, "tcp4", dep.ip+":9000"), 2)
	ended, err := inject.RevertEarly(ctx, env, u)
	if err != nil || ended != (inject.Ended{}) {
		t.Fatalf("RevertEarly() = %+v, %v; want a fault that met traffic", ended, err)
	}
	t.Logf("warnings: %q", warnings)
	if len(warnings) != 1 || !strings.Contains(warnings[0], "opened before the intercept went on") {
		t.Errorf("warnings %q; want one that says the connections open before stayed direct", warnings)
	}
	noTables(t, target.ns)
}

// A drop on egress sits on the devices that were up when it went on. A
// device the target gets while it is on (reconnected to its network, a
// network connected) has none of its rules: what leaves by it passes, and
// the revert says the fault ended early for it.
func TestEgressDeviceAddedMidFault(t *testing.T) {
	for _, tc := range []struct{ fault, settings string }{
		{"blackhole", `{"host": "%s", "port": 9000, "direction": "egress"}`},
		{"bandwidth", `{"rate": "1mbit"}`},
	} {
		t.Run(tc.fault, func(t *testing.T) {
			d, target, dep := containers(t)
			net := d.Name("net")
			echoTCP(t, dep.ns, "0.0.0.0:9000")
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			env := inject.NewEnv(1, nil)
			defer env.Close()
			env.RunID = "newdev"
			tg := inject.Target{Kind: "docker", ID: target.id, Name: d.Name("target")}
			f := newFault(t, "docker", tc.fault)
			settings := tc.settings
			if strings.Contains(settings, "%s") {
				settings = fmt.Sprintf(settings, dep.ip)
			}
			if err := json.Unmarshal([]byte(settings), f); err != nil {
				t.Fatal(err)
			}
			u, err := f.Plan(ctx, env, tg)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.Inject(ctx, env, tg, u); err != nil {
				t.Fatal(err)
			}
			if tc.fault == "blackhole" {
				if c, err := lab.Dial(target.ns, "tcp4", dep.ip+":9000", 300*time.Millisecond); !isTimeout(err) {
					if c != nil {
						c.Close()
					}
					t.Fatalf("dial the dependency = %v; want a timeout", err)
				}
			}
			if err := d.Client.NetworkDisconnect(ctx, net, target.id, true); err != nil {
				t.Fatal(err)
			}
			if err := d.Client.NetworkConnect(ctx, net, target.id, nil); err != nil {
				t.Fatal(err)
			}
			// The target's traffic now leaves by a device the fault never
			// saw: the blackhole lets it through.
			pings(t, dial(t, target.ns, "tcp4", dep.ip+":9000"), 3)
			ended, err := inject.RevertEarly(ctx, env, u)
			t.Logf("revert: %+v, %v", ended, err)
			if err != nil || !strings.Contains(ended.Early, "had none of what the fault puts on each device") {
				t.Errorf("RevertEarly() = %+v, %v; want it to say the fault ended early on the new device", ended, err)
			}
			noTables(t, target.ns)
		})
	}
}
