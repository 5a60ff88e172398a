package network

import (
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"syscall"

	"github.com/google/nftables"
	mdnetlink "github.com/mdlayher/netlink"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Namespace is the network namespace a fault acts in: a process's (the
// main process of a container, a local process), a named one (ip netns),
// or the host's own, which must be asked for explicitly. It is a value
// that can be written to a ledger: it holds the inode the namespace had
// when it was looked up, so that a namespace that replaced it since (a
// restarted container) is never taken for it.
//
// No file descriptor is kept open: each use opens the namespace, acts and
// closes it again, so that chaos never keeps a namespace alive after its
// container is gone.
type Namespace struct {
	// PID is the process whose namespace it is.
	PID int `json:"pid,omitempty"`
	// Path is a namespace file such as /run/netns/NAME.
	Path string `json:"path,omitempty"`
	// Host is the namespace chaos itself runs in.
	Host bool `json:"host,omitempty"`
	// Inode identifies the namespace (net:[INODE] in /proc/PID/ns/net).
	Inode uint64 `json:"inode"`
}

// ErrGone is returned when the namespace a fault went into no longer
// exists: its container stopped or restarted with a new one, and no
// process or bind mount is left in it.
// Everything a fault put into a namespace goes with it, so a fault whose
// namespace is gone counts as reverted.
var ErrGone = errors.New("network namespace is gone: no process is left in it (a container that stopped or restarted)")

// ProcessNamespace returns the namespace of the process pid.
func ProcessNamespace(pid int) (Namespace, error) {
	if pid <= 0 {
		return Namespace{}, fmt.Errorf("network namespace of pid %d: not a process id", pid)
	}
	n := Namespace{PID: pid}
	return n.lookup()
}

// NamedNamespace returns the namespace bound at path, such as
// /run/netns/NAME.
func NamedNamespace(path string) (Namespace, error) {
	if path == "" {
		return Namespace{}, errors.New("network namespace: empty path")
	}
	n := Namespace{Path: path}
	return n.lookup()
}

// HostNamespace returns the namespace chaos runs in.
func HostNamespace() (Namespace, error) {
	n := Namespace{Host: true}
	return n.lookup()
}

func (n Namespace) lookup() (Namespace, error) {
	var st unix.Stat_t
	if err := unix.Stat(n.file(), &st); err != nil {
		return Namespace{}, fmt.Errorf("network namespace of %s: %w", n, err)
	}
	n.Inode = st.Ino
	return n, nil
}

// file is the namespace file to open.
func (n Namespace) file() string {
	switch {
	case n.Host:
		// The process's namespace, which is the main thread's: chaos never
		// moves that thread (Do switches threads it then throws away).
		return "/proc/self/ns/net"
	case n.Path != "":
		return n.Path
	}
	return "/proc/" + strconv.Itoa(n.PID) + "/ns/net"
}

// String names the namespace for people: "pid 4242 (net:[4026532322])".
func (n Namespace) String() string {
	var s string
	switch {
	case n.Host:
		s = "the host namespace"
	case n.Path != "":
		s = n.Path
	default:
		s = "pid " + strconv.Itoa(n.PID)
	}
	if n.Inode != 0 {
		s += fmt.Sprintf(" (net:[%d])", n.Inode)
	}
	return s
}

// Validate checks that n names exactly one namespace and carries its
// inode, as a record read back from a ledger must.
func (n Namespace) Validate() error {
	count := 0
	if n.PID != 0 {
		count++
	}
	if n.Path != "" {
		count++
	}
	if n.Host {
		count++
	}
	switch {
	case count != 1:
		return errors.New("network namespace: give exactly one of pid, path and host")
	case n.PID < 0:
		return fmt.Errorf("network namespace: pid %d is not a process id", n.PID)
	case n.Inode == 0:
		return fmt.Errorf("network namespace %s: no inode recorded", n)
	}
	return nil
}

// open opens the namespace. When the process it was looked up through has
// ended, or its pid now belongs to a process elsewhere, the namespace is
// looked for through any process or bind mount still in it (a local
// process that ended leaves the host's namespace behind it, with the
// fault in it); found nowhere, it is gone (ErrGone), and so is the fault.
// The host's namespace is never gone: not finding it means this is not
// the machine (or container) the fault was applied from, an error.
func (n Namespace) open() (*os.File, error) {
	if err := n.Validate(); err != nil {
		return nil, err
	}
	f, err := openInode(n.file(), n.Inode)
	if err == nil || !errors.Is(err, errElsewhere) {
		return f, err
	}
	if f := findInode(n.Inode); f != nil {
		return f, nil
	}
	if n.Host {
		return nil, fmt.Errorf("the host namespace net:[%d] where the fault went is not here: act from where the run ran", n.Inode)
	}
	return nil, fmt.Errorf("%s: %w", n, ErrGone)
}

// errElsewhere is a namespace file that is missing or names another
// namespace.
var errElsewhere = errors.New("not there")

// openInode opens the namespace file path if it is the namespace ino.
func openInode(path string, ino uint64) (*os.File, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ESRCH) {
			return nil, errElsewhere
		}
		return nil, fmt.Errorf("open network namespace %s: %w", path, err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		f.Close()
		return nil, fmt.Errorf("open network namespace %s: %w", path, err)
	}
	if st.Ino != ino {
		f.Close()
		return nil, errElsewhere
	}
	return f, nil
}

