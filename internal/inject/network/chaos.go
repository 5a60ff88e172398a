package network

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/gamedayhq/chaos/internal/experiment"
	"github.com/gamedayhq/chaos/internal/inject"
	"github.com/gamedayhq/chaos/internal/inject/docker"
)

// This file plugs the network faults into chaos: the host target kind,
// how each target kind leads to a namespace, what every fault shares to
// be a fault of docker, process and host targets, and its one undo
// action. Each fault's registration is in a file of its own
// (fault_latency.go...).

// Targets whose namespace the network faults act in. A docker target's
// is its container's, a process target's the process's; the host's own
// namespace is only ever touched through a host target.
var targetKinds = []string{"docker", "process", HostKind}

// HostKind is the target kind of the host's own network namespace: the
// one chaos runs in.
const HostKind = "host"

// HostSpec selects the host's own network namespace; it has no settings.
// Writing the target is what says that a fault may act there.
type HostSpec struct{}

// undoRevert is the undo action of every network fault: its Data is the
// fault's Record.
const undoRevert = "network.revert"

func init() {
	inject.RegisterTarget(inject.TargetKind{
		Name: HostKind,
		New:  func() any { return &HostSpec{} },
		Resolve: func(context.Context, *inject.Env, any) ([]inject.Target, error) {
			name, err := os.Hostname()
			if err != nil {
				name = "localhost"
			}
			return []inject.Target{{Kind: HostKind, ID: name, Name: "its own network namespace"}}, nil
		},
		DefaultMax: 1,
		Doc: experiment.Doc{
			Summary: "The host's own network namespace, the one chaos runs in, for the network faults. It takes no settings: writing the target is what allows a fault to act on the whole host.",
			Example: "{}",
		},
	})
	inject.RegisterUndo(undoRevert, revertUndo)
}

// register makes settings type F a fault of every target kind that has a
// network namespace.
func register[F any, PF interface {
	*F
	Fault
}](name string, doc experiment.Doc) {
	for _, k := range targetKinds {
		inject.RegisterFault(inject.FaultKind{Target: k, Name: name, New: func() inject.Fault { return &settings[F, PF]{} }, Doc: doc})
	}
}

// settings are a network fault's settings in an experiment file: those of
// F (Latency, Blackhole...), whose keys they take as they are.
type settings[F any, PF interface {
	*F
	Fault
}] struct {
	Fault F `yaml:",inline"`
}

func (s *settings[F, PF]) fault() Fault { return PF(&s.Fault) }

// Validate checks the settings.
func (s *settings[F, PF]) Validate() error { return s.fault().Validate() }

// MarshalJSON writes the settings as they are written in the file, for
// the journal.
func (s *settings[F, PF]) MarshalJSON() ([]byte, error) { return json.Marshal(&s.Fault) }

// Params is the fault the settings wrap, for the journal to write as
// the file writes it (durations as text); see journal.Params.
func (s *settings[F, PF]) Params() any { return &s.Fault }

// UnmarshalJSON reads what MarshalJSON wrote.
func (s *settings[F, PF]) UnmarshalJSON(b []byte) error { return json.Unmarshal(b, &s.Fault) }

// Precheck refuses a target whose namespace chaos cannot act in.
func (s *settings[F, PF]) Precheck(ctx context.Context, env *inject.Env, t inject.Target) error {
	return precheck(ctx, env, t)
}

// Plan records the tables and qdiscs the fault will own in the target's
// namespace.
func (s *settings[F, PF]) Plan(ctx context.Context, env *inject.Env, t inject.Target) (inject.Undo, error) {
	return plan(ctx, env, t, s.fault())
}

// Inject applies the fault.
func (s *settings[F, PF]) Inject(ctx context.Context, env *inject.Env, t inject.Target, u inject.Undo) (inject.Undo, error) {
	return apply(ctx, env, u, s.fault(), nil)
}

// Describe says where the fault acts and the rules it installs.
func (s *settings[F, PF]) Describe(ctx context.Context, env *inject.Env, t inject.Target) ([]string, error) {
	return describe(ctx, env, t, s.fault())
}

