// Package proxy is a TCP and HTTP fault proxy: it sits between a client and
// the service it depends on, and injects latency, bandwidth limits, hangs,
// resets, refused connections and HTTP errors, switched on and off while
// traffic flows.
//
// A direction with no fault costs nothing beyond io.Copy between the two TCP
// connections, which Linux turns into splice(2); adding a fault interrupts
// that copy with a read deadline and the bytes continue on a path that
// applies the fault, in order and without loss.
package proxy

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Config describes one proxy.
type Config struct {
	// Name identifies the proxy in a Registry and in the control API.
	Name string
	// Listen is the address to accept clients on; port 0 picks a free one.
	Listen string
	// Upstream is the address of the service behind the proxy.
	Upstream string
	// Protocol is "tcp" (the default when empty) or "http"; HTTP faults
	// need "http".
	Protocol string
	// DialTimeout bounds connecting to Upstream; zero means 5 seconds.
	DialTimeout time.Duration

	// ListenFunc, when set, opens the listener in place of a listen on
	// Listen in this process's network namespace: a transparent proxy
	// listens inside the namespace of the target it intercepts. It is
	// called with Listen at Start, and with the address the proxy got
	// when it listens again after a down fault. Its listener must accept
	// *net.TCPConn.
	ListenFunc func(ctx context.Context, addr string) (net.Listener, error)
	// DialFunc, when set, connects a client's connection to its upstream
	// in place of dialing Upstream: a transparent proxy dials the address
	// the client meant to reach. Its context ends after DialTimeout.
	DialFunc func(ctx context.Context, client *net.TCPConn) (*net.TCPConn, error)
}

// Validate checks the protocol and that both addresses are HOST:PORT with
// a port number (0 to 65535) or a service name such as http. Errors name
// the field: listen "...": ...
func (c Config) Validate() error {
	for _, f := range []struct{ name, addr string }{{"listen", c.Listen}, {"upstream", c.Upstream}} {
		if f.name == "upstream" && f.addr == "" && c.DialFunc != nil {
			continue
		}
		_, port, err := net.SplitHostPort(f.addr)
		if err != nil {
			return fmt.Errorf("%s %q: %v", f.name, f.addr, err)
		}
		if _, err := net.LookupPort("tcp", port); err != nil {
			return fmt.Errorf("%s %q: port %q is not a port number", f.name, f.addr, port)
		}
	}
	if c.Protocol != "" && c.Protocol != "tcp" && c.Protocol != "http" {
		return fmt.Errorf("protocol %q: use tcp or http", c.Protocol)
	}
	return nil
}