// findInode looks for the namespace ino through chaos's own, every
// process's, and the bind mounts of ip netns and of Docker.
func findInode(ino uint64) *os.File {
	paths := []string{"/proc/self/ns/net"}
	for _, dir := range []string{"/run/netns", "/var/run/docker/netns"} {
		if es, err := os.ReadDir(dir); err == nil {
			for _, e := range es {
				paths = append(paths, filepath.Join(dir, e.Name()))
			}
		}
	}
	if es, err := os.ReadDir("/proc"); err == nil {
		for _, e := range es {
			if e.Name()[0] >= '1' && e.Name()[0] <= '9' {
				paths = append(paths, filepath.Join("/proc", e.Name(), "ns/net"))
			}
		}
	}
	for _, p := range paths {
		var st unix.Stat_t
		if unix.Stat(p, &st) != nil || st.Ino != ino {
			continue
		}
		if f, err := openInode(p, ino); err == nil {
			return f
		}
	}
	return nil
}

// Do runs fn on an OS thread switched into the namespace, for the
// sockets chaos makes there (the intercept's listener and its upstream
// connections, test clients): a socket belongs to the namespace of the
// thread that created it, and then serves any goroutine.
//
// The thread is locked for fn and never unlocked, so that the runtime
// throws it away when fn returns: no goroutine can ever run later on a
// thread left in the target's namespace. It is never the process's main
// thread, which the runtime keeps rather than throws away, and whose
// namespace is the host's for HostNamespace.
func (n Namespace) Do(fn func() error) error {
	f, err := n.open()
	if err != nil {
		return err
	}
	defer f.Close()
	errc := make(chan error, 1)
	go OffMainThread(func() {
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("enter network namespace %s: %w", n, err)
			return
		}
		errc <- fn()
	})
	return <-errc
}

// OffMainThread runs fn locked to an OS thread that is not the process's
// main thread, and leaves that thread locked, to be thrown away when the
// calling goroutine ends: for fn that switches the thread's namespace.
// Should the goroutine be on the main thread, it holds it while another
// goroutine, which then cannot be on it, runs fn.
func OffMainThread(fn func()) {
	runtime.LockOSThread()
	if unix.Gettid() != unix.Getpid() {
		fn()
		return
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		OffMainThread(fn)
	}()
	<-done
	runtime.UnlockOSThread()
}

// nft runs fn with an nftables connection whose netlink sockets are made
// inside the namespace.
func (n Namespace) nft(fn func(c *nftables.Conn) error) error {
	f, err := n.open()
	if err != nil {
		return err
	}
	defer f.Close()
	c, err := nftables.New(nftables.WithNetNSFd(int(f.Fd())), nftables.WithSockOptions(bigReadBuffer))
	if err != nil {
		return fmt.Errorf("nftables in %s: %w", n, err)
	}
	return fn(c)
}

// nftReadBuffer holds the kernel's acknowledgements of one batch: a fault
// with rules on each device of a namespace with many of them (the host's,
// with a veth per container) is acknowledged in more than the default
// buffer holds, and the batch fails with ENOBUFS.
const nftReadBuffer = 8 << 20

// bigReadBuffer gives a netlink socket nftReadBuffer, beyond the
// system's rmem_max when chaos may (CAP_NET_ADMIN), else as much as it
// allows.
func bigReadBuffer(c *mdnetlink.Conn) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return nil
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, nftReadBuffer)
		if serr != nil {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, nftReadBuffer)
		}
	}); err != nil {
		return nil
	}
	_ = serr // a smaller buffer still serves most namespaces
	return nil
}

// localAddrs lists the addresses of the namespace's devices: traffic to
// them stays on its loopback device.
func (n Namespace) localAddrs() ([]netip.Addr, error) {
	var out []netip.Addr
	err := n.netlink(func(h *netlink.Handle) error {
		as, err := dump(func() ([]netlink.Addr, error) { return h.AddrList(nil, netlink.FAMILY_ALL) })
		if err != nil {
			return fmt.Errorf("list addresses: %w", err)
		}
		for _, a := range as {
			if ip, ok := netip.AddrFromSlice(a.IP); ok {
				out = append(out, ip.Unmap())
			}
		}
		return nil
	})
	return out, err
}

// netlink runs fn with a netlink handle whose sockets are made inside the
// namespace, for the given netlink families (none means the routing
// family). A family the handle lacks would silently be asked in chaos's
// own namespace instead: NETLINK_INET_DIAG must be named to destroy
// sockets.
func (n Namespace) netlink(fn func(h *netlink.Handle) error, families ...int) error {
	f, err := n.open()
	if err != nil {
		return err
	}
	defer f.Close()
	if len(families) == 0 {
		families = []int{unix.NETLINK_ROUTE}
	}
	h, err := netlink.NewHandleAt(netns.NsHandle(f.Fd()), families...)
	if err != nil {
		return fmt.Errorf("netlink in %s: %w", n, err)
	}
	defer h.Close()
	return fn(h)
}

// listensOn reports whether a TCP socket of the namespace listens on port
// (of any address). It is for a hint: an error counts as no.
func (n Namespace) listensOn(port uint16) bool {
	found := false
	_ = n.netlink(func(h *netlink.Handle) error {
		for _, af := range []uint8{unix.AF_INET, unix.AF_INET6} {
			ss, err := h.SocketDiagTCP(af)
			if err != nil && !errors.Is(err, netlink.ErrDumpInterrupted) {
				return err
			}
			for _, s := range ss {
				if s.State == tcpListen && s.ID.SourcePort == port {
					found = true
					return nil
				}
			}
		}
		return nil
	}, unix.NETLINK_INET_DIAG)
	return found
}
