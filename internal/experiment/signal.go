package experiment

import (
	"fmt"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Signal is a Linux signal, written by name, with or without the SIG
// prefix and in any case (SIGKILL, KILL, kill), or by number (9).
// Real-time signals are written SIGRTMIN, SIGRTMIN+N, SIGRTMAX-N, SIGRTMAX
// or by number. This is the one table of signals: process and container
// faults alike read theirs here.
type Signal struct {
	// Name is canonical: SIGKILL, SIGRTMIN+3.
	Name   string
	Number int
}

// signalNames are the standard signals by number, as Linux numbers them
// on x86 and ARM, the numbering Docker's engines use too.
var signalNames = [...]string{
	1: "SIGHUP", 2: "SIGINT", 3: "SIGQUIT", 4: "SIGILL", 5: "SIGTRAP", 6: "SIGABRT",
	7: "SIGBUS", 8: "SIGFPE", 9: "SIGKILL", 10: "SIGUSR1", 11: "SIGSEGV", 12: "SIGUSR2",
	13: "SIGPIPE", 14: "SIGALRM", 15: "SIGTERM", 16: "SIGSTKFLT", 17: "SIGCHLD",
	18: "SIGCONT", 19: "SIGSTOP", 20: "SIGTSTP", 21: "SIGTTIN", 22: "SIGTTOU",
	23: "SIGURG", 24: "SIGXCPU", 25: "SIGXFSZ", 26: "SIGVTALRM", 27: "SIGPROF",
	28: "SIGWINCH", 29: "SIGIO", 30: "SIGPWR", 31: "SIGSYS",
}

// signalAliases are the other names the C library gives some signals.
var signalAliases = map[string]int{"SIGIOT": 6, "SIGCLD": 17, "SIGPOLL": 29}

// The real-time signals as the C library numbers them: it keeps the
// kernel's 32 and 33 for its threads.
const (
	sigRTMin = 34
	sigRTMax = 64
)

// signalByName returns the number of a canonical, upper-case name.
func signalByName(name string) (int, bool) {
	for n, s := range signalNames {
		if s != "" && s == name {
			return n, true
		}
	}
	if n, ok := signalAliases[name]; ok {
		return n, true
	}
	rt := func(s string) (int, bool) {
		n, err := strconv.Atoi(s)
		return n, err == nil && n >= 0 && n <= sigRTMax-sigRTMin && strconv.Itoa(n) == s
	}
	switch rest, _ := strings.CutPrefix(name, "SIGRTM"); {
	case name == "SIGRTMIN":
		return sigRTMin, true
	case name == "SIGRTMAX":
		return sigRTMax, true
	case strings.HasPrefix(rest, "IN+"):
		if n, ok := rt(rest[3:]); ok {
			return sigRTMin + n, true
		}
	case strings.HasPrefix(rest, "AX-"):
		if n, ok := rt(rest[3:]); ok {
			return sigRTMax - n, true
		}
	}
	return 0, false
}

// signalName returns the canonical name of a signal number, or "".
func signalName(n int) string {
	switch {
	case n > 0 && n < len(signalNames):
		return signalNames[n]
	case n == sigRTMin:
		return "SIGRTMIN"
	case n == sigRTMax:
		return "SIGRTMAX"
	case n > sigRTMin && n < sigRTMax:
		return "SIGRTMIN+" + strconv.Itoa(n-sigRTMin)
	}
	return ""
}

// ParseSignal parses a signal name or number.
func ParseSignal(s string) (Signal, error) {
	t := strings.ToUpper(strings.TrimSpace(s))
	if n, err := strconv.Atoi(t); err == nil {
		if n == 32 || n == 33 {
			return Signal{}, fmt.Errorf("signal %d is kept by the C library for its threads: real-time signals go from %d (SIGRTMIN) to %d (SIGRTMAX)", n, sigRTMin, sigRTMax)
		}
		name := signalName(n)
		if name == "" {
			return Signal{}, fmt.Errorf("%s is not a signal: numbers go from 1 to %d", excerpt(s), sigRTMax)
		}
		return Signal{Name: name, Number: n}, nil
	}
	if !strings.HasPrefix(t, "SIG") {
		t = "SIG" + t
	}
	n, ok := signalByName(t)
	if !ok {
		names := make([]string, 0, len(signalNames)+len(signalAliases)+2)
		for _, k := range signalNames {
			if k != "" {
				names = append(names, k)
			}
		}
		for k := range signalAliases {
			names = append(names, k)
		}
		names = append(names, "SIGRTMIN", "SIGRTMAX")
		return Signal{}, fmt.Errorf("%s is not a signal: use a name such as SIGTERM or SIGKILL%s", excerpt(s), didYouMean(t, names))
	}
	return Signal{Name: signalName(n), Number: n}, nil
}

// MustSignal is ParseSignal for names known to be valid.
func MustSignal(s string) Signal {
	sig, err := ParseSignal(s)
	if err != nil {
		panic(err)
	}
	return sig
}

// Stops reports whether the signal stops a process (SIGSTOP, SIGTSTP,
// SIGTTIN, SIGTTOU) rather than ending or notifying it: one that a fault
// that sends signals never undoes.
func (s Signal) Stops() bool {
	switch s.Number {
	case 19, 20, 21, 22:
		return true
	}
	return false
}

// RealTime reports whether the signal is a real-time one (SIGRTMIN to
// SIGRTMAX), which has no name of its own.
func (s Signal) RealTime() bool { return s.Number >= sigRTMin && s.Number <= sigRTMax }

// String returns the signal's name.
func (s Signal) String() string { return s.Name }

// MarshalText writes the signal's name.
func (s Signal) MarshalText() ([]byte, error) { return []byte(s.Name), nil }

// UnmarshalYAML reads a signal from a scalar.
func (s *Signal) UnmarshalYAML(n *yaml.Node) error {
	if err := wantScalar(n, "a signal such as SIGKILL"); err != nil {
		return err
	}
	v, err := ParseSignal(n.Value)
	if err != nil {
		return err
	}
	*s = v
	return nil
}
