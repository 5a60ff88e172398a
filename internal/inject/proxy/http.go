package proxy

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"
)

// exchange carries HTTP/1.x over one connection pair. Requests and replies
// are forwarded byte for byte as they came (only their framing is parsed),
// so everything the faults do not touch passes unchanged: keep-alive,
// pipelining, chunked and streaming bodies, 1xx replies, and Upgrade or
// CONNECT, after which both directions become plain streams.
type exchange struct {
	up, down *link
	cbr, ubr *bufio.Reader // from the client, from the upstream
	// Scratch for the message head being read in each direction; a head
	// is gathered (copied) before the next one is read.
	reqHead, respHead []byte

	mu    sync.Mutex
	queue []*item // requests awaiting their reply, in order
}

// item is a request whose reply is still to come: forwarded upstream, or
// answered by the proxy (synthetic) once the replies ahead of it are out.
type item struct {
	method    string
	synthetic []byte
	upgraded  chan bool // for Upgrade and CONNECT: whether the reply switched
	signaled  bool
}

const maxHead = 64 << 10

func newExchange(up, down *link) *exchange {
	return &exchange{
		up: up, down: down,
		cbr: bufio.NewReaderSize(flushing{up.src, up}, bufSize),
		ubr: bufio.NewReaderSize(flushing{down.src, down}, bufSize),
	}
}

// flushing is what an exchange's bufio.Reader reads from: before it waits
// for more input, it sends what the link has gathered from the input so
// far. Nothing is held back while the exchange waits for bytes.
type flushing struct {
	src io.Reader
	l   *link
}

func (f flushing) Read(b []byte) (int, error) {
	if err := f.l.flush(); err != nil {
		return 0, err
	}
	return f.src.Read(b)
}

// requests reads requests from the client, applies the HTTP faults and
// forwards the rest upstream.
func (x *exchange) requests() error {
	l := x.up
	p := l.c.p
	for {
		h, err := readHead(x.cbr, x.reqHead[:0])
		x.reqHead = h
		if err == io.EOF {
			return l.finish()
		}
		if err != nil {
			return err
		}
		req, err := parseRequest(h)
		if err != nil {
			return err
		}
		p.requests.Add(1)
		var delay time.Duration
		var synthetic *HTTPError
		for _, a := range p.faults.Load().faults {
			hp, ok := a.fault.Params.(httpParams)
			if !ok || !hp.matches(req) || !(a.all || rand.Float64() < a.fault.Percent) {
				continue
			}
			a.hits.Add(1)
			switch f := hp.(type) {
			case *HTTPError:
				if synthetic == nil {
					synthetic = f
				}
			case *HTTPDelay:
				delay += max(f.Delay+time.Duration((rand.Float64()*2-1)*float64(f.Jitter)), 0)
			}
		}
		if synthetic != nil || delay > 0 {
			p.httpFaulted.Add(1)
		}
		if delay > 0 {
			if err := l.flush(); err != nil {
				return err
			}
			if !sleep(l.c.ctx, delay) {
				return net.ErrClosed
			}
		}
		if synthetic != nil {
			// A client waiting for 100 Continue sends no body, so the
			// reply cannot wait for it; the connection closes after it.
			end := req.close || req.expectContinue
			if !end {
				if err := copyBody(x.cbr, req.body, func([]byte) error { return nil }); err != nil {
					return err
				}
			}
			if err := x.reply(synthetic.response(req.method, end)); err != nil {
				return err
			}
			if end {
				return x.endRequests()
			}
			continue
		}
		it := &item{method: req.method}
		if req.upgrade {
			it.upgraded = make(chan bool, 1)
		}
		x.mu.Lock()
		x.queue = append(x.queue, it)
		x.mu.Unlock()
		if err := l.gather(h); err != nil {
			return err
		}
		if err := copyBody(x.cbr, req.body, l.gather); err != nil {
			return err
		}
		if it.upgraded != nil {
			if err := l.flush(); err != nil {
				return err
			}
			select {
			case ok := <-it.upgraded:
				if ok {
					return tunnel(l, x.cbr)
				}
			case <-l.c.ctx.Done():
				return net.ErrClosed
			}
		}
	}
}

