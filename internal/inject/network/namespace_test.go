package network_test

import (
	"context"
	"errors"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gamedayhq/chaos/internal/inject/network"
	"github.com/gamedayhq/chaos/internal/inject/network/lab"
)

// A process's namespace is found by its pid; when the process ends, a
// fault in a namespace that lives on (here through its ip netns name, as
// the host's lives on after a local process) is still found and reverted.
// A namespace that is nowhere any more is gone.
func TestProcessNamespace(t *testing.T) {
	noLeak(t)
	l := lab.New(t)
	cmd := exec.Command("ip", "netns", "exec", filepath.Base(l.PathA), "sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	var ns network.Namespace
	deadline := time.Now().Add(5 * time.Second)
	for {
		var err error
		ns, err = network.ProcessNamespace(cmd.Process.Pid)
		if err == nil && ns.Inode == l.A.Inode {
			break // ip has switched to the namespace and become sleep
		}
		if time.Now().After(deadline) {
			t.Fatalf("ProcessNamespace(%d) = %v, %v; want inode %d", cmd.Process.Pid, ns, err, l.A.Inode)
		}
		time.Sleep(5 * time.Millisecond)
	}
	rec, err := network.Plan(ns, "test", int(nextSeq.Add(1)), &network.Blackhole{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := network.Apply(context.Background(), rec, &network.Blackhole{}); err != nil {
		t.Fatal(err)
	}
	waitTables(t, l.A, 3) // ip, ip6 and netdev
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	if err := network.Revert(context.Background(), rec); err != nil {
		t.Fatalf("Revert() after the process ended = %v; want the fault found and removed", err)
	}
	noTables(t, l.A)

	gone := network.Namespace{PID: cmd.Process.Pid, Inode: 1}
	if err := network.Revert(context.Background(), network.Record{Kind: "blackhole", Namespace: gone, Run: "test", Seq: 1, Table: network.TableName("test", 1)}); !errors.Is(err, network.ErrGone) {
		t.Errorf("Revert() in a namespace that is nowhere = %v; want ErrGone", err)
	}
	if _, err := network.RemoveRun(context.Background(), gone, "test"); !errors.Is(err, network.ErrGone) {
		t.Errorf("RemoveRun() in a namespace that is nowhere = %v; want ErrGone", err)
	}
}

func TestHostNamespace(t *testing.T) {
	ns, err := network.HostNamespace()
	if err != nil {
		t.Fatal(err)
	}
	var st unix.Stat_t
	if err := unix.Stat("/proc/self/ns/net", &st); err != nil {
		t.Fatal(err)
	}
	if !ns.Host || ns.Inode != st.Ino {
		t.Errorf("HostNamespace() = %+v; want inode %d", ns, st.Ino)
	}
	// Another host's namespace is not gone: it is not here.
	other := network.Namespace{Host: true, Inode: 1}
	if _, err := network.Tables(other, ""); err == nil || errors.Is(err, network.ErrGone) {
		t.Errorf("Tables() in a host namespace that is not this one = %v; want an error other than ErrGone", err)
	}
}
