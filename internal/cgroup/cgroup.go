// Package cgroup finds the control groups of a process on this host and
// reads what they allow and use: CPU quota, period and shares, CPU time
// used and throttled, memory limit and usage. It handles cgroup v1 (one
// hierarchy per controller, or several controllers sharing one), v2 (the
// unified hierarchy) and the hybrid layout, where v1 controllers sit next
// to an empty unified hierarchy.
//
// It reads /proc and the cgroup file systems and writes nothing but the
// cgroup.procs file Join writes to.
package cgroup

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Hierarchy is one cgroup hierarchy a process is in, and where in it.
type Hierarchy struct {
	// Controllers are the v1 controllers of the hierarchy ("cpu",
	// "cpuacct"), or its name ("name=systemd"); empty for the unified (v2)
	// hierarchy.
	Controllers []string `json:"controllers,omitempty"`
	// Mount is where the hierarchy is mounted on this host, such as
	// /sys/fs/cgroup/memory.
	Mount string `json:"mount"`
	// Path is the process's cgroup within the hierarchy, such as
	// /docker/0123abcd...; "/" is the root.
	Path string `json:"path"`
}

// Dir returns the directory of the cgroup.
func (h Hierarchy) Dir() string { return filepath.Join(h.Mount, filepath.FromSlash(h.Path)) }

// Unified reports whether h is the v2 hierarchy.
func (h Hierarchy) Unified() bool { return len(h.Controllers) == 0 }

// has reports whether the v1 hierarchy h holds controller c.
func (h Hierarchy) has(c string) bool { return slices.Contains(h.Controllers, c) }

// Group is where one process sits in every cgroup hierarchy mounted here.
// It is plain data, so that it can be stored and handed to another process.
type Group struct {
	// V2 is set when the controllers live in the unified hierarchy (a
	// pure cgroup v2 host). A hybrid host, with v1 controllers and an empty
	// unified hierarchy, counts as v1.
	V2 bool `json:"v2,omitempty"`
	// Hierarchies lists the process's cgroup in each hierarchy that is
	// mounted where this process can see it.
	Hierarchies []Hierarchy `json:"hierarchies"`
}

// ErrNotMounted is returned when a controller a reading needs is not
// mounted where this process can see it.
var ErrNotMounted = errors.New("cgroup controller not mounted")

// hierarchy returns the hierarchy holding controller c: on v2 the unified
// one, on v1 the one with c among its controllers.
func (g Group) hierarchy(c string) (Hierarchy, error) {
	for _, h := range g.Hierarchies {
		if (g.V2 && h.Unified()) || (!g.V2 && h.has(c)) {
			return h, nil
		}
	}
	return Hierarchy{}, fmt.Errorf("%w: %s", ErrNotMounted, c)
}

// Dir returns the directory of the group's cgroup for controller c
// ("cpu", "memory"): on v2 the one directory of the unified hierarchy.
func (g Group) Dir(c string) (string, error) {
	h, err := g.hierarchy(c)
	if err != nil {
		return "", err
	}
	return h.Dir(), nil
}

// Equal reports whether g and o are the same cgroups.
func (g Group) Equal(o Group) bool {
	return g.V2 == o.V2 && slices.EqualFunc(g.Hierarchies, o.Hierarchies, func(a, b Hierarchy) bool {
		return a.Mount == b.Mount && a.Path == b.Path && slices.Equal(a.Controllers, b.Controllers)
	})
}

// String names the group for messages: the path of its CPU (or first)
// hierarchy.
func (g Group) String() string {
	if h, err := g.hierarchy("cpu"); err == nil {
		return h.Path
	}
	if len(g.Hierarchies) > 0 {
		return g.Hierarchies[0].Path
	}
	return "(no cgroup)"
}

// FS reads cgroup information through a /proc tree. The zero value reads
// the real /proc; tests point Proc at a fake one whose self/mountinfo
// names fake cgroup mounts.
type FS struct {
	// Proc is the proc file system; "/proc" when empty.
	Proc string
}