// IsLoopback reports whether host (without a port; IPv6 with or without
// brackets) is a loopback address or localhost.
func IsLoopback(host string) bool {
	if strings.EqualFold(strings.TrimSuffix(host, "."), "localhost") {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}

// Proxy forwards connections from Listen to Upstream, applying its faults.
// Its methods are safe for concurrent use.
type Proxy struct {
	cfg Config

	faults atomic.Pointer[faultSet]

	mu       sync.Mutex
	ln       net.Listener
	addr     string
	started  bool
	starting bool // Start is binding the address
	closed   bool
	// relistening is set while relisten retries to listen after a down
	// fault, because the port was taken in the meantime.
	relistening bool
	conns       map[*conn]struct{}
	nextID      int
	ctx         context.Context
	cancel      context.CancelFunc
	wg          sync.WaitGroup

	total, open        atomic.Int64
	bytesUp, bytesDown atomic.Int64
	// bytesRead counts what the proxy read while a fault shaped the
	// stream, held or dropped bytes included, which never count as sent.
	bytesRead             atomic.Int64
	requests, httpFaulted atomic.Int64
}

// faultSet is the immutable list of faults switched on; changed is closed
// when a newer set replaces it, which wakes everything waiting on a fault.
type faultSet struct {
	faults  []*active
	changed chan struct{}
}

type active struct {
	id        string
	fault     Fault
	seed      uint64
	threshold uint64 // a connection is hit when mix(seed) < threshold
	all       bool
	since     time.Time
	// hits counts what the fault acted on (see Hits).
	hits *atomic.Int64
}

// New returns a proxy for cfg; Start makes it listen.
func New(cfg Config) *Proxy {
	if cfg.Protocol == "" {
		cfg.Protocol = "tcp"
	}
	if cfg.DialTimeout == 0 {
		cfg.DialTimeout = 5 * time.Second
	}
	p := &Proxy{cfg: cfg, conns: make(map[*conn]struct{})}
	p.faults.Store(&faultSet{changed: make(chan struct{})})
	return p
}

// Name returns the configured name.
func (p *Proxy) Name() string { return p.cfg.Name }

// Start binds the listen address and starts accepting connections. ctx
// bounds the bind only; the proxy runs until Close.
func (p *Proxy) Start(ctx context.Context) error {
	if p.cfg.Protocol != "tcp" && p.cfg.Protocol != "http" {
		return fmt.Errorf("start proxy %q: protocol %q is not tcp or http", p.cfg.Name, p.cfg.Protocol)
	}
	if p.cfg.Upstream == "" && p.cfg.DialFunc == nil {
		return fmt.Errorf("start proxy %q: no upstream address", p.cfg.Name)
	}
	p.mu.Lock()
	switch {
	case p.closed:
		p.mu.Unlock()
		return fmt.Errorf("start proxy %q: closed", p.cfg.Name)
	case p.started || p.starting:
		p.mu.Unlock()
		return fmt.Errorf("start proxy %q: already started", p.cfg.Name)
	}
	p.starting = true
	p.mu.Unlock()
	// Not under the lock: resolving a host name in the address may take a
	// while, and Addr, Snapshot and Add must not wait for it.
	ln, err := p.listen(ctx, p.cfg.Listen)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.starting = false
	if err != nil {
		return fmt.Errorf("start proxy %q: %w", p.cfg.Name, err)
	}
	if p.closed {
		ln.Close()
		return fmt.Errorf("start proxy %q: closed", p.cfg.Name)
	}
	p.started = true
	p.addr = ln.Addr().String()
	p.ctx, p.cancel = context.WithCancel(context.Background())
	p.ln = ln
	p.wg.Add(1)
	go p.serve(ln)
	// Faults added before Start may already take the service down.
	return p.syncListenerLocked(p.faults.Load())
}

// Addr returns the address the proxy listens on, once started.
func (p *Proxy) Addr() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.addr
}

// Close stops accepting, closes every connection and waits until all the
// proxy's goroutines have ended. Faults stay listed.
func (p *Proxy) Close() error {
	p.mu.Lock()
	if p.closed || !p.started {
		p.closed = true
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	var err error
	if p.ln != nil {
		err = p.ln.Close()
		p.ln = nil
	}
	p.cancel()
	conns := make([]*conn, 0, len(p.conns))
	for c := range p.conns {
		conns = append(conns, c)
	}
	p.mu.Unlock()
	for _, c := range conns {
		c.close(false)
	}
	p.wg.Wait()
	if err != nil && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("close proxy %q: %w", p.cfg.Name, err)
	}
	return nil
}

func (p *Proxy) serve(ln net.Listener) {
	defer p.wg.Done()
	for {
		nc, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors and the like: back off instead of spinning.
			select {
			case <-time.After(10 * time.Millisecond):
				continue
			case <-p.ctx.Done():
				return
			}
		}
		c := newConn(p, nc.(*net.TCPConn))
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			nc.Close()
			return
		}
		p.conns[c] = struct{}{}
		p.wg.Add(1)
		p.mu.Unlock()
		p.total.Add(1)
		p.open.Add(1)
		go c.run()
	}
}

func (p *Proxy) untrack(c *conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
	p.open.Add(-1)
}

// MaxFaults is the most faults one proxy holds at once. Every connection
// weighs each of them when the set changes; a client adding faults in a
// loop gets an error instead of a proxy that slows to a crawl.
const MaxFaults = 100

// ErrTooManyFaults is returned by Add when the proxy holds MaxFaults.
var ErrTooManyFaults = fmt.Errorf("too many faults: a proxy holds %d at most", MaxFaults)

