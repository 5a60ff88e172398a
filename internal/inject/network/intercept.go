package network

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"github.com/google/nftables"
	mdnetlink "github.com/mdlayher/netlink"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/gamedayhq/chaos/internal/inject/proxy"
)

// Intercept sends the target's new TCP connections to a dependency (Host
// and Port) through the fault proxy, so that every proxy fault (latency,
// bandwidth, timeout, reset, down, slicer, the HTTP faults...) acts on a
// target that talks to the dependency's real address. Nothing is rewired:
// an nftables rule in the target's namespace redirects the connections to
// a listener that this process opened in that namespace; the proxy learns
// the address each client meant and connects to it with marked sockets,
// which the rule lets pass.
//
// The rule is there only while at least one proxy fault is on: with none,
// traffic goes direct. Only the first packet of a connection is
// redirected, so a connection opened before the first fault stays direct
// (redirecting its later packets would reset it) unless CutEstablished,
// which cuts those connections (the application sees ECONNABORTED) so
// that their clients reconnect through the proxy. Removing the last fault
// lets new connections go direct at once; the ones the proxy carries stay
// on it, fault-free, until their clients close them, and the rules go
// when the last one has. Removing the rules while the proxy still
// carried connections would reset them.
type Intercept struct {
	Filter `yaml:",inline"`
	// HTTP makes the proxy parse HTTP, for the HTTP faults.
	HTTP bool `yaml:"http" json:"http,omitempty" doc:"make the proxy parse HTTP, for the HTTP faults"`
	// CutEstablished cuts the target's open connections to the dependency
	// when a proxy fault goes on, so that it reaches them too.
	CutEstablished bool `yaml:"cut_established" json:"cut_established,omitempty" doc:"cut the target's open connections to the dependency when the fault goes on, so that it reaches them too"`
}

// Kind returns "intercept".
func (*Intercept) Kind() string { return "intercept" }

// Validate requires a host or a port, and refuses what the proxy decides
// per connection or does not do.
func (f *Intercept) Validate() error {
	_, err := f.selector()
	return err
}

func (f *Intercept) selector() (selector, error) {
	s, err := f.compile(Egress)
	switch {
	case err != nil:
		return s, err
	case f.Host == "" && s.port == 0:
		return s, errors.New("host or port is required: the dependency whose connections go through the proxy")
	case f.Protocol != "" && !strings.EqualFold(f.Protocol, "tcp"):
		return s, fmt.Errorf("protocol %q: the proxy carries tcp only", f.Protocol)
	case s.dir != Egress:
		return s, fmt.Errorf("direction %s: intercept takes the connections the target opens (egress)", s.dir)
	case f.Percent != nil:
		return s, errors.New("percent does not apply to intercept: each proxy fault has its own")
	}
	s.protos = []uint8{unix.IPPROTO_TCP}
	return s, nil
}

// Mark is the socket mark of the proxy's upstream connections: the
// redirect lets them pass.
const Mark = 0xc4a05

// Chains of an intercept's table. Detaching is one flush of the redirect
// chain; the nat base chain and the conntrack rule stay while the proxy
// carries connections: the translation of those connections needs the
// hook, and conntrack (which a ct expression keeps on) would otherwise
// stop applying it once the last NAT rule went.
const (
	redirectChain = "redirect"
	keepChain     = "keep"
	// directChain counts the packets the target sends to the dependency
	// on connections that do not go through the proxy: those open
	// before the redirect went in, which the fault never meets.
	directChain = "direct"
)

func (f *Intercept) build(b *build) error {
	s, err := f.selector()
	if err != nil {
		return err
	}
	b.intercept = f
	for _, fam := range s.families() {
		b.tables.add(fam, keepHook, counted(ctEstablished(rule{})))
	}
	for _, fam := range s.families() {
		b.tables.add(fam, directHook, ret(markIs(rule{}, Mark)))
	}
	for _, m := range s.matches(rule{}, Egress) {
		// At this hook a proxied connection's packets have the proxy's
		// address already; the dependency's are the direct ones.
		b.tables.add(m.fam, directHook, counted(ctEstablished(m.rule)))
	}
	redirectRules(s, b.port, func(fam family, r rule) { b.tables.add(fam, redirectHook, r) })
	return nil
}

