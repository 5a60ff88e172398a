package load_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	stdregexp "regexp"
	"strings"
	"testing"
	"time"

	"github.com/gamedayhq/chaos/internal/experiment"
	"github.com/gamedayhq/chaos/internal/load"
)

// stream returns a stream of the kind with the settings decoded from their
// Go value, configured as the runner does.
func stream(t *testing.T, kind string, spec any, rate float64) load.Stream {
	t.Helper()
	s := load.Stream{Name: "s", Rate: rate, Window: 200 * time.Millisecond, Timeout: 2 * time.Second}
	if err := load.Configure(&s, kind, spec); err != nil {
		t.Fatalf("Configure(%s): %v", kind, err)
	}
	return s
}

func regexp(t *testing.T, expr string) experiment.Regexp {
	t.Helper()
	return experiment.Regexp{Regexp: stdregexp.MustCompile(expr)}
}

func TestExecStreamOutcomes(t *testing.T) {
	for _, tt := range []struct {
		name  string
		req   load.ExecRequest
		class string // "" for successes
	}{
		{"exit 0", load.ExecRequest{Run: []string{"true"}}, ""},
		{"exit 1", load.ExecRequest{Run: []string{"false"}}, "exit_1"},
		{"exit code wanted", load.ExecRequest{Run: []string{"sh", "-c", "exit 3"}, ExitCode: experiment.NumberCond{Cond: experiment.Cond{Op: "==", Value: 3}}}, ""},
		{"stdout matches", load.ExecRequest{Run: []string{"echo", "PONG"}, StdoutMatch: regexp(t, "^PONG$")}, ""},
		{"stdout does not match", load.ExecRequest{Run: []string{"echo", "LOADING"}, StdoutMatch: regexp(t, "^PONG$")}, load.ClassMismatch},
		// Killed, a command has no exit code; its -1 held "!= 0".
		{"killed", load.ExecRequest{Run: []string{"sh", "-c", "kill -KILL $$"}, ExitCode: experiment.NumberCond{Cond: experiment.Cond{Op: "!=", Value: 0}}}, "killed_SIGKILL"},
		{"env and dir", load.ExecRequest{Run: []string{`test "$X" = y && test "$(pwd)" = /`}, Shell: true, Env: map[string]string{"X": "y"}, Dir: "/"}, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := merge(t, runFor(t, stream(t, "exec", &tt.req, 20), time.Second))
			// A loaded machine forks slowly; the rate is bench/streams's.
			if s.Requests < 5 {
				t.Fatalf("%d requests in 1s at 20/s; want about 20", s.Requests)
			}
			if tt.class == "" && s.Successes != s.Requests {
				t.Errorf("%d of %d succeeded (errors %v); want all", s.Successes, s.Requests, s.Errors)
			}
			if tt.class != "" && s.Errors[tt.class] != s.Requests {
				t.Errorf("errors %v of %d requests; want all %s", s.Errors, s.Requests, tt.class)
			}
		})
	}
}

// Commands that outlive the time between them overlap: the rate holds and
// each latency counts from when the command was due.
func TestExecStreamOpenModel(t *testing.T) {
	s := stream(t, "exec", &load.ExecRequest{Run: []string{"sleep", "0.3"}}, 20)
	sum := merge(t, runFor(t, s, 1500*time.Millisecond))
	if sum.Requests < 15 {
		t.Errorf("%d commands of 0.3s completed in 1.5s at 20/s; want the rate kept (about 24)", sum.Requests)
	}
	if sum.Latency.P50 < 300*time.Millisecond || sum.Successes != sum.Requests {
		t.Errorf("p50 %s, %d of %d succeeded; want 300ms or more, all", sum.Latency.P50, sum.Successes, sum.Requests)
	}
	s = stream(t, "exec", &load.ExecRequest{Run: []string{"sleep", "5"}}, 10)
	s.Timeout = 200 * time.Millisecond
	sum = merge(t, runFor(t, s, time.Second))
	if sum.Requests == 0 || sum.Errors[load.ClassTimeout] != sum.Requests {
		t.Errorf("errors %v of %d; want every command a timeout", sum.Errors, sum.Requests)
	}
}

