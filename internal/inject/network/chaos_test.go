package network_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gamedayhq/chaos/internal/experiment"
	"github.com/gamedayhq/chaos/internal/inject"
	"github.com/gamedayhq/chaos/internal/inject/network"
	"github.com/gamedayhq/chaos/internal/inject/network/lab"
	"github.com/gamedayhq/chaos/internal/inject/proxy"
)

// newFault returns new settings of a registered fault.
func newFault(t *testing.T, target, name string) inject.Fault {
	t.Helper()
	k, ok := inject.LookupFault(target, name)
	if !ok {
		t.Fatalf("no fault %s on %s targets", name, target)
	}
	return k.New()
}

func TestFaultsRegistered(t *testing.T) {
	want := []string{"bandwidth", "blackhole", "corrupt", "duplicate", "intercept", "latency", "loss", "partition", "reject", "reorder"}
	for _, target := range []string{"docker", "process", "host"} {
		got := inject.FaultNames(target)
		for _, w := range want {
			if !strings.Contains(" "+strings.Join(got, " ")+" ", " "+w+" ") {
				t.Errorf("FaultNames(%s) = %v; want %s among them", target, got, w)
			}
		}
	}
}

// TestProcessInHostNamespaceRefused: a process that shares the host's
// namespace (this test) is refused before anything is touched; only a
// host target acts there.
func TestProcessInHostNamespaceRefused(t *testing.T) {
	env := inject.NewEnv(1, nil)
	f := newFault(t, "process", "blackhole")
	self := inject.Target{Kind: "process", ID: strconv.Itoa(os.Getpid())}
	_, err := f.Plan(context.Background(), env, self)
	if err == nil || !strings.Contains(err.Error(), "shares the host's network namespace") || !strings.Contains(err.Error(), "host: {}") {
		t.Fatalf("Plan(blackhole on this process) = %v; want a refusal that points to the host target", err)
	}
	if pc, ok := f.(inject.Prechecker); !ok || pc.Precheck(context.Background(), env, self) == nil {
		t.Error("Precheck of this process passed; want the same refusal before anything is hit")
	}
}

func TestInterceptSettings(t *testing.T) {
	pct := experiment.Percent(0.5)
	for _, c := range []struct {
		name string
		s    network.InterceptSettings
		want string
	}{
		{"no proxy fault", network.InterceptSettings{Intercept: network.Intercept{Filter: network.Filter{Port: 80}}}, "a proxy fault is required"},
		{"two", network.InterceptSettings{Intercept: network.Intercept{Filter: network.Filter{Port: 80}},
			Latency: &network.ProxyFault[proxy.Latency]{}, Down: &network.ProxyFault[proxy.Down]{}}, "latency and down: one proxy fault per intercept step"},
		{"percent on the intercept", network.InterceptSettings{Intercept: network.Intercept{Filter: network.Filter{Port: 80, Percent: &pct}},
			Down: &network.ProxyFault[proxy.Down]{}}, "percent does not apply to intercept"},
		{"no dependency", network.InterceptSettings{Down: &network.ProxyFault[proxy.Down]{}}, "host or port is required"},
		{"ok", network.InterceptSettings{Intercept: network.Intercept{Filter: network.Filter{Host: "10.0.0.7", Port: 80}},
			Down: &network.ProxyFault[proxy.Down]{Percent: &pct}}, ""},
	} {
		err := c.s.Validate()
		if c.want == "" && err != nil || c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
			t.Errorf("%s: Validate() = %v; want %q", c.name, err, c.want)
		}
	}
}