var (
	keepHook     = hook{keepChain, nftables.ChainHookOutput, nftables.ChainPriorityFilter, nftables.ChainTypeFilter}
	directHook   = hook{directChain, nftables.ChainHookOutput, nftables.ChainPriorityFilter, nftables.ChainTypeFilter}
	redirectHook = hook{redirectChain, nftables.ChainHookOutput, nftables.ChainPriorityNATDest, nftables.ChainTypeNAT}
)

// redirectRules gives add the rules of the redirect chain of each family:
// the proxy's own connections pass, and the first packet (SYN) of others
// to the dependency goes to the proxy's port (on 127.0.0.1 or ::1).
func redirectRules(s selector, port uint16, add func(family, rule)) {
	for _, fam := range s.families() {
		add(fam, ret(markIs(rule{}, Mark)))
	}
	for _, m := range s.matches(rule{}, Egress) {
		add(m.fam, redirectTo(synOnly(m.rule), port))
	}
}

// Interception is an intercept in place: a proxy that listens in the
// target's namespace, and rules that send connections to it while it has
// a fault. Its methods are safe for concurrent use.
type Interception struct {
	rec Record
	set *Intercept
	sel selector

	mu sync.Mutex
	px *proxy.Proxy
	// attached is set while the redirect rule is in; installed while the
	// table is.
	attached, installed bool
	faults              int
	closed              bool
	// cutCount is how many connections attach cut, in all.
	cutCount int
	// bypassed is how many packets the target sent to the dependency on
	// connections outside the proxy while the redirect was in, up to
	// its last detach; directBase is the direct chain's count when the
	// redirect last went in.
	bypassed, directBase int64
	reap                 context.CancelFunc
	reapers              sync.WaitGroup

	// upstreams are the local addresses of the proxy's own connections to
	// the dependency, which Cut leaves alone.
	upMu      sync.Mutex
	upstreams map[netip.AddrPort]bool
}

func startInterception(rec Record, set *Intercept) (*Interception, error) {
	sel, err := set.selector()
	if err != nil {
		return nil, err
	}
	// Fail now rather than at the first fault if the namespace is gone.
	f, err := rec.Namespace.open()
	if err != nil {
		return nil, err
	}
	f.Close()
	ic := &Interception{rec: rec, set: set, sel: sel, upstreams: map[netip.AddrPort]bool{}}
	if err := live.add(ic); err != nil {
		return nil, err
	}
	return ic, nil
}

// live are the intercepts of this process that are not closed, by
// namespace. A connection goes through one proxy only: the redirect that
// meets it first takes it, and the proxy's own connection is let pass by
// every intercept's rules. Of two intercepts of the same connections, the
// later would take them all and the earlier one's fault meet none,
// unseen; so a second one is refused while the first is on.
var live = &interceptions{by: map[uint64][]*Interception{}}

type interceptions struct {
	mu sync.Mutex
	by map[uint64][]*Interception
}

func (l *interceptions) add(ic *Interception) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	ino := ic.rec.Namespace.Inode
	for _, o := range l.by[ino] {
		if o.sel.overlaps(ic.sel) {
			return fmt.Errorf("its connections are intercepted already in this namespace, by %s (%s): a connection goes through one proxy only, so one of the two faults would meet none; end that one first, or give each intercept a dependency of its own", o.rec.Table, o.set.dependency())
		}
	}
	l.by[ino] = append(l.by[ino], ic)
	return nil
}

func (l *interceptions) remove(ic *Interception) {
	l.mu.Lock()
	defer l.mu.Unlock()
	ino := ic.rec.Namespace.Inode
	l.by[ino] = slices.DeleteFunc(l.by[ino], func(o *Interception) bool { return o == ic })
	if len(l.by[ino]) == 0 {
		delete(l.by, ino)
	}
}

// dependency names the connections an intercept takes, for people.
func (f *Intercept) dependency() string {
	host := f.Host
	if host == "" {
		host = "any host"
	}
	if f.Port == 0 {
		return host + ", any port"
	}
	return fmt.Sprintf("%s, port %d", host, f.Port)
}