// A command that cannot start stops the stream with an error: it is the
// experiment that is wrong, not a failed request.
func TestExecStreamCannotStart(t *testing.T) {
	for _, req := range []load.ExecRequest{
		{Run: []string{"no-such-command-anywhere"}},
		{Run: []string{"no-such-command-anywhere"}, Shell: true},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		start := time.Now()
		var requests int64
		err := load.Run(ctx, stream(t, "exec", &req, 50), func(w load.Window) { requests += w.Requests })
		cancel()
		var stop *load.StopError
		if !errors.As(err, &stop) || !strings.Contains(err.Error(), "could not start no-such-command-anywhere") {
			t.Errorf("Run(%v) = %v; want a StopError saying it could not start", req.Run, err)
		}
		if time.Since(start) > 5*time.Second || requests > 0 {
			t.Errorf("Run(%v) took %s and counted %d requests; want it stopped at once, with none", req.Run, time.Since(start), requests)
		}
	}
}

// replyServer answers every line with reply after delay, and closes.
func replyServer(t *testing.T, reply string, delay time.Duration) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				if _, err := bufio.NewReader(c).ReadString('\n'); err != nil {
					return
				}
				time.Sleep(delay)
				c.Write([]byte(reply))
			}()
		}
	}()
	return ln.Addr().String()
}

func TestTCPStreamOutcomes(t *testing.T) {
	pong := replyServer(t, "+PONG\r\n", 0)
	slow := replyServer(t, "+PONG\r\n", 150*time.Millisecond)
	short := replyServer(t, "+PO", 0)
	wrong := replyServer(t, "-LOADING\r\n", 0)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := ln.Addr().String()
	ln.Close()
	for _, tt := range []struct {
		name    string
		req     load.TCPRequest
		class   string
		atLeast time.Duration // the least p50
	}{
		{"reply", load.TCPRequest{Address: pong, Send: "PING\r\n", Reply: "+PONG"}, "", 0},
		{"connect only", load.TCPRequest{Address: pong}, "", 0},
		{"slow reply", load.TCPRequest{Address: slow, Send: "PING\r\n", Reply: "+PONG"}, "", 150 * time.Millisecond},
		{"wrong reply", load.TCPRequest{Address: wrong, Send: "PING\r\n", Reply: "+PONG"}, load.ClassMismatch, 0},
		{"closed mid-reply", load.TCPRequest{Address: short, Send: "PING\r\n", Reply: "+PONG"}, load.ClassReset, 0},
		{"refused", load.TCPRequest{Address: refused, Send: "PING\r\n", Reply: "+PONG"}, load.ClassRefused, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := merge(t, runFor(t, stream(t, "tcp", &tt.req, 50), time.Second))
			if s.Requests < 15 {
				t.Fatalf("%d requests in 1s at 50/s; want about 50", s.Requests)
			}
			if tt.class == "" && s.Successes != s.Requests {
				t.Errorf("%d of %d succeeded (errors %v); want all", s.Successes, s.Requests, s.Errors)
			}
			if tt.class != "" && s.Errors[tt.class] != s.Requests {
				t.Errorf("errors %v of %d requests; want all %s", s.Errors, s.Requests, tt.class)
			}
			if s.Latency.P50 < tt.atLeast {
				t.Errorf("p50 %s; want %s or more", s.Latency.P50, tt.atLeast)
			}
		})
	}
}