// unsharedSleep starts a sleep in a network namespace of its own, which
// goes when it is killed, and returns it with its namespace.
func unsharedSleep(t *testing.T) (*exec.Cmd, network.Namespace) {
	t.Helper()
	cmd := exec.Command("unshare", "--net", "sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	pid := cmd.Process.Pid
	host, err := network.HostNamespace()
	if err != nil {
		t.Fatal(err)
	}
	var ns network.Namespace
	deadline := time.Now().Add(5 * time.Second)
	for {
		// unshare execs sleep once its namespace is made.
		ns, err = network.ProcessNamespace(pid)
		if b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm"); err == nil && ns.Inode != host.Inode && strings.TrimSpace(string(b)) == "sleep" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("process %d never got a namespace of its own: %v", pid, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return cmd, ns
}

// TestProcessTargetThroughInject runs a latency fault on a local process
// in a namespace of its own through the registry, as the runner does:
// plan (the undo names the table), inject, revert; then the same from the
// undo alone, as chaos recover does, in an Env that never applied it; and
// once more, with the process gone and its namespace with it.
func TestProcessTargetThroughInject(t *testing.T) {
	lab.RequireRoot(t)
	noLeak(t)
	cmd, ns := unsharedSleep(t)
	pid := cmd.Process.Pid
	tg := inject.Target{Kind: "process", ID: strconv.Itoa(pid), Name: "sleep"}
	f := newFault(t, "process", "latency")
	if err := json.Unmarshal([]byte(`{"host": "10.9.9.9", "delay": 50000000}`), f); err != nil {
		t.Fatal(err)
	}
	if err := f.(interface{ Validate() error }).Validate(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var warnings []string
	env := inject.NewEnv(1, func(m string) { warnings = append(warnings, m) })
	env.RunID = "inject-test"
	if err := f.(inject.Prechecker).Precheck(ctx, env, tg); err != nil {
		t.Fatal(err)
	}
	for round := range 2 {
		u, err := f.Plan(ctx, env, tg)
		if err != nil {
			t.Fatal(err)
		}
		if tables, _ := network.Tables(ns, env.RunID); len(tables) != 0 {
			t.Fatalf("Plan installed %v", tables)
		}
		if u.Action == "" || !strings.Contains(string(u.Data), "chaos_inject_test_") {
			t.Fatalf("Plan = %+v; want an undo naming the run's table", u)
		}
		u, err = f.Inject(ctx, env, tg, u)
		if err != nil {
			t.Fatal(err)
		}
		if tables, _ := network.Tables(ns, env.RunID); len(tables) != 1 {
			t.Fatalf("after Inject, tables %v; want the fault's one", tables)
		}
		if round == 1 {
			// Another process, with only the ledger's undo.
			if err := inject.Revert(ctx, inject.NewEnv(2, nil), u); err != nil {
				t.Fatalf("Revert from the undo alone = %v", err)
			}
			noTables(t, ns)
		}
		// This process lets go of what it holds. The first time, nothing
		// went to 10.9.9.9, which it says: the fault met no traffic; the
		// second time the table is gone already, which it says: the fault
		// ended before its revert.
		if err := inject.Revert(ctx, env, u); err != nil {
			t.Fatalf("round %d: Revert = %v", round, err)
		}
		noTables(t, ns)
		if round == 0 && (len(warnings) != 1 || !strings.Contains(warnings[0], "no packet it selects (host 10.9.9.9)")) {
			t.Errorf("round 0: warnings %q; want 1, that the fault met no packet", warnings)
		}
		if round == 1 && (len(warnings) != 2 || !strings.Contains(warnings[1], "were gone")) {
			t.Errorf("round 1: warnings %q; want 2, the second that the rules were gone", warnings)
		}
	}
	warnings = nil
	u, err := f.Plan(ctx, env, tg)
	if err != nil {
		t.Fatal(err)
	}
	if u, err = f.Inject(ctx, env, tg, u); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	if err := inject.Revert(ctx, env, u); err != nil {
		t.Fatalf("Revert in a namespace that is gone = %v; want nil, with a warning", err)
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], network.ErrGone.Error()) {
		t.Errorf("warnings %q; want one that the namespace is gone", warnings)
	}
}

// TestRulesGoneBeforeRevert removes a fault's tables behind its back, as
// a firewall reload (nft -f with flush ruleset) would: the revert says
// the fault ended early, for a blackhole and for a latency that holds
// packets, and a fault whose tables are there is reverted as usual.
func TestRulesGoneBeforeRevert(t *testing.T) {
	lab.RequireRoot(t)
	noLeak(t)
	cmd, ns := unsharedSleep(t)
	tg := inject.Target{Kind: "process", ID: strconv.Itoa(cmd.Process.Pid), Name: "sleep"}
	ctx := context.Background()
	for _, c := range []struct{ fault, settings string }{
		{"blackhole", `{"host": "10.9.9.9", "direction": "ingress"}`},
		{"latency", `{"host": "10.9.9.9", "delay": 50000000}`},
	} {
		for _, flush := range []bool{false, true} {
			f := newFault(t, "process", c.fault)
			if err := json.Unmarshal([]byte(c.settings), f); err != nil {
				t.Fatal(err)
			}
			env := inject.NewEnv(1, nil)
			env.RunID = "gone-test"
			u, err := f.Plan(ctx, env, tg)
			if err != nil {
				t.Fatal(err)
			}
			if u, err = f.Inject(ctx, env, tg, u); err != nil {
				t.Fatal(err)
			}
			if flush {
				if out, err := exec.Command("nsenter", "-t", tg.ID, "-n", "nft", "flush", "ruleset").CombinedOutput(); err != nil {
					t.Fatalf("nft flush ruleset: %v\n%s", err, out)
				}
			}
			ended, err := inject.RevertEarly(ctx, env, u)
			if err != nil {
				t.Fatalf("%s, flushed %v: revert = %v", c.fault, flush, err)
			}
			if flush && !strings.Contains(ended.Early, "were gone") {
				t.Errorf("%s whose tables were flushed: revert says %q; want that its rules were gone before it", c.fault, ended.Early)
			}
			if !flush && ended.Early != "" {
				t.Errorf("%s: revert says %q; want it reverted", c.fault, ended.Early)
			}
			noTables(t, ns)
		}
	}
}

// TestUnmetOwnPort: a fault filtered to the port its target listens on
// selects the other end's port, so it meets none of the target's
// clients; the dry run's plan and the warning that it met no traffic say
// so, and say nothing of the kind for a port the target does not listen
// on.
func TestUnmetOwnPort(t *testing.T) {
	lab.RequireRoot(t)
	noLeak(t)
	cmd, ns := unsharedSleep(t)
	var ln net.Listener
	if err := ns.Do(func() (err error) {
		ln, err = net.Listen("tcp", "0.0.0.0:0")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	own := ln.Addr().(*net.TCPAddr).Port
	tg := inject.Target{Kind: "process", ID: strconv.Itoa(cmd.Process.Pid), Name: "sleep"}
	ctx := context.Background()
	for _, c := range []struct {
		port int
		hint bool
	}{{own, true}, {own + 1, false}} {
		f := newFault(t, "process", "latency")
		if err := json.Unmarshal([]byte(fmt.Sprintf(`{"port": %d, "delay": 50000000}`, c.port)), f); err != nil {
			t.Fatal(err)
		}
		var warnings []string
		env := inject.NewEnv(1, func(m string) { warnings = append(warnings, m) })
		env.RunID = "own-port-test"
		// The dry run's plan says so before anything is on.
		plan, err := f.(interface {
			Describe(context.Context, *inject.Env, inject.Target) ([]string, error)
		}).Describe(ctx, env, tg)
		if err != nil {
			t.Fatal(err)
		}
		note := fmt.Sprintf("the target listens on %d, and port is the other end's", c.port)
		if got := strings.Contains(strings.Join(plan, "\n"), note); got != c.hint {
			t.Errorf("port %d: plan %q; want it to say %q: %v", c.port, plan, note, c.hint)
		}
		u, err := f.Plan(ctx, env, tg)
		if err != nil {
			t.Fatal(err)
		}
		if u, err = f.Inject(ctx, env, tg, u); err != nil {
			t.Fatal(err)
		}
		if err := inject.Revert(ctx, env, u); err != nil {
			t.Fatalf("port %d: Revert = %v", c.port, err)
		}
		hint := fmt.Sprintf("the target itself listens on %d", c.port)
		if len(warnings) != 1 || !strings.Contains(warnings[0], "met no traffic") && !strings.Contains(warnings[0], "no packet it selects") {
			t.Fatalf("port %d: warnings %q; want one, that the fault met no traffic", c.port, warnings)
		}
		if got := strings.Contains(warnings[0], hint); got != c.hint {
			t.Errorf("port %d: warning %q; want it to say %q: %v", c.port, warnings[0], hint, c.hint)
		}
	}
}