// endRequests ends the exchange after a synthetic reply that closes the
// connection: the upstream sees the end of the requests, answers those
// still outstanding and closes, which ends the replies to the client. What
// the client still sends is read and dropped, so that closing with unread
// bytes does not reset the connection under the reply.
func (x *exchange) endRequests() error {
	if err := x.up.finish(); err != nil {
		return err
	}
	_, err := io.Copy(io.Discard, x.cbr)
	return err
}

// reply sends a synthetic reply now if no reply is outstanding, or queues
// it behind the outstanding ones.
func (x *exchange) reply(b []byte) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	if len(x.queue) == 0 {
		return x.down.send(b)
	}
	x.queue = append(x.queue, &item{synthetic: b})
	return nil
}

// responses forwards the upstream's replies to the client.
func (x *exchange) responses() error {
	l := x.down
	defer x.endResponses()
	for {
		if _, err := x.ubr.Peek(1); err != nil {
			if err == io.EOF {
				return l.finish()
			}
			return err
		}
		x.mu.Lock()
		var it *item
		if len(x.queue) > 0 {
			it = x.queue[0]
		}
		x.mu.Unlock()
		method := "GET" // for a reply nobody asked for, such as a 408
		if it != nil {
			method = it.method
		}
		var status int
		var fields [][2]string
		for {
			h, err := readHead(x.ubr, x.respHead[:0])
			x.respHead = h
			if err != nil {
				if err == io.EOF {
					err = io.ErrUnexpectedEOF
				}
				return err
			}
			if status, fields, err = parseStatus(h); err != nil {
				return err
			}
			if err := l.gather(h); err != nil {
				return err
			}
			if status >= 200 || status == 101 {
				break
			}
		}
		switched := status == 101 || (method == "CONNECT" && status/100 == 2)
		x.mu.Lock()
		if it != nil && it.upgraded != nil && !it.signaled {
			it.signaled = true
			it.upgraded <- switched
		}
		x.mu.Unlock()
		if switched {
			return tunnel(l, x.ubr)
		}
		body := responseBody(method, status, fields)
		if err := copyBody(x.ubr, body, l.gather); err != nil {
			return err
		}
		if body.untilClose {
			return l.finish()
		}
		if it != nil {
			if err := x.pop(); err != nil {
				return err
			}
		}
	}
}

// pop removes the request just answered and sends the synthetic replies
// that were waiting behind it.
func (x *exchange) pop() error {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.queue = x.queue[1:]
	for len(x.queue) > 0 && x.queue[0].synthetic != nil {
		if err := x.down.send(x.queue[0].synthetic); err != nil {
			return err
		}
		x.queue = x.queue[1:]
	}
	return nil
}

// endResponses releases a request side waiting to learn whether an
// upgrade succeeded, once no reply can come any more.
func (x *exchange) endResponses() {
	x.mu.Lock()
	defer x.mu.Unlock()
	for _, it := range x.queue {
		if it.upgraded != nil && !it.signaled {
			it.signaled = true
			close(it.upgraded)
		}
	}
}

// tunnel turns a direction into a plain stream after a protocol switch,
// starting with the bytes already buffered.
func tunnel(l *link, br *bufio.Reader) error {
	if err := l.flush(); err != nil {
		return err
	}
	if n := br.Buffered(); n > 0 {
		b, _ := br.Peek(n)
		if err := l.send(b); err != nil {
			return err
		}
		br.Discard(n)
	}
	return l.stream()
}