func TestStreamKindsValidate(t *testing.T) {
	for _, tt := range []struct {
		v    interface{ Validate() error }
		want string
	}{
		{&load.TCPRequest{Address: "localhost"}, `address "localhost": missing port in address: write it as host:port`},
		{&load.TCPRequest{Address: "localhost:http"}, `address "localhost:http": port "http" is not a number from 1 to 65535`},
		{&load.TCPRequest{Address: ":6379"}, `address ":6379" has no host`},
		{&load.TCPRequest{Address: "127.0.0.1:6379"}, ""},
		{&load.ExecRequest{Run: []string{"a", "b"}, Shell: true}, "with shell: true, run is one string"},
	} {
		err := tt.v.Validate()
		if got := ""; err != nil {
			got = err.Error()
			if got != tt.want {
				t.Errorf("Validate(%+v) = %q; want %q", tt.v, got, tt.want)
			}
		} else if tt.want != "" {
			t.Errorf("Validate(%+v) = nil; want %q", tt.v, tt.want)
		}
	}
	if got := load.Kinds(); strings.Join(got, ",") != "exec,http,tcp" {
		t.Errorf("Kinds() = %v; want exec, http, tcp", got)
	}
}

// acceptServer hands each connection it accepts to handle, and closes it
// once handle returns.
func acceptServer(t *testing.T, handle func(c net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				handle(c)
			}()
		}
	}()
	return ln.Addr().String()
}

// A proxy, a load balancer or Docker's port proxy accepts a connection
// before it reaches its backend, and closes or resets it when the backend
// is down: a tcp stream without reply fails such a request, as the tcp
// probe does, and still succeeds one whose connection stays open or on
// which the server speaks. What it waits for that is no part of the
// latency, and no request is waiting for an answer meanwhile.
func TestTCPStreamBackendDown(t *testing.T) {
	closed := acceptServer(t, func(net.Conn) { time.Sleep(time.Millisecond) })
	reset := acceptServer(t, func(c net.Conn) {
		time.Sleep(time.Millisecond)
		c.(*net.TCPConn).SetLinger(0)
	})
	// Until the client closes.
	held := acceptServer(t, func(c net.Conn) { io.Copy(io.Discard, c) })
	greets := acceptServer(t, func(c net.Conn) {
		c.Write([]byte("SSH-2.0-chaostest\r\n"))
		io.Copy(io.Discard, c)
	})
	for _, tt := range []struct {
		name, addr string
		ok         bool
	}{
		{"closed", closed, false},
		{"reset", reset, false},
		{"held", held, true},
		{"server speaks first", greets, true},
	} {
		for _, send := range []string{"", "PING\r\n"} {
			t.Run(fmt.Sprintf("%s, send %q", tt.name, send), func(t *testing.T) {
				t.Parallel()
				timing(t, func(a *attempt) {
					windows := runFor(t, stream(t, "tcp", &load.TCPRequest{Address: tt.addr, Send: send}, 50), 800*time.Millisecond)
					s := merge(t, windows)
					switch {
					case s.Requests < 10:
						a.Errorf("%d requests in 800ms at 50/s; want about 40", s.Requests)
					case !tt.ok && s.Errors[load.ClassReset] != s.Requests:
						a.Errorf("%d of %d succeeded, errors %v; want every request a reset", s.Successes, s.Requests, s.Errors)
					case tt.ok && s.Successes != s.Requests:
						a.Errorf("%d of %d succeeded, errors %v; want all", s.Successes, s.Requests, s.Errors)
					}
					if !tt.ok {
						return
					}
					if s.Latency.P50 >= 50*time.Millisecond {
						a.Errorf("p50 %s; want the connect's, well under the 100ms it watches the connection", s.Latency.P50)
					}
					// The last window holds the requests cut short. A
					// sender late on its schedule may leave one waiting.
					var waited int64
					for _, w := range windows[:len(windows)-1] {
						if _, added, _ := merge(t, []load.Window{w}).AtLeast(99, 50*time.Millisecond); added > 0 {
							waited += added
						}
					}
					if waited > 1 {
						a.Errorf("%d requests waited 50ms or more at a window's close; want none", waited)
					}
				})
			})
		}
	}
}