func (fs FS) proc() string {
	if fs.Proc == "" {
		return "/proc"
	}
	return fs.Proc
}

// Of returns the cgroups of process pid as this process sees them.
func Of(pid int) (Group, error) { return FS{}.Of(pid) }

// Of returns the cgroups of process pid.
func (fs FS) Of(pid int) (Group, error) {
	b, err := os.ReadFile(filepath.Join(fs.proc(), strconv.Itoa(pid), "cgroup"))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return Group{}, fmt.Errorf("process %d does not exist", pid)
		}
		return Group{}, fmt.Errorf("read the cgroups of process %d: %w", pid, err)
	}
	mounts, err := fs.mounts()
	if err != nil {
		return Group{}, err
	}
	return resolve(pid, b, mounts)
}

// Paths returns the cgroup paths of process pid, one per hierarchy, as
// /proc/PID/cgroup names them: /docker/0123... on v1 with the cgroupfs
// driver, /system.slice/docker-0123....scope with systemd's. Unlike Of, it
// needs no hierarchy mounted where this process can see it.
func Paths(pid int) ([]string, error) { return FS{}.Paths(pid) }

// Paths returns the cgroup paths of process pid, one per hierarchy.
func (fs FS) Paths(pid int) ([]string, error) {
	b, err := os.ReadFile(filepath.Join(fs.proc(), strconv.Itoa(pid), "cgroup"))
	if err != nil {
		return nil, fmt.Errorf("read the cgroups of process %d: %w", pid, err)
	}
	var out []string
	for _, l := range parse(b) {
		out = append(out, l.path)
	}
	return out, nil
}

// line is one line of /proc/PID/cgroup: a hierarchy and the process's
// cgroup in it.
type line struct {
	// ctrls are the v1 controllers of the hierarchy; none for v2.
	ctrls []string
	path  string
}

// parse reads the lines of /proc/PID/cgroup:
// hierarchy-ID:controller-list:cgroup-path.
func parse(procCgroup []byte) []line {
	var out []line
	for l := range strings.Lines(string(procCgroup)) {
		parts := strings.SplitN(strings.TrimRight(l, "\n"), ":", 3)
		if len(parts) != 3 {
			continue
		}
		var ctrls []string
		if parts[1] != "" {
			ctrls = strings.Split(parts[1], ",")
		}
		out = append(out, line{ctrls: ctrls, path: parts[2]})
	}
	return out
}

// mount is one cgroup file system mount from mountinfo.
type mount struct {
	root, point string
	v2          bool
	opts        []string // super options: controllers and flags of a v1 mount
}

// mounts lists the cgroup mounts this process sees.
func (fs FS) mounts() ([]mount, error) {
	f, err := os.Open(filepath.Join(fs.proc(), "self", "mountinfo"))
	if err != nil {
		return nil, fmt.Errorf("list the cgroup mounts: %w", err)
	}
	defer f.Close()
	var out []mount
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		// 36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		if !ok {
			continue
		}
		fields, tail := strings.Fields(pre), strings.Fields(post)
		if len(fields) < 5 || len(tail) < 3 {
			continue
		}
		switch tail[0] {
		case "cgroup":
			out = append(out, mount{root: unescape(fields[3]), point: unescape(fields[4]), opts: strings.Split(tail[2], ",")})
		case "cgroup2":
			out = append(out, mount{root: unescape(fields[3]), point: unescape(fields[4]), v2: true})
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("list the cgroup mounts: %w", err)
	}
	return out, nil
}