// overlaps reports whether a connection could be selected by both s and
// o: their ports and their networks meet (none: any address).
func (s selector) overlaps(o selector) bool {
	if s.port != 0 && o.port != 0 && s.port != o.port {
		return false
	}
	if len(s.prefixes) == 0 || len(o.prefixes) == 0 {
		return true
	}
	for _, p := range s.prefixes {
		if slices.ContainsFunc(o.prefixes, p.Overlaps) {
			return true
		}
	}
	return false
}

// met is how much the intercept met: the open connections it cut, and
// what its faults acted on. When each of them counts that (an HTTP fault
// the requests it matched, a fault on a share of the connections those it
// picked), their counts; else the requests and bytes through its proxy (a
// connection that carries nothing meets no fault on the bytes), and for a
// fault on connections themselves (a down refuses them before the proxy
// sees them) the connections the redirect sent to the proxy.
func (ic *Interception) met() int64 {
	ic.mu.Lock()
	defer ic.mu.Unlock()
	n := int64(ic.cutCount)
	if ic.px == nil {
		return n
	}
	var hits int64
	faults := ic.px.Faults()
	counted, conns := len(faults) > 0, false
	for _, f := range faults {
		h, ok := ic.px.Hits(f.ID)
		counted = counted && ok
		hits += h
		conns = conns || proxy.ConnectionLevel(f.Params)
	}
	if counted {
		return n + hits
	}
	n += ic.px.Traffic(false)
	if conns {
		if redirected, err := countRules(ic.rec, func(chain string) bool { return chain == redirectChain }); err == nil {
			n += redirected
		}
	}
	return n
}

// Proxy returns the proxy, nil before the first fault.
func (ic *Interception) Proxy() *proxy.Proxy {
	ic.mu.Lock()
	defer ic.mu.Unlock()
	return ic.px
}

// Add switches a proxy fault on for the intercepted connections, and
// puts the redirect in if it is the only one. It returns the fault's id.
func (ic *Interception) Add(ctx context.Context, f proxy.Fault) (string, error) {
	ic.mu.Lock()
	defer ic.mu.Unlock()
	if ic.closed {
		return "", errors.New("add a fault to an intercept that is reverted")
	}
	if ic.px == nil {
		if err := ic.startProxy(ctx); err != nil {
			return "", err
		}
	}
	id, err := ic.px.Add(f)
	if err != nil {
		return "", err
	}
	ic.faults++
	if !ic.attached {
		if err := ic.attach(); err != nil {
			_ = ic.px.Remove(id)
			ic.faults--
			return "", err
		}
	}
	return id, nil
}

// Update changes the settings of a fault that Add returned.
func (ic *Interception) Update(id string, f proxy.Fault) error {
	ic.mu.Lock()
	defer ic.mu.Unlock()
	if ic.px == nil {
		return fmt.Errorf("update fault %q: %w", id, proxy.ErrNoFault)
	}
	return ic.px.Update(id, f)
}

// Remove switches a proxy fault off; with the last one, new connections
// go direct again.
func (ic *Interception) Remove(ctx context.Context, id string) error {
	ic.mu.Lock()
	defer ic.mu.Unlock()
	if ic.px == nil {
		return fmt.Errorf("remove fault %q: %w", id, proxy.ErrNoFault)
	}
	if err := ic.px.Remove(id); err != nil {
		return err
	}
	ic.faults--
	if ic.faults == 0 {
		return ic.detach()
	}
	return nil
}

func (ic *Interception) startProxy(ctx context.Context) error {
	proto := "tcp"
	if ic.set.HTTP {
		proto = "http"
	}
	px := proxy.New(proxy.Config{
		Name:       ic.rec.Table,
		Listen:     "127.0.0.1:0",
		Protocol:   proto,
		ListenFunc: ic.listen,
		DialFunc:   ic.dial,
	})
	if err := px.Start(ctx); err != nil {
		return err
	}
	ic.px = px
	return nil
}

