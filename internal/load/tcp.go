package load

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"

	"github.com/gamedayhq/chaos/internal/experiment"
)

// TCPRequest is a tcp stream's request: a new connection, an optional
// payload sent on it, and an optional reply read back, then the close. The
// stream's timeout bounds the whole exchange.
type TCPRequest struct {
	Address string `yaml:"address" json:"address" chaos:"required" doc:"host:port to connect to"`
	// Send is written once connected, such as "PING\r\n".
	Send string `yaml:"send" json:"send,omitempty" doc:"what to send once connected, such as \"PING\\r\\n\"; bytes above \\x7f as !!binary BASE64 (see Values)"`
	// Reply is what the answer must start with, such as "+PONG". When
	// empty, the exchange succeeds once Send is written, unless the other
	// end closes the connection within settle having sent nothing.
	Reply string `yaml:"reply" json:"reply,omitempty" doc:"what the answer must start with, such as \"+PONG\" (bytes above \\x7f as !!binary BASE64, see Values); empty: a request succeeds once its connection opens and send is written, even to a frozen or hung server, unless the other end closes or resets the connection within 100ms without sending a byte (a proxy whose backend is down)"`
}

// Validate checks the address has a host and a port.
func (r *TCPRequest) Validate() error {
	host, port, err := net.SplitHostPort(r.Address)
	if err != nil {
		why := err.Error()
		if ae, ok := err.(*net.AddrError); ok {
			why = ae.Err
		}
		return fmt.Errorf("address %q: %s: write it as host:port", r.Address, why)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("address %q: port %q is not a number from 1 to 65535", r.Address, port)
	}
	if host == "" {
		return fmt.Errorf("address %q has no host", r.Address)
	}
	return nil
}

// Lenient says that without Reply a request succeeds once the connection
// opens and Send is written: the kernel accepts connections and takes in
// what is sent for a server that is frozen (SIGSTOP, a paused container)
// or hung, so a check on the stream passes one.
func (r *TCPRequest) Lenient() string {
	if r.Reply != "" {
		return ""
	}
	return "a tcp stream without reply: a request succeeds once its connection opens and send is written, which the kernel does for a frozen or hung server too, so the check passes one; set reply: to what the server answers"
}

// String is the address and exchange, as a stream's description.
func (r *TCPRequest) String() string {
	s := "tcp " + r.Address
	if r.Send != "" {
		s += fmt.Sprintf(" send %q", r.Send)
	}
	if r.Reply != "" {
		s += fmt.Sprintf(" reply %q", r.Reply)
	}
	return s
}

type tcpSender struct {
	addr   string
	send   []byte
	reply  []byte
	dialer net.Dialer
}

func (t *tcpSender) Send(ctx context.Context, _ uint64) (string, error) {
	conn, err := t.dialer.DialContext(ctx, "tcp", t.addr)
	if err != nil {
		return Classify(err), err
	}
	defer conn.Close()
	if d, ok := ctx.Deadline(); ok {
		conn.SetDeadline(d)
	}
	// A stream stopped mid-exchange unblocks the reads and writes.
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(aLongTimeAgo) })
	defer stop()
	if len(t.send) > 0 {
		if _, err := conn.Write(t.send); err != nil {
			return t.classify(ctx, err), err
		}
	}
	if len(t.reply) == 0 {
		answered(ctx)
		if why := ClosedAtOnce(ctx, conn); why != "" {
			return ClassReset, fmt.Errorf("accepted, then %s at once, with nothing sent: a proxy or a load balancer does so when its backend is down", why)
		}
		return "", nil
	}
	buf := make([]byte, len(t.reply))
	n, err := io.ReadFull(conn, buf)
	switch {
	case !bytes.Equal(buf[:n], t.reply[:n]):
		return ClassMismatch, fmt.Errorf("reply %q does not start with %q", buf[:n], t.reply)
	case err != nil:
		return t.classify(ctx, err), err
	}
	return "", nil
}

// settle is how long a tcp request without reply watches its connection,
// once connected and send written, for the other end to close it: a
// proxy, a load balancer or Docker's port proxy accepts at once, tries its
// backend, and closes or resets the connection when it cannot reach it,
// within a round trip to it. The tcp probe waits as long.
const settle = 100 * time.Millisecond

// ClosedAtOnce says how the other end closed conn within settle (or what
// is left of ctx), having sent nothing: "closed" or "reset". It is empty
// for a connection still open then, or on which bytes came (a server that
// speaks first, such as SSH or SMTP, or that answers send), or when ctx
// ends first. The tcp probe asks it too, once connected.
func ClosedAtOnce(ctx context.Context, conn net.Conn) string {
	deadline := time.Now().Add(settle)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	conn.SetReadDeadline(deadline)
	// Once ctx is done, its AfterFunc may have set the deadline that
	// unblocks the read before this one replaced it.
	if ctx.Err() != nil {
		return ""
	}
	n, err := conn.Read(make([]byte, 1))
	switch {
	case n > 0 || err == nil:
		return ""
	case errors.Is(err, io.EOF):
		return "closed"
	case Classify(err) == ClassReset:
		return "reset"
	}
	return ""
}

// classify names an error on an open connection: a deadline set because
// the stream stopped is the context's doing.
func (t *tcpSender) classify(ctx context.Context, err error) string {
	if ctx.Err() != nil {
		return Classify(ctx.Err())
	}
	return Classify(err)
}

// aLongTimeAgo is a deadline that has passed: it makes blocked reads and
// writes on a connection return at once.
var aLongTimeAgo = time.Unix(1, 0)

func init() {
	RegisterKind(Kind{
		Name: "tcp",
		New:  func() any { return &TCPRequest{} },
		Doc: experiment.Doc{
			Summary: "Each request opens a new TCP connection, sends send, reads back a reply that must start with reply (when set), and closes; the stream's timeout bounds the whole exchange. Without reply, a request succeeds once its connection opens and send is written, unless the other end closes or resets the connection within the next 100ms (or what is left of the timeout) without sending a byte, as a proxy, a load balancer or Docker's port proxy does when its backend is down; its latency ends before those 100ms, but it holds its connection, and counts against max_inflight, until they are over.",
			Example: "{address: \"127.0.0.1:6379\", send: \"PING\\r\\n\", reply: \"+PONG\"}",
		},
		Configure: func(s *Stream, spec any) error {
			r := spec.(*TCPRequest)
			s.Sender = &tcpSender{addr: r.Address, send: []byte(r.Send), reply: []byte(r.Reply)}
			return nil
		},
	})
}