// unescape undoes mountinfo's octal escapes of space, tab, newline and
// backslash.
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// resolve turns the lines of /proc/PID/cgroup into directories under the
// mounts.
func resolve(pid int, procCgroup []byte, mounts []mount) (Group, error) {
	var g Group
	v1 := false
	for _, l := range parse(procCgroup) {
		ctrls, path := l.ctrls, l.path
		for _, c := range ctrls {
			if !strings.HasPrefix(c, "name=") {
				v1 = true
			}
		}
		m, ok := findMount(mounts, ctrls, path)
		if !ok {
			continue
		}
		rel := path
		if m.root != "/" {
			rel = strings.TrimPrefix(path, m.root)
			if rel == "" {
				rel = "/"
			}
		}
		g.Hierarchies = append(g.Hierarchies, Hierarchy{Controllers: ctrls, Mount: m.point, Path: rel})
	}
	g.V2 = !v1
	if len(g.Hierarchies) == 0 {
		return Group{}, fmt.Errorf("no cgroup of process %d is mounted where chaos can see it: mount the cgroup file systems (/sys/fs/cgroup)", pid)
	}
	if g.V2 {
		if _, err := g.hierarchy(""); err != nil {
			return Group{}, fmt.Errorf("process %d is in cgroup v2, whose hierarchy is not mounted here: mount cgroup2 on /sys/fs/cgroup", pid)
		}
	}
	return g, nil
}

// findMount returns the mount of the hierarchy with controllers ctrls (the
// unified one when ctrls is empty) under which path lies.
func findMount(mounts []mount, ctrls []string, path string) (mount, bool) {
	for _, m := range mounts {
		if m.v2 != (len(ctrls) == 0) {
			continue
		}
		if !m.v2 && !containsAll(m.opts, ctrls) {
			continue
		}
		if m.root == "/" || path == m.root || strings.HasPrefix(path, strings.TrimSuffix(m.root, "/")+"/") {
			return m, true
		}
	}
	return mount{}, false
}

func containsAll(set, want []string) bool {
	for _, w := range want {
		if !slices.Contains(set, w) {
			return false
		}
	}
	return true
}

// Join moves process pid, with all its threads, into every cgroup of g.
// A process already there is left where it is.
func (g Group) Join(pid int) error {
	for _, h := range g.Hierarchies {
		if err := writeFile(filepath.Join(h.Dir(), "cgroup.procs"), strconv.Itoa(pid)); err != nil {
			return fmt.Errorf("move process %d into cgroup %s: %w", pid, h.Dir(), err)
		}
	}
	return nil
}

// Holds reports whether process pid is in every cgroup of g, as fs sees it.
func (fs FS) Holds(g Group, pid int) (bool, error) {
	cur, err := fs.Of(pid)
	if err != nil {
		return false, err
	}
	for _, want := range g.Hierarchies {
		found := false
		for _, h := range cur.Hierarchies {
			if h.Mount == want.Mount && h.Path == want.Path {
				found = true
				break
			}
		}
		if !found {
			return false, nil
		}
	}
	return true, nil
}

func writeFile(path, s string) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, err = f.WriteString(s)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// readInt reads a file holding one integer. "max" reads as -1.
func readInt(path string) (int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	s := string(bytes.TrimSpace(b))
	if s == "max" {
		return -1, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("read %s: %q is not a number", path, s)
	}
	return n, nil
}

// readKeyed reads a file of "key value" lines, such as cpu.stat.
func readKeyed(path string) (map[string]int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	out := map[string]int64{}
	for line := range strings.Lines(string(b)) {
		k, v, ok := strings.Cut(strings.TrimSpace(line), " ")
		if !ok {
			continue
		}
		if n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil {
			out[k] = n
		}
	}
	return out, nil
}

// ancestors returns the directories of h's cgroup and of its parents up to
// the hierarchy's root, nearest first.
func (h Hierarchy) ancestors() []string {
	var out []string
	p := h.Path
	for {
		out = append(out, filepath.Join(h.Mount, filepath.FromSlash(p)))
		if p == "/" || p == "" || p == "." {
			return out
		}
		p = filepath.ToSlash(filepath.Dir(p))
	}
}