// Add switches a fault on, for open connections as well as new ones, and
// returns its id.
func (p *Proxy) Add(f Fault) (string, error) {
	a, err := p.newActive(f)
	if err != nil {
		return "", fmt.Errorf("add fault to proxy %q: %w", p.cfg.Name, err)
	}
	a.seed, a.since = rand.Uint64(), time.Now()
	p.mu.Lock()
	if len(p.faults.Load().faults) >= MaxFaults {
		p.mu.Unlock()
		return "", fmt.Errorf("add fault to proxy %q: %w", p.cfg.Name, ErrTooManyFaults)
	}
	p.nextID++
	a.id = f.Params.Kind() + "-" + strconv.Itoa(p.nextID)
	old := p.faults.Load()
	set := &faultSet{faults: append(old.faults[:len(old.faults):len(old.faults)], a), changed: make(chan struct{})}
	err = p.installLocked(old, set)
	p.mu.Unlock()
	if err != nil {
		return a.id, fmt.Errorf("add fault to proxy %q: %w", p.cfg.Name, err)
	}
	p.notify()
	return a.id, nil
}

// newActive checks f and returns the entry for it, holding a copy of its
// settings: the caller may reuse or change its own while connections read
// the proxy's.
func (p *Proxy) newActive(f Fault) (*active, error) {
	f.Params = cloneParams(f.Params)
	if err := validateFault(f, p.cfg.Protocol); err != nil {
		return nil, err
	}
	a := &active{fault: f, all: f.Percent == 0 || f.Percent == 1, hits: new(atomic.Int64)}
	a.threshold = uint64(f.Percent * (1 << 63) * 2)
	return a, nil
}

// Update replaces the settings of the fault with the given id, which keeps
// its id and its place. The connections it hit stay hit (a larger percent
// adds connections, a smaller one lets some go), byte counts such as
// limit_data's carry on, and a timeout's close_after counts again from
// the update. The kind may change too.
func (p *Proxy) Update(id string, f Fault) error {
	a, err := p.newActive(f)
	if err != nil {
		return fmt.Errorf("update fault %q of proxy %q: %w", id, p.cfg.Name, err)
	}
	p.mu.Lock()
	old := p.faults.Load()
	i := slices.IndexFunc(old.faults, func(o *active) bool { return o.id == id })
	if i < 0 {
		p.mu.Unlock()
		return fmt.Errorf("update fault %q of proxy %q: %w", id, p.cfg.Name, ErrNoFault)
	}
	a.id, a.seed, a.since, a.hits = id, old.faults[i].seed, old.faults[i].since, old.faults[i].hits
	faults := slices.Clone(old.faults)
	faults[i] = a
	err = p.installLocked(old, &faultSet{faults: faults, changed: make(chan struct{})})
	p.mu.Unlock()
	p.notify()
	if err != nil {
		return fmt.Errorf("update fault %q of proxy %q: %w", id, p.cfg.Name, err)
	}
	return nil
}

// Remove switches the fault with the given id off.
func (p *Proxy) Remove(id string) error {
	p.mu.Lock()
	old := p.faults.Load()
	faults := make([]*active, 0, len(old.faults))
	for _, a := range old.faults {
		if a.id != id {
			faults = append(faults, a)
		}
	}
	if len(faults) == len(old.faults) {
		p.mu.Unlock()
		return fmt.Errorf("remove fault %q from proxy %q: %w", id, p.cfg.Name, ErrNoFault)
	}
	set := &faultSet{faults: faults, changed: make(chan struct{})}
	err := p.installLocked(old, set)
	p.mu.Unlock()
	p.notify()
	if err != nil {
		return fmt.Errorf("remove fault %q from proxy %q: %w", id, p.cfg.Name, err)
	}
	return nil
}

// ErrNoFault is returned by Remove for an id the proxy does not have.
var ErrNoFault = errors.New("no such fault")

