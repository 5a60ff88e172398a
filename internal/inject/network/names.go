package network

import (
	"fmt"
	"net/netip"
	"reflect"
	"slices"
)

// Names are the addresses of the containers a fault's settings name, as
// host or among the peers of a partition: each container's IPv4 and IPv6
// addresses on all its networks. A run resolves them through the Docker
// engine before it plans the fault; the record keeps them, so that the
// fault applies to the addresses the plan showed.
type Names map[string][]netip.Addr

// NamesOf lists the container names f's settings give, in order, each
// once.
func NamesOf(f Fault) []string {
	var out []string
	add := func(h string) {
		if IsName(h) && !slices.Contains(out, h) {
			out = append(out, h)
		}
	}
	switch f := f.(type) {
	case *Partition:
		for _, p := range f.Peers {
			add(p)
		}
	case interface{ filter() *Filter }:
		add(f.filter().Host)
	}
	return out
}

// withNames returns a copy of f in which every container name stands for
// its addresses in names. f itself is not changed. A name that names has
// no addresses for is an error: a name is never taken for "any address".
func withNames(f Fault, names Names) (Fault, error) {
	want := NamesOf(f)
	if len(want) == 0 {
		return f, nil
	}
	for _, n := range want {
		if len(names[n]) == 0 {
			return nil, fmt.Errorf("%q names a container, whose addresses were not resolved: container names are resolved through the Docker engine in a run", n)
		}
	}
	v := reflect.New(reflect.TypeOf(f).Elem())
	v.Elem().Set(reflect.ValueOf(f).Elem())
	c := v.Interface().(Fault)
	switch c := c.(type) {
	case *Partition:
		var peers []string
		for _, p := range c.Peers {
			if !IsName(p) {
				peers = append(peers, p)
				continue
			}
			for _, a := range names[p] {
				peers = append(peers, a.String())
			}
		}
		c.Peers = peers
	case interface{ filter() *Filter }:
		fl := c.filter()
		fl.addrs = nil
		for _, a := range names[fl.Host] {
			fl.addrs = append(fl.addrs, netip.PrefixFrom(a, a.BitLen()))
		}
	}
	return c, nil
}

// withLocal returns a copy of f that knows local, the addresses of its
// namespace: a host among them is reached over the loopback device, and
// the fault acts there too. f itself is not changed.
func withLocal(f Fault, local []netip.Addr) Fault {
	if len(local) == 0 {
		return f
	}
	v := reflect.New(reflect.TypeOf(f).Elem())
	v.Elem().Set(reflect.ValueOf(f).Elem())
	c := v.Interface().(Fault)
	switch c := c.(type) {
	case *Partition:
		c.local = local
	case interface{ filter() *Filter }:
		c.filter().local = local
	}
	return c
}

// describe lists the names and their addresses, for people.
func (n Names) describe(order []string) []string {
	var out []string
	for _, name := range order {
		as := ""
		for i, a := range n[name] {
			if i > 0 {
				as += ", "
			}
			as += a.String()
		}
		out = append(out, fmt.Sprintf("container %s is %s", name, as))
	}
	return out
}