// readHead appends to raw a request or status line and its header fields,
// up to and including the empty line, as they came.
func readHead(br *bufio.Reader, raw []byte) ([]byte, error) {
	start := 0
	for {
		line, err := br.ReadSlice('\n')
		raw = append(raw, line...)
		if len(raw) > maxHead {
			return nil, errors.New("http head larger than 64 KiB")
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			if err == io.EOF && len(raw) == start {
				return raw[:0], io.EOF // nothing, or only empty lines
			}
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
		lineStart := bytes.LastIndexByte(raw[:len(raw)-1], '\n') + 1
		if len(bytes.TrimRight(raw[lineStart:], "\r\n")) == 0 {
			if lineStart == start {
				// An empty line before the start line is tolerated (RFC 9112 2.2).
				start = len(raw)
				continue
			}
			return raw, nil
		}
	}
}

// request is what the HTTP faults match on.
type request struct {
	method, path string
	fields       [][2]string
	body         body
	upgrade      bool
	// close is set when the client ends the connection after the reply:
	// HTTP/1.0 without keep-alive, or Connection: close.
	close          bool
	expectContinue bool
}

func (r *request) header(name string) (string, bool) { return field(r.fields, name) }

// body says how a message body is delimited.
type body struct {
	chunked    bool
	length     int64
	untilClose bool
}

func splitHead(h []byte) (start string, fields [][2]string) {
	lines := strings.Split(strings.TrimLeft(string(h), "\r\n"), "\n")
	start = strings.TrimRight(lines[0], "\r")
	for _, ln := range lines[1:] {
		ln = strings.TrimRight(ln, "\r")
		name, value, ok := strings.Cut(ln, ":")
		if ok {
			fields = append(fields, [2]string{strings.TrimSpace(name), strings.TrimSpace(value)})
		}
	}
	return start, fields
}

func field(fields [][2]string, name string) (string, bool) {
	for _, f := range fields {
		if strings.EqualFold(f[0], name) {
			return f[1], true
		}
	}
	return "", false
}

// hasToken reports whether a comma-separated field such as Connection
// lists token.
func hasToken(fields [][2]string, name, token string) bool {
	for _, f := range fields {
		if !strings.EqualFold(f[0], name) {
			continue
		}
		for t := range strings.SplitSeq(f[1], ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// framing reads Transfer-Encoding and Content-Length, over all the fields
// of each name: the last transfer coding decides whether the body is
// chunked, and Content-Length values must agree (RFC 9112 6.3).
func framing(fields [][2]string) (b body, encoded bool, err error) {
	var coding, length string
	var conflict error
	hasLength := false
	for _, f := range fields {
		switch {
		case strings.EqualFold(f[0], "Transfer-Encoding"):
			encoded = true
			for c := range strings.SplitSeq(f[1], ",") {
				if c = strings.TrimSpace(c); c != "" {
					coding = c
				}
			}
		case strings.EqualFold(f[0], "Content-Length"):
			for v := range strings.SplitSeq(f[1], ",") {
				v = strings.TrimSpace(v)
				if hasLength && v != length {
					conflict = fmt.Errorf("conflicting Content-Length values %q and %q", length, v)
				}
				length, hasLength = v, true
			}
		}
	}
	// Transfer-Encoding overrides Content-Length (RFC 9112 6.3).
	if conflict != nil && !encoded {
		return b, false, conflict
	}
	if encoded {
		b.chunked = strings.EqualFold(coding, "chunked")
		return b, true, nil
	}
	if hasLength {
		n, err := strconv.ParseInt(length, 10, 64)
		if err != nil || n < 0 {
			return b, false, fmt.Errorf("bad Content-Length %q", length)
		}
		b.length = n
	}
	return b, false, nil
}

func parseRequest(h []byte) (*request, error) {
	start, fields := splitHead(h)
	parts := strings.SplitN(start, " ", 3)
	if len(parts) != 3 || !strings.HasPrefix(parts[2], "HTTP/1.") {
		return nil, fmt.Errorf("bad http request line %q", start)
	}
	r := &request{method: parts[0], fields: fields}
	target := parts[1]
	if i := strings.Index(target, "://"); i >= 0 {
		// absolute-form: keep the path
		target = target[i+3:]
		if j := strings.IndexByte(target, '/'); j >= 0 {
			target = target[j:]
		} else {
			target = "/"
		}
	}
	r.path, _, _ = strings.Cut(target, "?")
	b, encoded, err := framing(fields)
	if err != nil {
		return nil, err
	}
	if encoded && !b.chunked {
		return nil, fmt.Errorf("request body coding %q is not chunked", start)
	}
	r.body = b
	r.upgrade = r.method == "CONNECT" || (hasToken(fields, "Connection", "upgrade") && hasHeader(fields, "Upgrade"))
	r.close = hasToken(fields, "Connection", "close") || (parts[2] == "HTTP/1.0" && !hasToken(fields, "Connection", "keep-alive"))
	r.expectContinue = hasToken(fields, "Expect", "100-continue")
	return r, nil
}

func hasHeader(fields [][2]string, name string) bool {
	_, ok := field(fields, name)
	return ok
}

// parseStatus returns the status code and the header fields of a reply's
// head.
func parseStatus(h []byte) (int, [][2]string, error) {
	start, fields := splitHead(h)
	version, rest, _ := strings.Cut(start, " ")
	code, _, _ := strings.Cut(rest, " ")
	if !strings.HasPrefix(version, "HTTP/1.") {
		return 0, nil, fmt.Errorf("bad http status line %q", start)
	}
	status, err := strconv.Atoi(code)
	if err != nil || status < 100 || status > 999 {
		return 0, nil, fmt.Errorf("bad http status line %q", start)
	}
	return status, fields, nil
}

// responseBody applies RFC 9112 6.3 to a reply to method.
func responseBody(method string, status int, fields [][2]string) body {
	if method == "HEAD" || status < 200 || status == 204 || status == 304 {
		return body{}
	}
	b, encoded, err := framing(fields)
	if err != nil || (encoded && !b.chunked) {
		return body{untilClose: true}
	}
	if !encoded && !hasHeader(fields, "Content-Length") {
		return body{untilClose: true}
	}
	return b
}

func copyBody(br *bufio.Reader, b body, send func([]byte) error) error {
	switch {
	case b.chunked:
		return copyChunked(br, send)
	case b.untilClose:
		err := copyN(br, -1, send)
		if err == io.ErrUnexpectedEOF {
			return nil
		}
		return err
	default:
		return copyN(br, b.length, send)
	}
}

// copyN sends n bytes from br, or all of it until EOF when n is negative.
func copyN(br *bufio.Reader, n int64, send func([]byte) error) error {
	for n != 0 {
		if br.Buffered() == 0 {
			if _, err := br.Peek(1); err != nil {
				if err == io.EOF {
					err = io.ErrUnexpectedEOF
				}
				return err
			}
		}
		k := br.Buffered()
		if n > 0 && int64(k) > n {
			k = int(n)
		}
		b, _ := br.Peek(k)
		if err := send(b); err != nil {
			return err
		}
		br.Discard(k)
		if n > 0 {
			n -= int64(k)
		}
	}
	return nil
}

func readLine(br *bufio.Reader) ([]byte, error) {
	var line []byte
	for {
		b, err := br.ReadSlice('\n')
		line = append(line, b...)
		if len(line) > maxHead {
			return nil, errors.New("http chunk line larger than 64 KiB")
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return line, err
	}
}

func copyChunked(br *bufio.Reader, send func([]byte) error) error {
	for {
		line, err := readLine(br)
		if err != nil {
			return err
		}
		if err := send(line); err != nil {
			return err
		}
		hex, _, _ := strings.Cut(strings.TrimSpace(string(line)), ";")
		size, err := strconv.ParseInt(strings.TrimSpace(hex), 16, 64)
		if err != nil || size < 0 {
			return fmt.Errorf("bad chunk size line %q", line)
		}
		if size == 0 {
			for { // trailer fields, then the empty line
				line, err := readLine(br)
				if err != nil {
					return err
				}
				if err := send(line); err != nil {
					return err
				}
				if len(bytes.TrimRight(line, "\r\n")) == 0 {
					return nil
				}
			}
		}
		if err := copyN(br, size, send); err != nil {
			return err
		}
		line, err = readLine(br)
		if err != nil {
			return err
		}
		if err := send(line); err != nil {
			return err
		}
	}
}