// Faults lists the faults switched on, oldest first.
func (p *Proxy) Faults() []FaultInfo {
	set := p.faults.Load()
	infos := make([]FaultInfo, 0, len(set.faults))
	for _, a := range set.faults {
		dir := a.fault.Direction
		if dir == "" {
			dir = Downstream
		}
		pct := a.fault.Percent
		if pct == 0 {
			pct = 1
		}
		infos = append(infos, FaultInfo{ID: a.id, Kind: a.fault.Params.Kind(), Direction: dir, Percent: pct, Params: cloneParams(a.fault.Params), Since: a.since})
	}
	return infos
}

func (p *Proxy) installLocked(old, set *faultSet) error {
	p.faults.Store(set)
	close(old.changed)
	if !p.started || p.closed {
		return nil
	}
	return p.syncListenerLocked(set)
}

// syncListenerLocked closes the listener while a down fault hits every new
// connection, so that clients get "connection refused", and opens it again
// on the same address once no such fault is left.
func (p *Proxy) syncListenerLocked(set *faultSet) error {
	refuse := refuses(set)
	switch {
	case refuse && p.ln != nil:
		err := p.ln.Close()
		p.ln = nil
		if err != nil && !errors.Is(err, net.ErrClosed) {
			return fmt.Errorf("stop listening: %w", err)
		}
	case !refuse && p.ln == nil && !p.relistening:
		if err := p.listenLocked(); err != nil {
			// Someone else took the port while the proxy refused
			// connections. The fault is off all the same; the proxy
			// listens again as soon as the port is free.
			p.relistening = true
			p.wg.Add(1)
			go p.relisten()
		}
	}
	return nil
}

// refuses reports whether a down fault in set hits every new connection.
func refuses(set *faultSet) bool {
	for _, a := range set.faults {
		if _, ok := a.fault.Params.(*Down); ok && a.all {
			return true
		}
	}
	return false
}

// listen opens a listener on addr, through ListenFunc when set.
func (p *Proxy) listen(ctx context.Context, addr string) (net.Listener, error) {
	if p.cfg.ListenFunc != nil {
		return p.cfg.ListenFunc(ctx, addr)
	}
	var lc net.ListenConfig
	return lc.Listen(ctx, "tcp", addr)
}

// dial connects the upstream of client, through DialFunc when set.
func (p *Proxy) dial(ctx context.Context, client *net.TCPConn) (*net.TCPConn, error) {
	if p.cfg.DialFunc != nil {
		ctx, cancel := context.WithTimeout(ctx, p.cfg.DialTimeout)
		defer cancel()
		return p.cfg.DialFunc(ctx, client)
	}
	d := net.Dialer{Timeout: p.cfg.DialTimeout}
	nc, err := d.DialContext(ctx, "tcp", p.cfg.Upstream)
	if err != nil {
		return nil, err
	}
	return nc.(*net.TCPConn), nil
}

func (p *Proxy) listenLocked() error {
	ln, err := p.listen(p.ctx, p.addr)
	if err != nil {
		return err
	}
	p.ln = ln
	p.wg.Add(1)
	go p.serve(ln)
	return nil
}

// relisten tries to listen on the proxy's address again every 50 ms, until
// it can, a down fault makes that moot, or the proxy closes.
func (p *Proxy) relisten() {
	defer p.wg.Done()
	for {
		select {
		case <-time.After(50 * time.Millisecond):
		case <-p.ctx.Done():
		}
		p.mu.Lock()
		if p.closed || p.ln != nil || refuses(p.faults.Load()) || p.listenLocked() == nil {
			p.relistening = false
			p.mu.Unlock()
			return
		}
		p.mu.Unlock()
	}
}

// notify makes open connections act on the current fault set:
// whole-connection faults fire and pipes in the middle of a copy are
// interrupted so that they pick up the new faults.
func (p *Proxy) notify() {
	p.mu.Lock()
	conns := make([]*conn, 0, len(p.conns))
	for c := range p.conns {
		conns = append(conns, c)
	}
	p.mu.Unlock()
	var kicked []kick
	for _, c := range conns {
		kicked = c.update(kicked)
	}
	settle(kicked)
}

