// Package network puts network faults into a target's network namespace,
// in place: a container's (through the pid of its main process), a local
// process's, or the host's own. Nothing in the target is reconfigured or
// restarted, and no netem qdisc is needed:
//
//   - blackhole, loss, partition and reject are nftables rules;
//   - bandwidth is an HTB qdisc, per destination through nftables;
//   - latency, reorder and corrupt hold or alter packets in this process,
//     queued to it by an NFQUEUE rule, for any protocol and for
//     connections opened before the fault as well as new ones;
//   - duplicate is nftables' dup;
//   - intercept sends the target's new connections to a dependency through
//     the fault proxy (package proxy), whose every fault then acts on them.
//
// Each fault is a settings struct (Blackhole, Latency, ...). Plan turns it
// into a Record before anything is touched; the record names everything
// the fault will own (an nftables table named for the run, an HTB qdisc
// handle derived from it) so that Revert can remove it later from the
// record alone, in this process or another. Apply puts the fault in and
// returns an Applied, whose Revert takes it out in the order that loses
// and resets nothing. RemoveRun removes whatever a run left in a
// namespace, found by its name.
//
// In experiments (chaos.go, and a fault_KIND.go file per fault), each is a
// fault of docker, process and host targets: it acts in the container's,
// the process's or, only through a host target, the host's own namespace,
// and its Record is the ledger's undo.
//
// A fault's host, and a partition's peers, may name a container instead of
// giving an address: a run resolves the name through the Docker engine to
// the container's addresses on all its networks before it plans the fault
// (PlanNamed), and the record keeps them (Names), so that the fault acts
// on the addresses the plan showed, however the container fares later.
//
// Rules act on IPv4 and IPv6: those for each family go into a table of
// the ip or the ip6 family named for the fault, for the families of its
// host (both when it takes any host). Egress drops sit on each device's
// egress hook, which drops without the EPERM that a drop on the output
// hook returns to the sending application; a device added after the
// fault is not covered.
package network

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/vishvananda/netlink"
)

// Fault is the settings of one kind of network fault.
type Fault interface {
	// Kind is the fault's name, such as "latency".
	Kind() string
	// Validate reports settings that cannot work.
	Validate() error
	// build adds what the fault installs to b, touching nothing.
	build(b *build) error
}

// Record is what a fault owns in a namespace, written down before the
// fault is applied so that it can be removed from the record alone. It is
// the fault's undo.
type Record struct {
	Kind      string    `json:"kind"`
	Namespace Namespace `json:"namespace"`
	// Run and Seq name the fault: its tables are TableName(Run, Seq).
	Run   string `json:"run"`
	Seq   int    `json:"seq"`
	Table string `json:"table"`
	// Qdisc is the handle of the HTB qdisc a bandwidth fault roots on the
	// devices it shapes, as MAJOR<<16 | MINOR; its class is MAJOR:MINOR.
	Qdisc uint32 `json:"qdisc,omitempty"`
	// Queue is the NFQUEUE number of a fault that holds packets; Apply may
	// take another one if that one is in use.
	Queue uint16 `json:"queue,omitempty"`
	// Names are the addresses of the containers the settings name (see
	// Names), as they were when the fault was planned: the fault acts on
	// these.
	Names Names `json:"names,omitempty"`
	// Rules are what the fault installs, in nft's words, for people.
	Rules []string `json:"rules,omitempty"`
}

// TablePrefix starts the name of every nftables table chaos creates.
const TablePrefix = "chaos_"

// TableName is the name of the nftables tables of fault seq of run:
// chaos_RUN_SEQ, with every character of the run id other than letters
// and digits written as "_".
func TableName(run string, seq int) string {
	return TablePrefix + runPart(run) + "_" + strconv.Itoa(seq)
}

func runPart(run string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return r
		}
		return '_'
	}, run)
}

// maxRunLen keeps table names well within the kernel's 256 bytes.
const maxRunLen = 200