// namespaceOf is the network namespace a fault on t acts in. A container
// or process that shares the host's namespace is refused: a fault there
// would hit every process of the host, which only a host target may ask
// for.
func namespaceOf(ctx context.Context, env *inject.Env, t inject.Target) (Namespace, error) {
	switch t.Kind {
	case HostKind:
		return HostNamespace()
	case "docker":
		e, err := docker.EngineOf(ctx, env, t)
		if err != nil {
			return Namespace{}, err
		}
		mp, err := e.MainProcess(ctx, t.ID)
		switch {
		case err != nil:
			return Namespace{}, err
		case !mp.Exists:
			return Namespace{}, fmt.Errorf("container %s no longer exists", t.ID)
		case !mp.Running:
			return Namespace{}, fmt.Errorf("container %s is not running: it has no network namespace to act in", t.ID)
		}
		ns, err := ProcessNamespace(mp.PID)
		if err != nil {
			return Namespace{}, err
		}
		return ns, notHost(ns, "container "+cmpName(t))
	case "process":
		pid, err := strconv.Atoi(t.ID)
		if err != nil {
			return Namespace{}, fmt.Errorf("process target %q: not a pid", t.ID)
		}
		ns, err := ProcessNamespace(pid)
		if err != nil {
			return Namespace{}, err
		}
		return ns, notHost(ns, "process "+t.ID)
	}
	return Namespace{}, fmt.Errorf("network faults act on docker, process and host targets, not %s", t.Kind)
}

func cmpName(t inject.Target) string {
	if t.Name != "" {
		return t.Name
	}
	return t.ID
}

// notHost refuses the host's own namespace to a target that is not a host
// target.
func notHost(ns Namespace, what string) error {
	host, err := HostNamespace()
	if err != nil {
		return err
	}
	if ns.Inode == host.Inode {
		return fmt.Errorf("%s shares the host's network namespace (net:[%d]): a fault there would hit every process of the host; to mean that, use a target `host: {}`", what, ns.Inode)
	}
	return nil
}

// runID names the run's tables: the run's id, or RUN for an Env outside
// a run (the dry run shows the tables as chaos_RUN_N).
func runID(env *inject.Env) string {
	if env.RunID != "" {
		return env.RunID
	}
	return "RUN"
}

// runSeqs numbers the network faults of each run ID in this process. The
// experiments of one call share its run ID, each with an Env of its own:
// numbered by Env, the next experiment's first fault would take the table
// and qdisc names of the one before it, so that a fault one left (its
// revert failed) and the next one's shared a table, whose counters and
// revert, and chaos recover's, would then be both faults'.
var runSeqs sync.Map // run ID -> *atomic.Int32

// nextSeq numbers the run's network faults, from 1; those of an Env
// outside a run (a dry run) by Env.
func nextSeq(env *inject.Env) int {
	if env.RunID == "" {
		r, _ := env.Resource("network.seq", func() (any, error) { return new(atomic.Int32), nil })
		return int(r.(*atomic.Int32).Add(1))
	}
	n, _ := runSeqs.LoadOrStore(env.RunID, new(atomic.Int32))
	return int(n.(*atomic.Int32).Add(1))
}

// precheck checks that chaos can act in the target's namespace: that it
// finds it, and that nftables answers there.
func precheck(ctx context.Context, env *inject.Env, t inject.Target) error {
	ns, err := namespaceOf(ctx, env, t)
	if err != nil {
		return err
	}
	if _, err := Tables(ns, ""); err != nil {
		return fmt.Errorf("nftables in %s: %w (network faults need root, or CAP_NET_ADMIN and CAP_SYS_ADMIN)", ns, err)
	}
	return nil
}

// plan finds the target's namespace and plans f there.
func plan(ctx context.Context, env *inject.Env, t inject.Target, f Fault) (inject.Undo, error) {
	ns, err := namespaceOf(ctx, env, t)
	if err != nil {
		return inject.Undo{}, fmt.Errorf("%s on %s: %w", f.Kind(), t, err)
	}
	names, err := resolveNames(ctx, env, t, f)
	if err != nil {
		return inject.Undo{}, fmt.Errorf("%s on %s: %w", f.Kind(), t, err)
	}
	rec, err := PlanNamed(ns, runID(env), nextSeq(env), f, names)
	if err != nil {
		return inject.Undo{}, err
	}
	data, err := json.Marshal(rec)
	if err != nil {
		return inject.Undo{}, err
	}
	return inject.Undo{Action: undoRevert, Target: t, Data: data, Notes: rec.Names.describe(NamesOf(f))}, nil
}