// listen opens the proxy's listener on the target's loopback, where the
// redirect sends connections: on 127.0.0.1, and on ::1 with the same port
// when the intercept takes IPv6 connections too (a namespace without
// IPv6 has no ::1, and no IPv6 connection to redirect).
func (ic *Interception) listen(ctx context.Context, addr string) (net.Listener, error) {
	var ln net.Listener
	err := ic.rec.Namespace.Do(func() error {
		var lc net.ListenConfig
		if !slices.Contains(ic.sel.families(), v6) {
			var err error
			ln, err = lc.Listen(ctx, "tcp4", addr)
			return err
		}
		// With port 0, the port 127.0.0.1 got may be taken on ::1: try
		// another.
		var err error
		for try := 0; try < 20; try++ {
			var l4, l6 net.Listener
			if l4, err = lc.Listen(ctx, "tcp4", addr); err != nil {
				return err
			}
			_, port, _ := net.SplitHostPort(l4.Addr().String())
			l6, err = lc.Listen(ctx, "tcp6", net.JoinHostPort("::1", port))
			switch {
			case err == nil:
				ln = newPairListener(l4, l6)
				return nil
			case errors.Is(err, unix.EADDRNOTAVAIL):
				ln = l4
				return nil
			}
			l4.Close()
			if !strings.HasSuffix(addr, ":0") || !errors.Is(err, unix.EADDRINUSE) {
				return err
			}
		}
		return err
	})
	return ln, err
}

// pairListener accepts the connections of two listeners (the proxy's on
// 127.0.0.1 and on ::1) as one; its address is the first one's.
type pairListener struct {
	lns   [2]net.Listener
	conns chan net.Conn
	errc  chan error
	done  chan struct{}
	once  sync.Once
	wg    sync.WaitGroup
}

func newPairListener(a, b net.Listener) *pairListener {
	p := &pairListener{lns: [2]net.Listener{a, b}, conns: make(chan net.Conn), errc: make(chan error), done: make(chan struct{})}
	for _, ln := range p.lns {
		p.wg.Add(1)
		go p.accept(ln)
	}
	return p
}

// accept hands ln's connections and errors to Accept, until the pair
// closes or ln does.
func (p *pairListener) accept(ln net.Listener) {
	defer p.wg.Done()
	for {
		c, err := ln.Accept()
		if err != nil {
			select {
			case p.errc <- err:
			case <-p.done:
				return
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		select {
		case p.conns <- c:
		case <-p.done:
			c.Close()
			return
		}
	}
}

// Accept returns the next connection of either listener, or an error one
// of them met (out of file descriptors and the like: the proxy backs off
// and accepts again).
func (p *pairListener) Accept() (net.Conn, error) {
	select {
	case <-p.done:
		return nil, net.ErrClosed
	default:
	}
	select {
	case c := <-p.conns:
		return c, nil
	case err := <-p.errc:
		return nil, err
	case <-p.done:
		return nil, net.ErrClosed
	}
}

// Close closes both listeners and waits for their accept loops.
func (p *pairListener) Close() error {
	var err error
	p.once.Do(func() {
		close(p.done)
		err = errors.Join(p.lns[0].Close(), p.lns[1].Close())
		p.wg.Wait()
	})
	return err
}

func (p *pairListener) Addr() net.Addr { return p.lns[0].Addr() }

// dial connects to where client meant to go, from the target's namespace,
// with a socket marked so that the redirect lets it pass.
func (ic *Interception) dial(ctx context.Context, client *net.TCPConn) (*net.TCPConn, error) {
	dst, err := originalDst(client)
	if err != nil {
		return nil, err
	}
	var c net.Conn
	err = ic.rec.Namespace.Do(func() (err error) {
		d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
			var serr error
			if err := rc.Control(func(fd uintptr) {
				serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_MARK, Mark)
			}); err != nil {
				return err
			}
			return serr
		}}
		c, err = d.DialContext(ctx, "tcp", dst.String())
		return err
	})
	if err != nil {
		return nil, err
	}
	if ap, err := netip.ParseAddrPort(c.LocalAddr().String()); err == nil {
		ic.upMu.Lock()
		ic.upstreams[ap] = true
		ic.upMu.Unlock()
	}
	return c.(*net.TCPConn), nil
}

