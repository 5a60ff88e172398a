package probe

import (
	"context"
	"net"
	"time"

	"github.com/gamedayhq/chaos/internal/experiment"
	"github.com/gamedayhq/chaos/internal/load"
)

// TCPSpec is a TCP connect probe.
type TCPSpec struct {
	Address string              `yaml:"address" json:"address" chaos:"required" doc:"host:port to connect to"`
	Timeout experiment.Duration `yaml:"timeout" json:"timeout" min:"1ms" doc:"how long the connect may take"`
}

// SetDefaults gives the connect 2 seconds.
func (s *TCPSpec) SetDefaults() { s.Timeout = experiment.Duration(2 * time.Second) }

// Validate checks the address has a port.
func (s *TCPSpec) Validate() error {
	_, _, err := net.SplitHostPort(s.Address)
	return err
}

// TCPExpect is what the connect must show besides succeeding.
type TCPExpect struct {
	Latency experiment.DurationCond `yaml:"latency" json:"latency,omitzero" doc:"how long the connect may take, as a comparison such as '< 50ms'"`
}

func runTCP(ctx context.Context, specAny, expectAny any) Result {
	spec := specAny.(*TCPSpec)
	expect, _ := expectAny.(*TCPExpect)
	// The timeout bounds the connect, not the wait for a close after it.
	dctx, cancel := context.WithTimeout(ctx, spec.Timeout.D())
	defer cancel()
	var d net.Dialer
	start := time.Now()
	conn, err := d.DialContext(dctx, "tcp", spec.Address)
	elapsed := time.Since(start)
	if err != nil {
		return Failf(map[string]string{"error": describe(err)}, "connect %s: %s", spec.Address, describe(err))
	}
	defer conn.Close()
	obs := map[string]string{"latency": experiment.FormatValue(elapsed.Seconds(), experiment.UnitDuration)}
	watchEnd := time.Now().Add(tcpWatch)
	if why := load.ClosedAtOnce(ctx, conn); why != "" {
		obs["error"] = why
		return Failf(obs, "connect %s: accepted, then %s at once, with nothing sent: a proxy or a load balancer does so when its backend is down", spec.Address, why)
	}
	if d, ok := ctx.Deadline(); ctx.Err() != nil || ok && d.Before(watchEnd) {
		// Cut short by its caller: the connection was not seen to stay
		// open. The caller's deadline, when it ends the watch, may not
		// have marked ctx done yet.
		err := ctx.Err()
		if err == nil {
			err = context.DeadlineExceeded
		}
		return Failf(obs, "connect %s: accepted, then %s before it was seen to stay open", spec.Address, describe(err))
	}
	if expect != nil && !expect.Latency.IsZero() && !expect.Latency.Holds(elapsed.Seconds()) {
		return Failf(obs, "connect took %s, want %s", obs["latency"], expect.Latency)
	}
	return Result{OK: true, Observed: obs, Output: obs}
}

// TimeLimit is the probe's timeout and the wait for a close after the
// connect.
func (s *TCPSpec) TimeLimit() time.Duration { return s.Timeout.D() + tcpWatch }

// tcpWatch bounds how long the probe watches a connection it opened for a
// close: load.ClosedAtOnce's wait.
const tcpWatch = 100 * time.Millisecond

func init() {
	Register(Kind{
		Name: "tcp",
		New:  func() (any, any) { return &TCPSpec{}, &TCPExpect{} },
		Doc: experiment.Doc{
			Summary: "Opens a TCP connection, waits 100ms for the other end to close it, and closes it. Without expect, a connect that succeeds passes, unless the other end closes or resets the connection within those 100ms without sending a byte, as a proxy, a load balancer or Docker's port proxy does when its backend is down. The kernel accepts connections for a frozen (a process stop, a container pause) or hung server too, and a proxy whose backend does not answer keeps the connection open: to see the server answer, use an http or exec probe.",
			Default: "a connect that succeeds",
			Example: "{address: 127.0.0.1:5432}",
			Expect:  `{latency: "< 50ms"}`,
			Outputs: []string{"latency: how long the connect took"},
		},
		Run: runTCP,
	})
}
