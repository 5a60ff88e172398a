package experiment_test

import (
	"syscall"
	"testing"

	"github.com/gamedayhq/chaos/internal/experiment"
)

// TestSignalNumbersAreLinux checks the table against the kernel's numbers
// as the syscall package has them.
func TestSignalNumbersAreLinux(t *testing.T) {
	for name, sig := range map[string]syscall.Signal{
		"SIGHUP": syscall.SIGHUP, "SIGINT": syscall.SIGINT, "SIGQUIT": syscall.SIGQUIT, "SIGILL": syscall.SIGILL,
		"SIGTRAP": syscall.SIGTRAP, "SIGABRT": syscall.SIGABRT, "SIGIOT": syscall.SIGIOT, "SIGBUS": syscall.SIGBUS,
		"SIGFPE": syscall.SIGFPE, "SIGKILL": syscall.SIGKILL, "SIGUSR1": syscall.SIGUSR1, "SIGSEGV": syscall.SIGSEGV,
		"SIGUSR2": syscall.SIGUSR2, "SIGPIPE": syscall.SIGPIPE, "SIGALRM": syscall.SIGALRM, "SIGTERM": syscall.SIGTERM,
		"SIGSTKFLT": syscall.SIGSTKFLT, "SIGCHLD": syscall.SIGCHLD, "SIGCLD": syscall.SIGCLD, "SIGCONT": syscall.SIGCONT,
		"SIGSTOP": syscall.SIGSTOP, "SIGTSTP": syscall.SIGTSTP, "SIGTTIN": syscall.SIGTTIN, "SIGTTOU": syscall.SIGTTOU,
		"SIGURG": syscall.SIGURG, "SIGXCPU": syscall.SIGXCPU, "SIGXFSZ": syscall.SIGXFSZ, "SIGVTALRM": syscall.SIGVTALRM,
		"SIGPROF": syscall.SIGPROF, "SIGWINCH": syscall.SIGWINCH, "SIGIO": syscall.SIGIO, "SIGPOLL": syscall.SIGPOLL,
		"SIGPWR": syscall.SIGPWR, "SIGSYS": syscall.SIGSYS,
	} {
		got, err := experiment.ParseSignal(name)
		if err != nil || got.Number != int(sig) {
			t.Errorf("ParseSignal(%q) = %+v, %v; want number %d", name, got, err, int(sig))
		}
	}
}