func checkRun(run string, seq int) error {
	switch {
	case run == "":
		return errors.New("no run id: tables are named for the run")
	case len(run) > maxRunLen:
		return fmt.Errorf("run id of %d bytes: at most %d", len(run), maxRunLen)
	case seq < 1 || seq > 0xffff:
		return fmt.Errorf("fault number %d: use 1 to 65535", seq)
	}
	return nil
}

// ownedBy reports whether an nftables table name is one of run's.
func ownedBy(table, run string) bool {
	rest, ok := strings.CutPrefix(table, TablePrefix+runPart(run)+"_")
	if !ok || rest == "" {
		return false
	}
	for _, r := range rest {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// qdiscMajor is the major number of run's HTB qdiscs: 0x8000 and up, out
// of the way of tc's usual 1: to ffff:, and never ffff: (ingress).
func qdiscMajor(run string) uint32 {
	h := fnv.New32a()
	h.Write([]byte(run))
	m := 0x8000 | h.Sum32()&0x7fff
	if m == 0xffff {
		m = 0xfffe
	}
	return m
}

// queueBase is the first NFQUEUE number tried for a table: spread over
// 0x1000-0xefff so that faults and runs rarely try the same one.
func queueBase(table string) uint16 {
	h := fnv.New32a()
	h.Write([]byte(table))
	return uint16(0x1000 + h.Sum32()%0xe000)
}

// build collects what a fault installs.
type build struct {
	// Filled in before build is called.
	table  string
	queue  uint16
	handle uint32
	port   uint16 // the intercept's listener, once it listens

	tables    tables
	hold      *holdConfig
	shape     *shapeConfig
	intercept *Intercept
}

func (b *build) describe() []string {
	out := b.tables.describe(b.table)
	if b.shape != nil {
		out = append(b.shape.describe(b.handle), out...)
	}
	if b.intercept != nil {
		out = append(out, "(only while a proxy fault is on)")
	}
	return out
}

// Plan returns the record of fault f, number seq of run, in namespace ns,
// without touching anything: the record goes to the ledger before the
// fault is applied. seq must be unique within the run. f must name no
// container: see PlanNamed.
func Plan(ns Namespace, run string, seq int, f Fault) (Record, error) {
	return PlanNamed(ns, run, seq, f, nil)
}

// PlanNamed is Plan for a fault whose settings may name containers
// (NamesOf): names gives their addresses, and the record keeps those it
// used.
func PlanNamed(ns Namespace, run string, seq int, f Fault, names Names) (Record, error) {
	if err := ns.Validate(); err != nil {
		return Record{}, err
	}
	if err := checkRun(run, seq); err != nil {
		return Record{}, fmt.Errorf("plan %s: %w", f.Kind(), err)
	}
	if err := f.Validate(); err != nil {
		return Record{}, fmt.Errorf("%s: %w", f.Kind(), err)
	}
	rec := Record{Kind: f.Kind(), Namespace: ns, Run: run, Seq: seq, Table: TableName(run, seq)}
	if used := NamesOf(f); len(used) > 0 {
		rec.Names = Names{}
		for _, n := range used {
			rec.Names[n] = names[n]
		}
	}
	f, err := withNames(f, rec.Names)
	if err != nil {
		return Record{}, fmt.Errorf("%s: %w", rec.Kind, err)
	}
	// Only read: which hosts the target reaches over its loopback device.
	// A namespace that cannot be read here (a dry run elsewhere) has none;
	// Apply reads them again.
	local, _ := ns.localAddrs()
	f = withLocal(f, local)
	if err := f.Validate(); err != nil {
		return Record{}, fmt.Errorf("%s: %w", rec.Kind, err)
	}
	b := &build{table: rec.Table, queue: queueBase(rec.Table), handle: rec.handle()}
	if err := f.build(b); err != nil {
		return Record{}, fmt.Errorf("%s: %w", f.Kind(), err)
	}
	if b.hold != nil {
		rec.Queue = b.queue
	}
	if b.shape != nil {
		rec.Qdisc = b.handle
	}
	rec.Rules = b.describe()
	return rec, nil
}

// handle is the HTB handle of the record's fault: the run's major number
// and the fault's.
func (rec *Record) handle() uint32 { return qdiscMajor(rec.Run)<<16 | uint32(rec.Seq) }

// check verifies that rec is a complete record for f.
func (rec *Record) check(f Fault) error {
	if err := rec.Namespace.Validate(); err != nil {
		return err
	}
	if err := checkRun(rec.Run, rec.Seq); err != nil {
		return err
	}
	if rec.Table != TableName(rec.Run, rec.Seq) {
		return fmt.Errorf("record names table %q, not %q", rec.Table, TableName(rec.Run, rec.Seq))
	}
	if f != nil && rec.Kind != f.Kind() {
		return fmt.Errorf("record of a %s fault, not %s", rec.Kind, f.Kind())
	}
	return nil
}

// Applied is a fault that is in place. Its Revert takes it out.
type Applied struct {
	rec   Record
	hold  *holder
	icept *Interception
	// tabled says that Apply installed tables that stay until Revert
	// (an intercept's rules come and go with its proxy).
	tabled bool
	// egressDevs are the devices, by name, with their indexes, that
	// egress rules (or a bandwidth's qdisc on every device) went on;
	// loopback says whether lo is among those
	// they go on. uncovered lists, once Revert looked, the devices that
	// came up while the fault was on, which had none of them.
	egressDevs map[string]int
	loopback   bool
	// egressSel are the egress drops' selectors: with hosts, only a new
	// device that a route to one of them goes by now missed packets.
	egressSel []selector
	uncovered []string

	// selects says which traffic the fault selects, for people.
	selects string
	// listens is the port of the filter when the target itself listened
	// on it as the fault went on (see listensOn), else 0.
	listens uint16

	mu       sync.Mutex
	reverted bool
	err      error
	// met is what the fault met while it was on (see Met); metKnown
	// says whether the revert could count it.
	met      int64
	metKnown bool
}

// Met returns what the fault met while it was on, once Revert counted it:
// the packets its rules acted on, for a bandwidth fault those its class
// sent, for an intercept the connections its proxy took or cut. known is
// false before Revert, or when it could not count (its rules or its
// namespace were gone).
func (a *Applied) Met() (n int64, known bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.met, a.metKnown
}

// Selects says, for people, which traffic the fault selects.
func (a *Applied) Selects() string { return a.selects }

// Record returns the fault's record, with what Apply learnt (the queue
// number it took).
func (a *Applied) Record() Record { return a.rec }

// Interception returns the proxy side of an intercept fault, nil for
// other faults.
func (a *Applied) Interception() *Interception { return a.icept }

// Apply puts fault f into the namespace of its record rec, which Plan
// returned for f. On error nothing of the fault is left behind.
func Apply(ctx context.Context, rec Record, f Fault) (*Applied, error) {
	if err := rec.check(f); err != nil {
		return nil, fmt.Errorf("apply %s: %w", f.Kind(), err)
	}
	if err := f.Validate(); err != nil {
		return nil, fmt.Errorf("apply %s: %w", f.Kind(), err)
	}
	f, err := withNames(f, rec.Names)
	if err != nil {
		return nil, fmt.Errorf("apply %s: %w", rec.Kind, err)
	}
	local, err := rec.Namespace.localAddrs()
	if err != nil {
		return nil, fmt.Errorf("apply %s in %s: %w", rec.Kind, rec.Namespace, err)
	}
	f = withLocal(f, local)
	if err := f.Validate(); err != nil {
		return nil, fmt.Errorf("apply %s: %w", rec.Kind, err)
	}
	if rec.Queue == 0 {
		rec.Queue = queueBase(rec.Table)
	}
	b := &build{table: rec.Table, queue: rec.Queue, handle: rec.handle()}
	if err := f.build(b); err != nil {
		return nil, fmt.Errorf("apply %s: %w", f.Kind(), err)
	}
	a := &Applied{rec: rec, selects: selects(f)}
	if x, ok := f.(interface{ filter() *Filter }); ok && x.filter().Port > 0 {
		if port := uint16(x.filter().Port); rec.Namespace.listensOn(port) {
			a.listens = port
		}
	}
	switch {
	case b.intercept != nil:
		a.icept, err = startInterception(rec, b.intercept)
	case b.hold != nil:
		a.hold, err = applyHold(ctx, &a.rec, f, b)
	case b.shape != nil:
		err = applyShape(rec, b)
		if err == nil && len(b.shape.sel.hosts()) == 0 {
			// Shaped on every device up, as egress drops go.
			a.egressDevs, err = upDevices(rec.Namespace, false)
		}
	default:
		err = installTables(rec.Namespace, rec.Table, &b.tables)
		if err == nil && len(b.tables.egress) > 0 {
			a.loopback = b.tables.loopback
			a.egressSel = b.tables.egressSel
			a.egressDevs, err = upDevices(rec.Namespace, a.loopback)
		}
	}
	if err != nil {
		if !errors.Is(err, ErrGone) {
			// Whatever got in goes; the error that matters is the first.
			_ = Revert(ctx, rec)
		}
		return nil, fmt.Errorf("apply %s in %s: %w", f.Kind(), rec.Namespace, err)
	}
	a.tabled = b.intercept == nil && !b.tables.empty()
	return a, nil
}

// Revert takes the fault out: for a fault that holds packets, the rule
// goes first, then every held packet is let through, then the queue is
// unbound and the table deleted, so that no packet is lost; an intercept
// lets new connections go direct before it ends the ones it proxied
// (with a FIN, never a reset) and deletes its rules. A second call returns
// what the first did. If the namespace is gone (the container restarted),
// the fault went with it: Revert releases what this process held and
// returns an error that wraps ErrGone.
func (a *Applied) Revert(ctx context.Context) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.reverted {
		return a.err
	}
	a.reverted = true
	var errs []error
	if a.icept != nil {
		a.met, a.metKnown = a.icept.met(), true
	}
	switch {
	case a.icept != nil:
		errs = append(errs, a.icept.close(ctx))
	case a.hold != nil:
		errs = append(errs, a.hold.stop(ctx, a.rec))
	}
	if a.icept == nil {
		a.met, a.metKnown = a.rec.met()
	}
	if a.egressDevs != nil {
		a.uncovered = a.newDevices()
	}
	removed, err := revert(a.rec)
	errs = append(errs, err)
	if err == nil && a.tabled && len(removed) == 0 {
		errs = append(errs, &RulesGone{Table: a.rec.Table})
	}
	a.err = joinGone(errs)
	return a.err
}

// met counts what the fault of rec has met so far: the packets its
// rules acted on, every counter of its tables but the intercept's
// conntrack rule (a hold fault's queueing rules count the packets
// selected, those its percent passed over not included), and for a
// bandwidth fault the packets its class sent. known is false if it
// cannot count them (its tables are gone, its namespace too).
func (rec Record) met() (n int64, known bool) {
	if rec.Kind == (&Bandwidth{}).Kind() {
		err := rec.Namespace.netlink(func(h *netlink.Handle) error {
			links, err := h.LinkList()
			if err != nil {
				return err
			}
			for _, l := range links {
				classes, err := h.ClassList(l, rec.handle()&0xffff0000)
				if err != nil {
					continue
				}
				for _, c := range classes {
					if st := c.Attrs().Statistics; c.Attrs().Handle == rec.handle() && st != nil && st.Basic != nil {
						n += int64(st.Basic.Packets)
						known = true
					}
				}
			}
			return nil
		})
		return n, known && err == nil
	}
	n, err := countRules(rec, func(chain string) bool { return chain != keepChain })
	return n, err == nil
}

// countRules adds up the packets counted by the rules of rec's tables in the
// chains want takes. It fails if rec has no table left.
func countRules(rec Record, want func(chain string) bool) (int64, error) {
	var n int64
	err := rec.Namespace.nft(func(c *nftables.Conn) error {
		tables, err := c.ListTables()
		if err != nil {
			return fmt.Errorf("list tables: %w", err)
		}
		found := false
		for _, tb := range tables {
			if tb.Name != rec.Table {
				continue
			}
			found = true
			chains, err := c.ListChainsOfTableFamily(tb.Family)
			if err != nil {
				return fmt.Errorf("list chains: %w", err)
			}
			for _, ch := range chains {
				if ch.Table.Name != rec.Table || !want(ch.Name) {
					continue
				}
				rules, err := c.GetRules(tb, &nftables.Chain{Name: ch.Name, Table: tb})
				if err != nil {
					return fmt.Errorf("read the counters of %s %s: %w", rec.Table, ch.Name, err)
				}
				for _, r := range rules {
					for _, e := range r.Exprs {
						if ctr, ok := e.(*expr.Counter); ok {
							n += int64(ctr.Packets)
						}
					}
				}
			}
		}
		if !found {
			return &RulesGone{Table: rec.Table}
		}
		return nil
	})
	return n, err
}

// selects says, for people, which traffic f selects: "host 10.0.0.7,
// port 5432, egress".
func selects(f Fault) string {
	var parts []string
	add := func(who, host string, port int, protocol string, dir Direction) {
		if host == "" {
			who = "any host"
		}
		parts = append(parts, who+host)
		if port != 0 {
			parts = append(parts, fmt.Sprintf("port %d", port))
		}
		if protocol != "" {
			parts = append(parts, protocol)
		}
		if dir != "" {
			parts = append(parts, string(dir))
		}
	}
	switch f := f.(type) {
	case interface{ filter() *Filter }:
		x := f.filter()
		add("host ", x.Host, x.Port, x.Protocol, x.Direction)
		if x.Percent != nil {
			parts = append(parts, fmt.Sprintf("%v of them", x.Percent))
		}
	case *Partition:
		add("peers ", strings.Join(f.Peers, ", "), f.Port, f.Protocol, f.Direction)
	}
	return strings.Join(parts, ", ")
}

// RulesGone is what the revert of a fault returns when its tables were
// gone already: something else removed them (a firewall reload whose
// rules begin with flush ruleset, chaos recover from another process), at
// a moment the run did not see.
type RulesGone struct {
	Table string
}

func (e *RulesGone) Error() string {
	return fmt.Sprintf("its rules (tables %s) were gone before the revert: something else removed them", e.Table)
}

// joinGone joins errs, keeping one ErrGone when the namespace is gone.
func joinGone(errs []error) error {
	var out []error
	gone := false
	for _, err := range errs {
		switch {
		case err == nil:
		case errors.Is(err, ErrGone):
			if !gone {
				out = append(out, err)
			}
			gone = true
		default:
			out = append(out, err)
		}
	}
	return errors.Join(out...)
}

// Revert removes what the fault of rec owns in its namespace: its tables
// and its qdiscs. It needs nothing but the record, so another process can
// call it (chaos recover); it is idempotent. Packets that a dead process
// held were lost with it; the queue rule lets later ones through until it
// is removed. A namespace that is gone returns an error wrapping ErrGone:
// the fault went with it.
func Revert(ctx context.Context, rec Record) error {
	_, err := revert(rec)
	return err
}

// revert is Revert, returning the tables it deleted.
func revert(rec Record) ([]string, error) {
	if err := rec.check(nil); err != nil {
		return nil, fmt.Errorf("revert %s: %w", rec.Kind, err)
	}
	ns := rec.Namespace
	var removed []string
	err := ns.nft(func(c *nftables.Conn) error {
		var err error
		removed, err = deleteTables(c, func(name string) bool { return name == rec.Table })
		return err
	})
	if err == nil && (rec.Qdisc != 0 || rec.Kind == (&Bandwidth{}).Kind()) {
		err = ns.netlink(func(h *netlink.Handle) error {
			_, err := deleteQdiscs(h, func(handle uint32, h *netlink.Handle, l netlink.Link) bool {
				return handle == rec.handle()&0xffff0000 && ownedQdisc(h, l, rec.handle())
			})
			return err
		})
	}
	if err != nil {
		return nil, fmt.Errorf("revert %s (%s) in %s: %w", rec.Kind, rec.Table, ns, err)
	}
	return removed, nil
}

// RemoveRun removes everything that run owns in namespace ns: every table
// named TableName(run, N) and every qdisc of the run's handle. It returns
// what it removed ("ip chaos_..._3", "qdisc eth0 8a3f:"), and an error
// wrapping ErrGone if the namespace is gone.
func RemoveRun(ctx context.Context, ns Namespace, run string) ([]string, error) {
	if err := checkRun(run, 1); err != nil {
		return nil, err
	}
	var removed []string
	err := ns.nft(func(c *nftables.Conn) error {
		names, err := deleteTables(c, func(name string) bool { return ownedBy(name, run) })
		removed = append(removed, names...)
		return err
	})
	if err == nil {
		err = ns.netlink(func(h *netlink.Handle) error {
			names, err := deleteQdiscs(h, func(handle uint32, _ *netlink.Handle, _ netlink.Link) bool {
				return handle == qdiscMajor(run)<<16
			})
			removed = append(removed, names...)
			return err
		})
	}
	if err != nil {
		return removed, fmt.Errorf("remove run %s from %s: %w", run, ns, err)
	}
	return removed, nil
}

// Tables lists the nftables tables of run in ns ("ip chaos_..._3"), or
// every table chaos made when run is empty.
func Tables(ns Namespace, run string) ([]string, error) {
	var out []string
	err := ns.nft(func(c *nftables.Conn) error {
		ts, err := c.ListTables()
		if err != nil {
			return fmt.Errorf("list tables: %w", err)
		}
		for _, t := range ts {
			if run == "" && strings.HasPrefix(t.Name, TablePrefix) || run != "" && ownedBy(t.Name, run) {
				out = append(out, familyName(t.Family)+" "+t.Name)
			}
		}
		return nil
	})
	slices.Sort(out)
	return out, err
}

func familyName(f nftables.TableFamily) string {
	switch f {
	case nftables.TableFamilyIPv4:
		return "ip"
	case nftables.TableFamilyIPv6:
		return "ip6"
	case nftables.TableFamilyINet:
		return "inet"
	case nftables.TableFamilyNetdev:
		return "netdev"
	case nftables.TableFamilyBridge:
		return "bridge"
	case nftables.TableFamilyARP:
		return "arp"
	}
	return fmt.Sprint(uint32(f))
}

// deleteTables deletes, in one batch, every table in any family whose
// name passes match.
func deleteTables(c *nftables.Conn, match func(name string) bool) ([]string, error) {
	ts, err := c.ListTables()
	if err != nil {
		return nil, fmt.Errorf("list tables: %w", err)
	}
	var names []string
	for _, t := range ts {
		if match(t.Name) {
			c.DelTable(t)
			names = append(names, familyName(t.Family)+" "+t.Name)
		}
	}
	if len(names) == 0 {
		return nil, nil
	}
	if err := c.Flush(); err != nil {
		return nil, fmt.Errorf("delete tables %s: %w", strings.Join(names, ", "), err)
	}
	return names, nil
}

// installTables puts t into ns as one batch.
func installTables(ns Namespace, name string, t *tables) error {
	if t.empty() {
		return nil
	}
	var devices []string
	if len(t.egress) > 0 {
		var err error
		if devices, err = egressDevices(ns, t); err != nil {
			return err
		}
	}
	return ns.nft(func(c *nftables.Conn) error {
		t.queue(c, name, devices)
		if err := c.Flush(); err != nil {
			return fmt.Errorf("install table %s: %w", name, err)
		}
		return nil
	})
}

// upDevices returns the indexes of the devices that are up, by name, lo
// only with loopback, devices enslaved to another (a bridge's ports,
// whose traffic leaves by the bridge) left out.
func upDevices(ns Namespace, loopback bool) (map[string]int, error) {
	devs := map[string]int{}
	err := ns.netlink(func(h *netlink.Handle) error {
		links, err := linkList(h)
		if err != nil {
			return fmt.Errorf("list devices: %w", err)
		}
		for _, l := range links {
			a := l.Attrs()
			if a.Flags&net.FlagUp == 0 || (a.Index == 1 && !loopback) || a.MasterIndex != 0 {
				continue
			}
			devs[a.Name] = a.Index
		}
		return nil
	})
	return devs, err
}

// newDevices lists the devices that are up now and were not when the
// fault's egress rules went on (or were, under another index: deleted
// and made again), which have none of them: what the target sent by them
// met no fault.
func (a *Applied) newDevices() []string {
	now, err := upDevices(a.rec.Namespace, a.loopback)
	if err != nil {
		return nil
	}
	routed := a.routedDevices()
	var out []string
	for name, index := range now {
		if was, ok := a.egressDevs[name]; (!ok || was != index) && (routed == nil || routed[index]) {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// routedDevices returns the indexes of the devices by which a route to
// the hosts of the egress drops goes now, or nil when a drop takes every
// host or the routes cannot be read: then every new device counts. A
// device that came up meanwhile elsewhere (another network's bridge, in
// the host's namespace) carries none of the packets the fault selects.
func (a *Applied) routedDevices() map[int]bool {
	if len(a.egressSel) == 0 {
		return nil
	}
	for _, s := range a.egressSel {
		if len(s.hosts()) == 0 {
			return nil
		}
	}
	routed := map[int]bool{}
	err := a.rec.Namespace.netlink(func(h *netlink.Handle) error {
		for _, s := range a.egressSel {
			links, err := shapedLinks(h, s)
			if err != nil {
				return err
			}
			for _, l := range links {
				routed[l.Attrs().Index] = true
			}
		}
		return nil
	})
	if err != nil {
		return nil
	}
	return routed
}

// Uncovered returns, once Revert looked, the devices that came up while
// the fault was on and had none of its egress rules.
func (a *Applied) Uncovered() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.uncovered
}

// egressDevices lists the devices that egress rules go on: every device
// that is up, the loopback device only when a rule is about loopback
// addresses (t.loopback).
func egressDevices(ns Namespace, t *tables) ([]string, error) {
	var devices []string
	err := ns.netlink(func(h *netlink.Handle) error {
		links, err := linkList(h)
		if err != nil {
			return fmt.Errorf("list devices: %w", err)
		}
		for _, l := range links {
			a := l.Attrs()
			if a.Flags&net.FlagUp == 0 {
				continue
			}
			if a.Index == 1 && !t.loopback {
				continue
			}
			devices = append(devices, a.Name)
		}
		return nil
	})
	if err == nil && len(devices) == 0 {
		err = errors.New("no network device is up to put egress rules on")
	}
	return devices, err
}

// linkList lists the namespace's devices through dump.
func linkList(h *netlink.Handle) ([]netlink.Link, error) { return dump(h.LinkList) }

// dump makes a netlink dump again, up to ten times, while devices change
// under it (containers come and go in the host's namespace), rather than
// read half of it: a rule missing from a device would let traffic by.
func dump[T any](list func() (T, error)) (T, error) {
	for try := 1; ; try++ {
		v, err := list()
		if !errors.Is(err, netlink.ErrDumpInterrupted) || try == 10 {
			return v, err
		}
	}
}

// Unheld is what the revert of a fault that holds packets returns when
// some of the packets its rules selected passed without it: more were
// held at once than the queue takes, and the queue fails open rather than
// drop them. The fault was reverted, but it was not in effect for those.
type Unheld struct {
	// Passed of the Selected packets did not get the fault.
	Passed, Selected int64
	Queue            uint16
}

func (e *Unheld) Error() string {
	return fmt.Sprintf("%d of the %d packets the fault selected passed without it: queue %d was full (%d packets held at once at most)",
		e.Passed, e.Selected, e.Queue, maxQueueLen)
}
