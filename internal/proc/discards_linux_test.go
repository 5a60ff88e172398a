package proc

import (
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A process with no handler for SIGTERM gets it, unless it is the first
// process of its PID namespace, as a container's main process is: the
// kernel discards it there. One that ignores it never gets it; SIGKILL
// always reaches it.
func TestDiscards(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("a PID namespace of its own needs root")
	}
	start := func(t *testing.T, flags uintptr) int {
		t.Helper()
		cmd := exec.Command("sleep", "30")
		cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: flags}
		if err := cmd.Start(); err != nil {
			t.Skipf("start sleep: %v", err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		// Until it has exec'd, the child is a copy of this process.
		deadline := time.Now().Add(5 * time.Second)
		for {
			b, _ := os.ReadFile("/proc/" + strconv.Itoa(cmd.Process.Pid) + "/comm")
			if strings.TrimSpace(string(b)) == "sleep" {
				return cmd.Process.Pid
			}
			if time.Now().After(deadline) {
				t.Fatal("sleep did not start within 5s")
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	first := start(t, syscall.CLONE_NEWPID)
	if why := Discards(first, int(syscall.SIGTERM)); !strings.Contains(why, "first process of its PID namespace and has no handler") {
		t.Errorf("SIGTERM to the first process of a PID namespace, without a handler: %q; want it discarded", why)
	}
	if why := Discards(first, int(syscall.SIGKILL)); why != "" {
		t.Errorf("SIGKILL to the first process of a PID namespace: %q; want it delivered", why)
	}
	if why := Discards(start(t, 0), int(syscall.SIGTERM)); why != "" {
		t.Errorf("SIGTERM to a process without a handler, not the first of its namespace: %q; want it delivered", why)
	}
	if why := Discards(os.Getpid(), int(syscall.SIGTERM)); why != "" {
		t.Errorf("SIGTERM to this test, whose runtime handles it: %q; want it delivered", why)
	}
}
