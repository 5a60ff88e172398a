package experiment_test

import (
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/gamedayhq/chaos/internal/experiment"
)

func TestParseSignal(t *testing.T) {
	tests := []struct {
		in   string
		name string
		num  int
	}{
		{"SIGKILL", "SIGKILL", 9},
		{"KILL", "SIGKILL", 9},
		{"kill", "SIGKILL", 9},
		{" sigterm ", "SIGTERM", 15},
		{"SigHup", "SIGHUP", 1},
		{"9", "SIGKILL", 9},
		{"15", "SIGTERM", 15},
		{"16", "SIGSTKFLT", 16},
		{"19", "SIGSTOP", 19},
		{"31", "SIGSYS", 31},
		{"IOT", "SIGABRT", 6},
		{"SIGPOLL", "SIGIO", 29},
		{"cld", "SIGCHLD", 17},
		{"SIGRTMIN", "SIGRTMIN", 34},
		{"34", "SIGRTMIN", 34},
		{"rtmin+3", "SIGRTMIN+3", 37},
		{"SIGRTMIN+0", "SIGRTMIN", 34},
		{"40", "SIGRTMIN+6", 40},
		{"SIGRTMAX-2", "SIGRTMIN+28", 62},
		{"SIGRTMAX", "SIGRTMAX", 64},
		{"64", "SIGRTMAX", 64},
		{"SIGRTMIN+30", "SIGRTMAX", 64},
	}
	for _, tt := range tests {
		got, err := experiment.ParseSignal(tt.in)
		if err != nil || got.Name != tt.name || got.Number != tt.num {
			t.Errorf("ParseSignal(%q) = %+v, %v; want %s (%d)", tt.in, got, err, tt.name, tt.num)
		}
	}
}

func TestParseSignalRefuses(t *testing.T) {
	tests := []struct{ in, want string }{
		{"SIGKLL", `"SIGKLL" is not a signal: use a name such as SIGTERM or SIGKILL; did you mean "SIGKILL"?`},
		{"term2", `is not a signal`},
		{"", `"" is not a signal`},
		{"SIG", `is not a signal`},
		{"0", `"0" is not a signal: numbers go from 1 to 64`},
		{"65", `numbers go from 1 to 64`},
		{"-9", `numbers go from 1 to 64`},
		{"32", `signal 32 is kept by the C library for its threads`},
		{"33", `signal 33 is kept by the C library`},
		{"SIGRTMIN+31", `is not a signal`},
		{"SIGRTMAX-31", `is not a signal`},
		{"SIGRTMIN+03", `is not a signal`},
		{"SIGRTMIN-1", `is not a signal`},
		{"RTMIN+x", `is not a signal`},
	}
	for _, tt := range tests {
		got, err := experiment.ParseSignal(tt.in)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParseSignal(%q) = %+v, %v; want an error with %q", tt.in, got, err, tt.want)
		}
	}
}

// TestSignalNamesAndNumbersAgree parses every number and the name it
// gives: each must lead back to the other.
func TestSignalNamesAndNumbersAgree(t *testing.T) {
	for n := 1; n <= 64; n++ {
		if n == 32 || n == 33 {
			continue
		}
		byNum, err := experiment.ParseSignal(strconv.Itoa(n))
		if err != nil {
			t.Errorf("ParseSignal(%d): %v", n, err)
			continue
		}
		byName, err := experiment.ParseSignal(byNum.Name)
		if err != nil || byName != byNum {
			t.Errorf("ParseSignal(%q) = %+v, %v; want %+v, as signal %d", byNum.Name, byName, err, byNum, n)
		}
		if short := strings.ToLower(strings.TrimPrefix(byNum.Name, "SIG")); short != "" {
			if got, err := experiment.ParseSignal(short); err != nil || got != byNum {
				t.Errorf("ParseSignal(%q) = %+v, %v; want %+v", short, got, err, byNum)
			}
		}
		if got := byNum.RealTime(); got != (n >= 34) {
			t.Errorf("%s.RealTime() = %t", byNum, got)
		}
	}
}

func TestSignalStops(t *testing.T) {
	for _, s := range []string{"SIGSTOP", "SIGTSTP", "SIGTTIN", "SIGTTOU", "19"} {
		if !experiment.MustSignal(s).Stops() {
			t.Errorf("%s.Stops() = false; want true", s)
		}
	}
	for _, s := range []string{"SIGKILL", "SIGTERM", "SIGCONT", "SIGCHLD", "SIGRTMIN+5"} {
		if experiment.MustSignal(s).Stops() {
			t.Errorf("%s.Stops() = true; want false", s)
		}
	}
}

func TestSignalYAML(t *testing.T) {
	var v struct {
		Signal experiment.Signal `yaml:"signal"`
	}
	for in, want := range map[string]string{"signal: 9": "SIGKILL", "signal: usr1": "SIGUSR1", "signal: SIGRTMIN+2": "SIGRTMIN+2"} {
		if err := yaml.Unmarshal([]byte(in), &v); err != nil || v.Signal.Name != want {
			t.Errorf("yaml %q: %+v, %v; want %s", in, v.Signal, err, want)
		}
	}
	if err := yaml.Unmarshal([]byte("signal: [9]"), &v); err == nil || !strings.Contains(err.Error(), "expected a signal such as SIGKILL, got a list") {
		t.Errorf("yaml of a list as a signal: %v", err)
	}
	if b, err := experiment.MustSignal("15").MarshalText(); err != nil || string(b) != "SIGTERM" {
		t.Errorf("MarshalText(15) = %s, %v; want SIGTERM", b, err)
	}
}