// originalDst is the address a redirected connection was opened to
// (SO_ORIGINAL_DST, or IP6T_SO_ORIGINAL_DST of the same number for IPv6,
// from conntrack's NAT).
func originalDst(c *net.TCPConn) (netip.AddrPort, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return netip.AddrPort{}, err
	}
	six := false
	if a, ok := c.LocalAddr().(*net.TCPAddr); ok && a.IP.To4() == nil {
		six = true
	}
	var sa4 unix.RawSockaddrInet4
	var sa6 unix.RawSockaddrInet6
	level, ptr, size := unix.SOL_IP, unsafe.Pointer(&sa4), uint32(unsafe.Sizeof(sa4))
	if six {
		level, ptr, size = unix.SOL_IPV6, unsafe.Pointer(&sa6), uint32(unsafe.Sizeof(sa6))
	}
	var serr error
	err = rc.Control(func(fd uintptr) {
		_, _, e := unix.Syscall6(unix.SYS_GETSOCKOPT, fd, uintptr(level), unix.SO_ORIGINAL_DST,
			uintptr(ptr), uintptr(unsafe.Pointer(&size)), 0)
		if e != 0 {
			serr = e
		}
	})
	if err == nil {
		err = serr
	}
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("original destination of %s: %w", c.RemoteAddr(), err)
	}
	if six {
		return netip.AddrPortFrom(netip.AddrFrom16(sa6.Addr), ntohs(sa6.Port)), nil
	}
	return netip.AddrPortFrom(netip.AddrFrom4(sa4.Addr), ntohs(sa4.Port)), nil
}

// ntohs reads a port kept in network order in a struct of host order.
func ntohs(p uint16) uint16 { return p>>8 | p&0xff<<8 }

func (ic *Interception) port() uint16 {
	ap, err := netip.ParseAddrPort(ic.px.Addr())
	if err != nil {
		return 0
	}
	return ap.Port()
}

