package network

import (
	"context"
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
)

func (f *Intercept) build(b *build) error {
	s, err := f.selector()
	if err != nil {
		return err
	}
	b.intercept = f
	b.tables.chain(keepChain, nftables.ChainHookOutput, nftables.ChainPriorityFilter, nftables.ChainTypeFilter).rules =
		[]rule{counted(ctEstablished(rule{}))}
	c := b.tables.chain(redirectChain, nftables.ChainHookOutput, nftables.ChainPriorityNATDest, nftables.ChainTypeNAT)
	c.rules = redirectRules(s, b.port)
	return nil
}

// redirectRules are the rules of the redirect chain: the proxy's own
// connections pass, and the first packet (SYN) of others to the
// dependency goes to the proxy's port.
func redirectRules(s selector, port uint16) []rule {
	rules := []rule{ret(markIs(rule{}, Mark))}
	for _, m := range s.matches(rule{}, Egress) {
		rules = append(rules, redirectTo(synOnly(m.rule), port))
	}
	return rules
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
	reap     context.CancelFunc
	reapers  sync.WaitGroup

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
	return &Interception{rec: rec, set: set, sel: sel, upstreams: map[netip.AddrPort]bool{}}, nil
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
// redirect sends connections.
func (ic *Interception) listen(ctx context.Context, addr string) (net.Listener, error) {
	var ln net.Listener
	err := ic.rec.Namespace.Do(func() (err error) {
		var lc net.ListenConfig
		ln, err = lc.Listen(ctx, "tcp4", addr)
		return err
	})
	return ln, err
}

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
		c, err = d.DialContext(ctx, "tcp4", dst.String())
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
// (SO_ORIGINAL_DST, from conntrack's NAT).
func originalDst(c *net.TCPConn) (netip.AddrPort, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return netip.AddrPort{}, err
	}
	var sa unix.RawSockaddrInet4
	var serr error
	err = rc.Control(func(fd uintptr) {
		size := uint32(unsafe.Sizeof(sa))
		_, _, e := unix.Syscall6(unix.SYS_GETSOCKOPT, fd, unix.SOL_IP, unix.SO_ORIGINAL_DST,
			uintptr(unsafe.Pointer(&sa)), uintptr(unsafe.Pointer(&size)), 0)
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
	port := uint16(sa.Port>>8) | uint16(sa.Port&0xff)<<8 // network order in the struct
	return netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), port), nil
}

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
			tb := &nftables.Table{Family: nftables.TableFamilyIPv4, Name: ic.rec.Table}
			ch := &nftables.Chain{Name: redirectChain, Table: tb}
			for _, r := range redirectRules(ic.sel, port) {
				c.AddRule(&nftables.Rule{Table: tb, Chain: ch, Exprs: r.exprs})
			}
		} else {
			b := &build{table: ic.rec.Table, port: port}
			if err := ic.set.build(b); err != nil {
				return err
			}
			b.tables.add(c, ic.rec.Table, nil)
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
	return nil
}

// CutCount returns how many open connections the intercept has cut when
// its redirect went in (with CutEstablished), in all.
func (ic *Interception) CutCount() int {
	ic.mu.Lock()
	defer ic.mu.Unlock()
	return ic.cutCount
}

// detach takes the redirect out (one batch): new connections go direct.
// The table stays until the proxy carries no connection.
func (ic *Interception) detach() error {
	if !ic.attached {
		return nil
	}
	err := ic.rec.Namespace.nft(func(c *nftables.Conn) error {
		tb := &nftables.Table{Family: nftables.TableFamilyIPv4, Name: ic.rec.Table}
		c.FlushChain(&nftables.Chain{Name: redirectChain, Table: tb})
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
	n := 0
	err := ic.rec.Namespace.netlink(func(h *netlink.Handle) error {
		socks, err := h.SocketDiagTCP(unix.AF_INET)
		if err != nil && !errors.Is(err, netlink.ErrDumpInterrupted) {
			return fmt.Errorf("list connections: %w", err)
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
			local := &net.TCPAddr{IP: s.ID.Source, Port: int(s.ID.SourcePort)}
			remote := &net.TCPAddr{IP: s.ID.Destination, Port: int(s.ID.DestinationPort)}
			if err := h.SocketDestroy(local, remote); err != nil && !errors.Is(err, unix.ENOENT) {
				return fmt.Errorf("cut %s -> %s: %w", local, remote, err)
			}
			n++
		}
		return nil
	}, unix.NETLINK_INET_DIAG)
	return n, err
}

// tcpEstablished is TCP_ESTABLISHED in sock_diag's states.
const tcpEstablished = 1

func addrPort(ip net.IP, port uint16) netip.AddrPort {
	a, _ := netip.AddrFromSlice(ip.To4())
	return netip.AddrPortFrom(a, port)
}

// hits reports whether a connection to ip:port is one s selects.
func (s selector) hits(ip net.IP, port uint16) bool {
	a, ok := netip.AddrFromSlice(ip.To4())
	if !ok {
		return false
	}
	return (len(s.prefixes) == 0 || slices.ContainsFunc(s.prefixes, func(p netip.Prefix) bool { return p.Contains(a) })) &&
		(s.port == 0 || s.port == port)
}