// resolveNames finds the addresses of the containers f's settings name,
// through the Docker engine of t (the default one for a process or the
// host).
func resolveNames(ctx context.Context, env *inject.Env, t inject.Target, f Fault) (Names, error) {
	want := NamesOf(f)
	if len(want) == 0 {
		return nil, nil
	}
	e, err := docker.EngineOf(ctx, env, t)
	if err != nil {
		return nil, fmt.Errorf("find the addresses of container %s: %w", want[0], err)
	}
	names := Names{}
	for _, n := range want {
		as, err := e.Addresses(ctx, n)
		if err != nil {
			return nil, fmt.Errorf("find the addresses of container %s: %w", n, err)
		}
		for _, a := range as {
			names[n] = append(names[n], a.Addr)
		}
	}
	return names, nil
}

// appliedKey is where the run keeps a fault it applied, for its revert.
func appliedKey(rec Record) string { return "network:" + rec.Table }

// apply puts the fault of u's record in, keeps it for the revert, and
// runs then, when given, on it (the intercept adds its proxy fault).
func apply(ctx context.Context, env *inject.Env, u inject.Undo, f Fault, then func(*Applied) error) (inject.Undo, error) {
	var rec Record
	if err := json.Unmarshal(u.Data, &rec); err != nil {
		return u, fmt.Errorf("%s: bad record: %w", f.Kind(), err)
	}
	a, err := Apply(ctx, rec, f)
	if err != nil {
		return u, err
	}
	if then != nil {
		if err := then(a); err != nil {
			return u, errors.Join(err, a.Revert(context.WithoutCancel(ctx)))
		}
	}
	env.Put(appliedKey(rec), a)
	if r := a.Record(); r.Queue != rec.Queue {
		// Another queue number was free: record it.
		u.Data, _ = json.Marshal(r)
	}
	return u, nil
}

// revertUndo takes a fault out: through what this process applied when
// it did (held packets are let go first, an intercept's proxy is
// closed), else from the record alone (chaos recover). A namespace that
// is gone took the fault with it: that is a warning, not an error.
func revertUndo(ctx context.Context, env *inject.Env, u inject.Undo) error {
	var rec Record
	if err := json.Unmarshal(u.Data, &rec); err != nil {
		return fmt.Errorf("revert network fault: bad undo record: %w", err)
	}
	var err error
	if v, ok := env.Lookup(appliedKey(rec)); ok {
		a := v.(*Applied)
		err = a.Revert(ctx)
		if n, known := a.Met(); err == nil && known && n == 0 {
			return inject.NotReached("%s on %s: %s%s", rec.Kind, u.Target, unmet(rec, a.Selects()), ownPort(a.listens))
		}
		if a.icept != nil && env.Warn != nil {
			if n := a.icept.Bypassed(); n > 0 {
				env.Warn(fmt.Sprintf("%s on %s: the target sent %d packets to %s on connections opened before the intercept went on, which stayed direct and met no proxy fault: the fault met only part of its traffic (cut_established: true cuts such connections, so that they reconnect through the proxy)", rec.Kind, u.Target, n, a.Selects()))
			}
		}
		if devs := a.Uncovered(); err == nil && len(devs) > 0 {
			return inject.GoneEarly("%s on %s: device %s came up while the fault was on (a network connected, or its device made again) and had none of what the fault puts on each device (its egress rules, its qdisc): what the target sent by it met no fault from then on", rec.Kind, u.Target, strings.Join(devs, ", "))
		}
		if err == nil {
			if moved := movedNames(ctx, env, u.Target, rec.Names); moved != "" {
				return inject.GoneEarly("%s on %s: %s", rec.Kind, u.Target, moved)
			}
		}
	} else {
		err = Revert(ctx, rec)
	}
	if err == nil || !onlyEnded(err) {
		// A revert that failed is that, whatever else it found.
		return err
	}
	if errors.Is(err, ErrGone) {
		// The container restarted or went away: the fault went with it,
		// at a moment the run did not see.
		return inject.GoneEarly("%s on %s: %v; the fault went with it", rec.Kind, u.Target, ErrGone)
	}
	if uh, ok := errors.AsType[*Unheld](err); ok {
		// Reverted, but for part of the traffic it was never on.
		return inject.GoneEarly("%s on %s: %v", rec.Kind, u.Target, uh)
	}
	rg, _ := errors.AsType[*RulesGone](err)
	return inject.GoneEarly("%s on %s: %v", rec.Kind, u.Target, rg)
}