// attach puts the redirect in, with the table around it if needed, as one
// batch; then cuts the open connections if asked.
func (ic *Interception) attach() error {
	ic.stopReaper()
	port := ic.port()
	err := ic.rec.Namespace.nft(func(c *nftables.Conn) error {
		if ic.installed {
			redirectRules(ic.sel, port, func(fam family, r rule) {
				tb := &nftables.Table{Family: fam.table(), Name: ic.rec.Table}
				c.AddRule(&nftables.Rule{Table: tb, Chain: &nftables.Chain{Name: redirectChain, Table: tb}, Exprs: r.exprs})
			})
		} else {
			b := &build{table: ic.rec.Table, port: port}
			if err := ic.set.build(b); err != nil {
				return err
			}
			b.tables.queue(c, ic.rec.Table, nil)
		}
		if err := c.Flush(); err != nil {
			return fmt.Errorf("install the redirect of %s: %w", ic.rec.Table, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	ic.attached, ic.installed = true, true
	if ic.set.CutEstablished {
		n, err := ic.cut()
		ic.cutCount += n
		if err != nil {
			return err
		}
	}
	ic.directBase = ic.direct()
	return nil
}

// direct is the direct chain's count of packets to the dependency outside
// the proxy, 0 if it cannot read it.
func (ic *Interception) direct() int64 {
	n, err := countRules(ic.rec, func(chain string) bool { return chain == directChain })
	if err != nil {
		return 0
	}
	return n
}

// Bypassed returns how many packets the target sent to the dependency
// while the redirect was in on connections that did not go through the
// proxy: those open before it went in, which no proxy fault meets.
func (ic *Interception) Bypassed() int64 {
	ic.mu.Lock()
	defer ic.mu.Unlock()
	n := ic.bypassed
	if ic.attached {
		n += max(ic.direct()-ic.directBase, 0)
	}
	return n
}

// CutCount returns how many open connections the intercept has cut when
// its redirect went in (with CutEstablished), in all.
func (ic *Interception) CutCount() int {
	ic.mu.Lock()
	defer ic.mu.Unlock()
	return ic.cutCount
}

// detach takes the redirect out (one batch): new connections go direct.
// The table stays until the proxy carries no connection. When the
// intercept closes, the redirect is bypassed rather than deleted, since
// it never comes back (see bypass); otherwise attach appends it again.
func (ic *Interception) detach() error {
	if !ic.attached {
		return nil
	}
	ic.bypassed += max(ic.direct()-ic.directBase, 0)
	err := ic.rec.Namespace.nft(func(c *nftables.Conn) error {
		for _, fam := range ic.sel.families() {
			chain := &nftables.Chain{Name: redirectChain, Table: &nftables.Table{Family: fam.table(), Name: ic.rec.Table}}
			if ic.closed {
				bypass(c, chain)
			} else {
				c.FlushChain(chain)
			}
		}
		if err := c.Flush(); err != nil {
			return fmt.Errorf("take the redirect of %s out: %w", ic.rec.Table, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	ic.attached = false
	if !ic.closed {
		ctx, cancel := context.WithCancel(context.Background())
		ic.reap = cancel
		ic.reapers.Add(1)
		go ic.reaper(ctx)
	}
	return nil
}

// reaper deletes the table once the proxy carries no connection, unless
// the redirect went back in meanwhile.
func (ic *Interception) reaper(ctx context.Context) {
	defer ic.reapers.Done()
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		ic.mu.Lock()
		if ic.attached || !ic.installed || ctx.Err() != nil {
			ic.mu.Unlock()
			return
		}
		if ic.px.Snapshot().Stats.ConnectionsOpen == 0 {
			if Revert(ctx, ic.rec) == nil {
				ic.installed = false
			}
			ic.mu.Unlock()
			return
		}
		ic.mu.Unlock()
	}
}

// stopReaper ends the reaper, if one runs; called with ic.mu held, so it
// must not wait for a reaper that waits for the lock: the reaper checks
// its context after it gets the lock.
func (ic *Interception) stopReaper() {
	if ic.reap == nil {
		return
	}
	ic.reap()
	ic.reap = nil
}

// close ends the intercept: the redirect goes, the proxy ends the
// connections it carries (with a FIN: a client sees the end of the
// stream, as when a server closes an idle connection), and the table goes.
func (ic *Interception) close(ctx context.Context) error {
	ic.mu.Lock()
	if ic.closed {
		ic.mu.Unlock()
		return nil
	}
	ic.closed = true
	live.remove(ic)
	err := ic.detach()
	ic.stopReaper()
	px := ic.px
	ic.mu.Unlock()
	ic.reapers.Wait()
	if px != nil {
		err = errors.Join(err, px.Close())
	}
	return errors.Join(err, Revert(ctx, ic.rec))
}

// Cut destroys the target's open connections to the dependency that do
// not go through the proxy (SOCK_DESTROY through sock_diag): their
// applications see ECONNABORTED and, when they reconnect, go through the
// proxy while a fault is on. It returns how many it cut.
func (ic *Interception) Cut() (int, error) {
	ic.mu.Lock()
	defer ic.mu.Unlock()
	return ic.cut()
}

func (ic *Interception) cut() (int, error) {
	var proxyPort uint16
	if ic.px != nil {
		proxyPort = ic.port()
	}
	var victims []*netlink.Socket
	err := ic.rec.Namespace.netlink(func(h *netlink.Handle) error {
		var socks []*netlink.Socket
		for _, af := range []uint8{unix.AF_INET, unix.AF_INET6} {
			ss, err := h.SocketDiagTCP(af)
			if err != nil && !errors.Is(err, netlink.ErrDumpInterrupted) {
				return fmt.Errorf("list connections: %w", err)
			}
			socks = append(socks, ss...)
		}
		// The application's side of a proxied connection is the peer of
		// a connection the proxy accepted; the proxy's own connections to
		// the dependency are known by their local address.
		spare := map[netip.AddrPort]bool{}
		ic.upMu.Lock()
		for _, s := range socks {
			local := addrPort(s.ID.Source, s.ID.SourcePort)
			if proxyPort != 0 && s.ID.SourcePort == proxyPort {
				spare[addrPort(s.ID.Destination, s.ID.DestinationPort)] = true
			}
			if ic.upstreams[local] {
				spare[local] = true
			}
		}
		// Forget the upstream connections that are gone.
		for ap := range ic.upstreams {
			if !spare[ap] {
				delete(ic.upstreams, ap)
			}
		}
		ic.upMu.Unlock()
		for _, s := range socks {
			if s.State != tcpEstablished || spare[addrPort(s.ID.Source, s.ID.SourcePort)] ||
				!ic.sel.hits(s.ID.Destination, s.ID.DestinationPort) {
				continue
			}
			victims = append(victims, s)
		}
		return nil
	}, unix.NETLINK_INET_DIAG)
	if err != nil || len(victims) == 0 {
		return 0, err
	}
	return ic.rec.Namespace.destroyTCP(victims)
}

// destroyTCP ends the TCP connections socks in the namespace (SOCK_DESTROY
// of sock_diag): their applications see ECONNABORTED. It returns how many
// it ended; one that ended meanwhile counts. vishvananda/netlink's
// SocketDestroy takes IPv4 only, so the request is written here: a
// struct inet_diag_req_v2 of the socket's family (an IPv6 socket may be
// connected to an IPv4-mapped address), with its ports and addresses.
func (n Namespace) destroyTCP(socks []*netlink.Socket) (int, error) {
	f, err := n.open()
	if err != nil {
		return 0, err
	}
	defer f.Close()
	c, err := mdnetlink.Dial(unix.NETLINK_INET_DIAG, &mdnetlink.Config{NetNS: int(f.Fd())})
	if err != nil {
		return 0, fmt.Errorf("sock_diag in %s: %w", n, err)
	}
	defer c.Close()
	done := 0
	for _, s := range socks {
		req := make([]byte, 56)
		req[0], req[1] = s.Family, unix.IPPROTO_TCP
		binary.NativeEndian.PutUint32(req[4:], ^uint32(0)) // every state
		binary.BigEndian.PutUint16(req[8:], s.ID.SourcePort)
		binary.BigEndian.PutUint16(req[10:], s.ID.DestinationPort)
		src, dst := s.ID.Source.To16(), s.ID.Destination.To16()
		if s.Family == unix.AF_INET {
			src, dst = s.ID.Source.To4(), s.ID.Destination.To4()
		}
		copy(req[12:28], src)
		copy(req[28:44], dst)
		binary.NativeEndian.PutUint32(req[44:], s.ID.Interface)
		binary.NativeEndian.PutUint32(req[48:], ^uint32(0)) // no cookie
		binary.NativeEndian.PutUint32(req[52:], ^uint32(0))
		_, err := c.Execute(mdnetlink.Message{
			Header: mdnetlink.Header{Type: sockDestroy, Flags: mdnetlink.Request | mdnetlink.Acknowledge},
			Data:   req,
		})
		if err != nil && !errors.Is(err, unix.ENOENT) {
			return done, fmt.Errorf("cut %s -> %s: %w",
				net.JoinHostPort(s.ID.Source.String(), fmt.Sprint(s.ID.SourcePort)),
				net.JoinHostPort(s.ID.Destination.String(), fmt.Sprint(s.ID.DestinationPort)), err)
		}
		done++
	}
	return done, nil
}

// sockDestroy is SOCK_DESTROY, sock_diag's message that ends a socket.
const sockDestroy = 21

// tcpEstablished is TCP_ESTABLISHED in sock_diag's states.
const tcpEstablished = 1

// tcpListen is TCP_LISTEN of the kernel's TCP states.
const tcpListen = 10

func addrPort(ip net.IP, port uint16) netip.AddrPort {
	a, _ := netip.AddrFromSlice(ip)
	return netip.AddrPortFrom(a.Unmap(), port)
}

// hits reports whether a connection to ip:port is one s selects.
func (s selector) hits(ip net.IP, port uint16) bool {
	a, ok := netip.AddrFromSlice(ip)
	if !ok {
		return false
	}
	a = a.Unmap()
	return (len(s.prefixes) == 0 || slices.ContainsFunc(s.prefixes, func(p netip.Prefix) bool { return p.Contains(a) })) &&
		(s.port == 0 || s.port == port)
}