// Snapshot is the state of a proxy at one moment, for a control API.
type Snapshot struct {
	Name     string      `json:"name"`
	Listen   string      `json:"listen"`
	Upstream string      `json:"upstream"`
	Protocol string      `json:"protocol"`
	Stats    Stats       `json:"stats"`
	Faults   []FaultInfo `json:"faults"`
}

// Stats counts what went through a proxy. On Linux the bytes of open
// connections are counted as they go; elsewhere the bytes a connection
// moves while no fault acts on it are counted when it closes or a fault
// starts to act on it.
type Stats struct {
	ConnectionsTotal int64 `json:"connections_total"`
	ConnectionsOpen  int64 `json:"connections_open"`
	BytesUpstream    int64 `json:"bytes_upstream"`
	BytesDownstream  int64 `json:"bytes_downstream"`
	// Requests and RequestsFaulted are counted by HTTP proxies only.
	Requests        int64 `json:"requests"`
	RequestsFaulted int64 `json:"requests_faulted"`
}

// Snapshot returns the configuration, counters and faults of the proxy.
func (p *Proxy) Snapshot() Snapshot {
	listen := p.Addr()
	if listen == "" {
		listen = p.cfg.Listen
	}
	// The counters first: a copy that ends in between is then missed for
	// a moment rather than counted twice.
	up, down := p.bytesUp.Load(), p.bytesDown.Load()
	cu, cd := p.copying()
	return Snapshot{
		Name:     p.cfg.Name,
		Listen:   listen,
		Upstream: p.cfg.Upstream,
		Protocol: p.cfg.Protocol,
		Stats: Stats{
			ConnectionsTotal: p.total.Load(),
			ConnectionsOpen:  p.open.Load(),
			BytesUpstream:    up + cu,
			BytesDownstream:  down + cd,
			Requests:         p.requests.Load(),
			RequestsFaulted:  p.httpFaulted.Load(),
		},
		Faults: p.Faults(),
	}
}

// Hits says whether the fault with the given id has acted on anything so
// far, where the proxy counts it: an HTTP fault counts the requests it
// acted on, a fault that hits a share of the connections (percent) the
// connections it picked, each once. ok is false for an id the proxy does not have, or a
// fault on every connection (Traffic tells whether it met any).
func (p *Proxy) Hits(id string) (n int64, ok bool) {
	for _, a := range p.faults.Load().faults {
		if a.id != id {
			continue
		}
		if _, http := a.fault.Params.(httpParams); http || !a.all {
			return a.hits.Load(), true
		}
	}
	return 0, false
}

// Traffic is a count that grows with every request and byte that goes
// through the proxy, and, with conns, every connection it accepts: two
// equal readings mean nothing went through in between. A connection that
// carries nothing is no traffic for a fault that acts on the bytes (an
// idle one, a client's spare), and is for one that acts on connections
// (ConnectionLevel).
func (p *Proxy) Traffic(conns bool) int64 {
	st := p.Snapshot().Stats
	n := st.Requests + st.BytesUpstream + st.BytesDownstream + p.bytesRead.Load()
	if conns {
		n += st.ConnectionsTotal
	}
	return n
}

// ConnectionLevel reports whether a fault of these settings acts on
// connections themselves, not only on the bytes they carry: it refuses,
// resets or closes them, or delays their dial.
func ConnectionLevel(params Params) bool {
	switch f := params.(type) {
	case *Down, *Reset, *SlowClose:
		return true
	case *Latency:
		return f.Connect > 0
	case *Timeout:
		return f.CloseAfter > 0
	}
	return false
}

// copying adds up what the fast-path copies in progress have moved so far,
// in each direction.
func (p *Proxy) copying() (up, down int64) {
	p.mu.Lock()
	conns := make([]*conn, 0, len(p.conns))
	for c := range p.conns {
		conns = append(conns, c)
	}
	p.mu.Unlock()
	for _, c := range conns {
		c.mu.Lock()
		links := c.links
		c.mu.Unlock()
		if l := links[0]; l != nil {
			up += l.copying()
		}
		if l := links[1]; l != nil {
			down += l.copying()
		}
	}
	return up, down
}