// movedNames says, for people, which of the containers a fault's
// settings name are now at an address the name did not stand for when
// the fault went on (reconnected to a network, recreated): the fault's
// rules select the old addresses only, so the traffic to the new one met
// no fault from the moment it moved. "" when none moved, or when the
// engine cannot tell (a container that is gone takes no traffic).
func movedNames(ctx context.Context, env *inject.Env, t inject.Target, names Names) string {
	if len(names) == 0 {
		return ""
	}
	e, err := docker.EngineOf(ctx, env, t)
	if err != nil {
		return ""
	}
	var out []string
	for _, n := range slices.Sorted(maps.Keys(names)) {
		as, err := e.Addresses(ctx, n)
		if err != nil {
			continue
		}
		var added []string
		for _, a := range as {
			if !slices.Contains(names[n], a.Addr) {
				added = append(added, a.Addr.String())
			}
		}
		if len(added) > 0 {
			out = append(out, fmt.Sprintf("container %s is now at %s, which the fault's rules do not select (they select %v, its addresses when the fault went on): it moved while the fault was on (reconnected or recreated), and its traffic at the new address met no fault from then on", n, strings.Join(added, ", "), names[n]))
		}
	}
	return strings.Join(out, "; ")
}

// unmet says, for people, that the fault of rec met nothing, and what
// it selects.
func unmet(rec Record, selects string) string {
	if rec.Kind == (&Intercept{}).Kind() {
		return fmt.Sprintf("no connection to %s came to its proxy, or its fault acted on none of what came (an HTTP fault's method, path or header matched no request, or its percent picked nothing); connections opened before it stay direct unless it cuts them (cut_established)", selects)
	}
	return fmt.Sprintf("no packet it selects (%s) was sent or received while it was on", selects)
}

// ownPort explains, when the target listened on the port of a fault that
// met nothing, that port is the other end's: a server's clients send from
// ports of their own, so a fault filtered to the server's own port meets
// none of their traffic.
func ownPort(port uint16) string {
	if port == 0 {
		return ""
	}
	return fmt.Sprintf("; port %d is the other end's port, and the target itself listens on %d: its clients' packets come from their own ports, not %d, so the fault selects none of them (to hit the target's clients, leave port out, give their host, or put the fault on the clients)", port, port, port)
}

// onlyEnded reports whether err says only that the fault had ended, or
// partly never began, before its revert: ErrGone, *Unheld, *RulesGone.
func onlyEnded(err error) bool {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			if !onlyEnded(e) {
				return false
			}
		}
		return true
	}
	_, unheld := errors.AsType[*Unheld](err)
	_, gone := errors.AsType[*RulesGone](err)
	return errors.Is(err, ErrGone) || unheld || gone
}

// describe says where f would act on t, and what it would install.
func describe(ctx context.Context, env *inject.Env, t inject.Target, f Fault) ([]string, error) {
	ns, err := namespaceOf(ctx, env, t)
	if err != nil {
		return nil, err
	}
	names, err := resolveNames(ctx, env, t, f)
	if err != nil {
		return nil, err
	}
	rec, err := PlanNamed(ns, runID(env), nextSeq(env), f, names)
	if err != nil {
		return nil, err
	}
	out := []string{"in network namespace " + ns.String() + ", " + reaches(f)}
	for _, n := range rec.Names.describe(NamesOf(f)) {
		out = append(out, "  "+n)
	}
	for _, r := range rec.Rules {
		out = append(out, "  "+r)
	}
	if x, ok := f.(interface{ filter() *Filter }); ok && x.filter().Port > 0 && ns.listensOn(uint16(x.filter().Port)) {
		p := x.filter().Port
		out = append(out, fmt.Sprintf("  note: the target listens on %d, and port is the other end's: the packets of its clients come from their own ports, not %d, and are not selected", p, p))
	}
	return out, nil
}

// reaches says which connections a fault acts on.
func reaches(f Fault) string {
	switch f := f.(type) {
	case *Intercept:
		if f.CutEstablished {
			return "on new connections to the dependency; open ones are cut when it goes on, so that their clients reconnect through the proxy"
		}
		return "on new connections to the dependency only: connections open before it stay direct (cut_established: true cuts them)"
	case *Bandwidth:
		return "on every packet sent, of open connections as well as new ones"
	}
	return "on every matching packet, of open connections as well as new ones"
}

// HostNeeds says that a network fault acts in the container's namespace
// from this machine: its engine must be on this machine.
func (s *settings[F, PF]) HostNeeds() (experiment.HostNeed, string) {
	return experiment.NeedsLocalEngine, "a network fault acts in the container's network namespace from this machine"
}

// HostNeeds says that the intercept fault acts in the container's
// namespace from this machine: its engine must be on this machine.
func (s *InterceptSettings) HostNeeds() (experiment.HostNeed, string) {
	return experiment.NeedsLocalEngine, "intercept acts in the container's network namespace from this machine"
}
