package network_test

import (
	"encoding/json"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/gamedayhq/chaos/internal/experiment"
	"github.com/gamedayhq/chaos/internal/inject/network"
)

func pct(p float64) *experiment.Percent {
	v := experiment.Percent(p / 100)
	return &v
}

// A namespace value as a record holds it; Plan touches nothing, so it
// need not exist.
var someNS = network.Namespace{PID: 4242, Inode: 4026532322}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name  string
		fault network.Fault
		want  string // "" is valid
	}{
		{"blackhole of everything", &network.Blackhole{}, ""},
		{"host and port", &network.Blackhole{Filter: network.Filter{Host: "10.0.0.7", Port: 80, Protocol: "tcp"}}, ""},
		{"network", &network.Blackhole{Filter: network.Filter{Host: "10.0.0.0/8"}}, ""},
		{"container for host", &network.Blackhole{Filter: network.Filter{Host: "payment"}}, ""},
		{"neither name nor address", &network.Blackhole{Filter: network.Filter{Host: "pay ment"}}, `host "pay ment" is not an IPv4 or IPv6 address`},
		{"bad address", &network.Blackhole{Filter: network.Filter{Host: "10.0.0.300"}}, `host "10.0.0.300" is not an IPv4 or IPv6 address`},
		{"IPv6", &network.Blackhole{Filter: network.Filter{Host: "fd00::1"}}, ""},
		{"IPv6 network", &network.Blackhole{Filter: network.Filter{Host: "fd00:c4a0::/64"}}, ""},
		{"unspecified host", &network.Blackhole{Filter: network.Filter{Host: "0.0.0.0"}}, `host "0.0.0.0" is no host`},
		{"unspecified IPv6 host", &network.Latency{Filter: network.Filter{Host: "::"}, Delay: time.Second}, `host "::" is no host`},
		{"unspecified host as a network", &network.Loss{Filter: network.Filter{Host: "0.0.0.0/32", Percent: pct(30)}}, `host "0.0.0.0/32" is no host`},
		{"every IPv4 host", &network.Blackhole{Filter: network.Filter{Host: "0.0.0.0/0"}}, ""},
		{"partition from an unspecified peer", &network.Partition{Peers: []string{"10.0.0.1", "0.0.0.0"}}, `peers[1]: host "0.0.0.0" is no host`},
		{"latency of loopback traffic without a port", &network.Latency{Filter: network.Filter{Host: "127.0.0.1"}, Delay: time.Second}, "host 127.0.0.1 is a loopback address and no port is given"},
		{"latency of loopback traffic", &network.Latency{Filter: network.Filter{Host: "127.0.0.1", Port: 5432}, Delay: time.Second}, ""},
		{"loss of IPv6 loopback traffic without a port", &network.Loss{Filter: network.Filter{Host: "::1", Percent: pct(30)}}, "give the dependency's port"},
		{"duplicate of loopback traffic without a port", &network.Duplicate{Filter: network.Filter{Host: "127.0.0.1", Direction: network.Ingress}}, "give the dependency's port"},
		{"bandwidth of loopback traffic without a port", &network.Bandwidth{Filter: network.Filter{Host: "127.0.0.1"}, Rate: 1e6}, "give the dependency's port"},
		{"blackhole of loopback traffic", &network.Blackhole{Filter: network.Filter{Host: "127.0.0.1"}}, ""},
		{"blackhole of a share of loopback traffic", &network.Blackhole{Filter: network.Filter{Host: "127.0.0.0/8", Percent: pct(50)}}, "host 127.0.0.0/8 is a loopback address"},
		{"partition from loopback of a share", &network.Partition{Peers: []string{"10.0.0.1", "127.0.0.1"}, Percent: pct(50)}, "peers[1]: host 127.0.0.1 is a loopback address"},
		{"IPv6 with a zone", &network.Blackhole{Filter: network.Filter{Host: "fe80::1%eth0"}}, "leave the zone out"},
		{"IPv4 in IPv6, short network", &network.Blackhole{Filter: network.Filter{Host: "::ffff:10.0.0.0/80"}}, "needs /96 or more"},
		{"bad network", &network.Blackhole{Filter: network.Filter{Host: "10.0.0.0/33"}}, `host "10.0.0.0/33" is not an IPv4 or IPv6 network`},
		{"bad IPv6 network", &network.Blackhole{Filter: network.Filter{Host: "fd00::/129"}}, `host "fd00::/129" is not an IPv4 or IPv6 network`},
		{"port out of range", &network.Blackhole{Filter: network.Filter{Port: 70000}}, "port 70000 is not a port number"},
		{"protocol", &network.Blackhole{Filter: network.Filter{Protocol: "sctp"}}, `protocol "sctp": use tcp or udp`},
		{"direction", &network.Blackhole{Filter: network.Filter{Direction: "out"}}, `direction "out": use egress, ingress or both`},
		{"percent 0", &network.Blackhole{Filter: network.Filter{Percent: pct(0)}}, "percent 0% would never hit"},
		{"percent tiny", &network.Blackhole{Filter: network.Filter{Percent: pct(0.001)}}, "below 0.01%"},
		{"loss without percent", &network.Loss{}, "percent is required"},
		{"loss", &network.Loss{Filter: network.Filter{Percent: pct(30)}}, ""},
		{"partition without peers", &network.Partition{}, "peers is required"},
		{"partition bad peer", &network.Partition{Peers: []string{"10.0.0.1", "10.0.0.0/40"}}, `peers[1]: host "10.0.0.0/40"`},
		{"partition of both families", &network.Partition{Peers: []string{"10.0.0.1", "fd00::/8"}}, ""},
		{"partition of a container", &network.Partition{Peers: []string{"10.0.0.1", "payment-1"}}, ""},
		{"partition", &network.Partition{Peers: []string{"10.0.0.1", "10.1.0.0/16"}, Direction: network.Egress}, ""},
		{"partition empty peer", &network.Partition{Peers: []string{"10.0.0.1", ""}}, "peers[1]: empty"},
		{"partition of a port", &network.Partition{Peers: []string{"10.0.0.1"}, Port: 5432, Protocol: "tcp", Percent: pct(50)}, ""},
		{"partition port out of range", &network.Partition{Peers: []string{"10.0.0.1"}, Port: 70000}, "port 70000 is not a port number"},
		{"partition protocol", &network.Partition{Peers: []string{"10.0.0.1"}, Protocol: "icmp"}, `protocol "icmp": use tcp or udp`},
		{"partition direction", &network.Partition{Peers: []string{"10.0.0.1"}, Direction: "in"}, `direction "in": use egress, ingress or both`},
		{"partition percent 0", &network.Partition{Peers: []string{"10.0.0.1"}, Percent: pct(0)}, "percent 0% would never hit"},
		{"partition filter without peers", &network.Partition{Port: 80}, "peers is required"},
		{"reject", &network.Reject{}, ""},
		{"reject reset udp", &network.Reject{Filter: network.Filter{Protocol: "udp"}, With: "reset"}, "with reset needs protocol tcp"},
		{"reject reset any", &network.Reject{With: "reset"}, "with reset needs protocol tcp"},
		{"reject with what", &network.Reject{With: "rst"}, `with "rst": use reset, port-unreachable`},
		{"reject icmp", &network.Reject{With: "admin-prohibited"}, ""},
		{"bandwidth without rate", &network.Bandwidth{}, "rate is required"},
		{"bandwidth too slow", &network.Bandwidth{Rate: 100}, "below 8kbit"},
		{"bandwidth ingress", &network.Bandwidth{Rate: 1e6, Filter: network.Filter{Direction: network.Ingress}}, "bandwidth shapes egress only"},
		{"bandwidth percent", &network.Bandwidth{Rate: 1e6, Filter: network.Filter{Percent: pct(50)}}, "percent does not apply to bandwidth"},
		{"bandwidth small burst", &network.Bandwidth{Rate: 1e6, Burst: 100}, "below one packet"},
		{"bandwidth", &network.Bandwidth{Rate: 1e6, Filter: network.Filter{Host: "10.0.0.2"}}, ""},
		{"latency 0", &network.Latency{}, "delay is required"},
		{"latency negative", &network.Latency{Delay: -time.Second}, "0 or more"},
		{"latency jitter over delay", &network.Latency{Delay: time.Millisecond, Jitter: 2 * time.Millisecond}, "jitter 2ms is more than delay 1ms"},
		{"latency forever", &network.Latency{Delay: time.Hour}, "that is a blackhole"},
		{"latency", &network.Latency{Delay: 50 * time.Millisecond, Jitter: 10 * time.Millisecond}, ""},
		{"reorder without percent", &network.Reorder{}, "percent is required"},
		{"reorder of all", &network.Reorder{Filter: network.Filter{Percent: pct(100)}}, "that is a latency"},
		{"reorder", &network.Reorder{Filter: network.Filter{Percent: pct(25)}}, ""},
		{"corrupt", &network.Corrupt{Filter: network.Filter{Percent: pct(5)}}, ""},
		{"duplicate", &network.Duplicate{Filter: network.Filter{Direction: network.Both}}, ""},
		{"intercept of everything", &network.Intercept{}, "host or port is required"},
		{"intercept udp", &network.Intercept{Filter: network.Filter{Port: 53, Protocol: "udp"}}, `protocol "udp": the proxy carries tcp only`},
		{"intercept ingress", &network.Intercept{Filter: network.Filter{Port: 80, Direction: network.Ingress}}, "intercept takes the connections the target opens"},
		{"intercept percent", &network.Intercept{Filter: network.Filter{Port: 80, Percent: pct(50)}}, "each proxy fault has its own"},
		{"intercept", &network.Intercept{Filter: network.Filter{Host: "10.0.0.2", Port: 80}, HTTP: true}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.fault.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("Validate() = %v; want nil", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("Validate() = %v; want an error with %q", err, tc.want)
			}
			_, perr := network.PlanNamed(someNS, "run1", 1, tc.fault, network.Names{"payment": {netip.MustParseAddr("10.0.0.9")}, "payment-1": {netip.MustParseAddr("10.0.0.9")}})
			if (perr == nil) != (err == nil) {
				t.Fatalf("Plan() = %v, but Validate() = %v", perr, err)
			}
		})
	}
}

// Plan names the fault's table for the run and says which rules it will
// install, in nft's words, without a namespace to look at.
func TestPlanRules(t *testing.T) {
	for _, tc := range []struct {
		name  string
		fault network.Fault
		want  []string
	}{
		{"blackhole both ways", &network.Blackhole{Filter: network.Filter{Host: "10.0.0.7", Port: 5432, Protocol: "tcp"}}, []string{
			`ip chaos_20250101T000000Z_ab12_3 ingress (prerouting): iif != "lo" ip saddr 10.0.0.7 meta l4proto tcp th sport 5432 counter drop`,
			`netdev chaos_20250101T000000Z_ab12_3 egress (each device): meta protocol ip ip daddr 10.0.0.7 meta l4proto tcp th dport 5432 counter drop`,
		}},
		{"loss on a network", &network.Loss{Filter: network.Filter{Host: "10.1.0.0/16", Percent: pct(30)}}, []string{
			`netdev chaos_20250101T000000Z_ab12_3 egress (each device): meta protocol ip ip daddr 10.1.0.0/16 numgen random mod 100 < 30 counter drop`,
		}},
		{"loss to a port of both protocols", &network.Loss{Filter: network.Filter{Port: 53, Percent: pct(12.5)}}, []string{
			`netdev chaos_20250101T000000Z_ab12_3 egress (each device): meta protocol ip meta l4proto tcp th dport 53 numgen random mod 10000 < 1250 counter drop`,
			`netdev chaos_20250101T000000Z_ab12_3 egress (each device): meta protocol ip meta l4proto udp th dport 53 numgen random mod 10000 < 1250 counter drop`,
			`netdev chaos_20250101T000000Z_ab12_3 egress (each device): meta protocol ip6 meta l4proto tcp th dport 53 numgen random mod 10000 < 1250 counter drop`,
			`netdev chaos_20250101T000000Z_ab12_3 egress (each device): meta protocol ip6 meta l4proto udp th dport 53 numgen random mod 10000 < 1250 counter drop`,
		}},
		{"blackhole of IPv6 and IPv4 peers", &network.Partition{Peers: []string{"fd00:c4a0::/64", "10.0.0.7", "::ffff:10.0.0.8"}, Direction: network.Ingress}, []string{
			`ip chaos_20250101T000000Z_ab12_3 ingress (prerouting): iif != "lo" ip saddr 10.0.0.7 counter drop`,
			`ip chaos_20250101T000000Z_ab12_3 ingress (prerouting): iif != "lo" ip saddr 10.0.0.8 counter drop`,
			`ip6 chaos_20250101T000000Z_ab12_3 ingress (prerouting): meta l4proto ipv6-icmp icmpv6 type 133-137 return`,
			`ip6 chaos_20250101T000000Z_ab12_3 ingress (prerouting): iif != "lo" ip6 saddr fd00:c4a0::/64 counter drop`,
		}},
		{"loss to an IPv6 host", &network.Loss{Filter: network.Filter{Host: "fd00::7", Percent: pct(30)}}, []string{
			`netdev chaos_20250101T000000Z_ab12_3 egress (each device): meta protocol ip6 meta l4proto ipv6-icmp icmpv6 type 133-137 return`,
			`netdev chaos_20250101T000000Z_ab12_3 egress (each device): meta protocol ip6 ip6 daddr fd00::7 numgen random mod 100 < 30 counter drop`,
		}},
		{"partition of a port, one way, some packets", &network.Partition{Peers: []string{"10.0.0.7", "10.1.0.0/16"}, Port: 5432, Protocol: "tcp", Direction: network.Ingress, Percent: pct(25)}, []string{
			`ip chaos_20250101T000000Z_ab12_3 ingress (prerouting): iif != "lo" ip saddr 10.0.0.7 meta l4proto tcp th sport 5432 numgen random mod 100 < 25 counter drop`,
			`ip chaos_20250101T000000Z_ab12_3 ingress (prerouting): iif != "lo" ip saddr 10.1.0.0/16 meta l4proto tcp th sport 5432 numgen random mod 100 < 25 counter drop`,
		}},
		{"reject any protocol", &network.Reject{Filter: network.Filter{Host: "10.0.0.7"}}, []string{
			`ip chaos_20250101T000000Z_ab12_3 egress (output): oif != "lo" ip daddr 10.0.0.7 meta l4proto tcp counter reject with tcp reset`,
			`ip chaos_20250101T000000Z_ab12_3 egress (output): oif != "lo" ip daddr 10.0.0.7 meta l4proto != tcp counter reject with icmp port-unreachable`,
		}},
		{"reject of every IPv6 host", &network.Reject{Filter: network.Filter{Host: "::/0", Port: 53, Protocol: "udp"}, With: "host-unreachable"}, []string{
			`ip6 chaos_20250101T000000Z_ab12_3 egress (output): oif != "lo" meta l4proto udp th dport 53 counter reject with icmpv6 addr-unreachable`,
		}},
		{"reject everywhere", &network.Reject{Filter: network.Filter{Port: 80, Protocol: "tcp"}}, []string{
			`ip chaos_20250101T000000Z_ab12_3 egress (output): oif != "lo" meta l4proto tcp th dport 80 counter reject with tcp reset`,
			`ip6 chaos_20250101T000000Z_ab12_3 egress (output): oif != "lo" meta l4proto tcp th dport 80 counter reject with tcp reset`,
		}},
		{"latency of replies", &network.Latency{Filter: network.Filter{Host: "10.0.0.7", Port: 53, Protocol: "udp"}, Delay: time.Second}, []string{
			`ip chaos_20250101T000000Z_ab12_3 hold_in (prerouting): iif != "lo" ip saddr 10.0.0.7 meta l4proto udp th sport 53 counter queue num 45312 bypass`,
		}},
		{"duplicate loopback traffic", &network.Duplicate{Filter: network.Filter{Host: "127.0.0.1", Port: 53, Protocol: "udp", Direction: network.Both, Percent: pct(1)}}, []string{
			`ip chaos_20250101T000000Z_ab12_3 dup_out (postrouting): ip daddr 127.0.0.1 meta l4proto udp th dport 53 numgen random mod 100 < 1 counter dup to rt ip nexthop device oif`,
			`ip chaos_20250101T000000Z_ab12_3 dup_out (postrouting): ip daddr 127.0.0.1 meta l4proto udp th dport 53 return`,
			`ip chaos_20250101T000000Z_ab12_3 dup_out (postrouting): ip saddr 127.0.0.1 meta l4proto udp th sport 53 numgen random mod 100 < 1 counter dup to rt ip nexthop device oif`,
		}},
		{"duplicate IPv6", &network.Duplicate{Filter: network.Filter{Host: "fd00::7", Direction: network.Both}}, []string{
			`ip6 chaos_20250101T000000Z_ab12_3 dup_out (postrouting): meta l4proto ipv6-icmp icmpv6 type 133-137 return`,
			`ip6 chaos_20250101T000000Z_ab12_3 dup_out (postrouting): oif != "lo" ip6 daddr fd00::7 counter dup to rt ip6 nexthop device oif`,
			`ip6 chaos_20250101T000000Z_ab12_3 dup_in (prerouting): meta l4proto ipv6-icmp icmpv6 type 133-137 return`,
			`ip6 chaos_20250101T000000Z_ab12_3 dup_in (prerouting): iif != "lo" ip6 saddr fd00::7 counter dup to ip6 daddr`,
		}},
		{"bandwidth to one host", &network.Bandwidth{Filter: network.Filter{Host: "10.0.0.7"}, Rate: 80e6}, []string{
			`qdisc htb e42f: root on the device that routes to 10.0.0.7, class e42f:3 rate 80mbit burst 65536: the packets of priority e42f:3, the rest unshaped`,
			`ip chaos_20250101T000000Z_ab12_3 shape (postrouting): ip daddr 10.0.0.7 counter meta priority set e42f:3`,
		}},
		{"bandwidth to a network", &network.Bandwidth{Filter: network.Filter{Host: "10.0.0.0/8"}, Rate: 80e6}, []string{
			`qdisc htb e42f: root on the devices that route into 10.0.0.0/8, class e42f:3 rate 80mbit burst 65536: the packets of priority e42f:3, the rest unshaped`,
			`ip chaos_20250101T000000Z_ab12_3 shape (postrouting): ip daddr 10.0.0.0/8 counter meta priority set e42f:3`,
		}},
		{"intercept", &network.Intercept{Filter: network.Filter{Host: "10.0.0.7", Port: 8080}}, []string{
			`ip chaos_20250101T000000Z_ab12_3 keep (output): ct state established counter`,
			`ip chaos_20250101T000000Z_ab12_3 direct (output): meta mark 0x000c4a05 return`,
			`ip chaos_20250101T000000Z_ab12_3 direct (output): ip daddr 10.0.0.7 meta l4proto tcp th dport 8080 ct state established counter`,
			`ip chaos_20250101T000000Z_ab12_3 redirect (output): meta mark 0x000c4a05 return`,
			`ip chaos_20250101T000000Z_ab12_3 redirect (output): ip daddr 10.0.0.7 meta l4proto tcp th dport 8080 tcp flags & (syn | ack) == syn counter redirect to :<proxy port>`,
			`(only while a proxy fault is on)`,
		}},
		{"intercept of a port on any host", &network.Intercept{Filter: network.Filter{Port: 5432}}, []string{
			`ip chaos_20250101T000000Z_ab12_3 keep (output): ct state established counter`,
			`ip chaos_20250101T000000Z_ab12_3 direct (output): meta mark 0x000c4a05 return`,
			`ip chaos_20250101T000000Z_ab12_3 direct (output): meta l4proto tcp th dport 5432 ct state established counter`,
			`ip chaos_20250101T000000Z_ab12_3 redirect (output): meta mark 0x000c4a05 return`,
			`ip chaos_20250101T000000Z_ab12_3 redirect (output): meta l4proto tcp th dport 5432 tcp flags & (syn | ack) == syn counter redirect to :<proxy port>`,
			`ip6 chaos_20250101T000000Z_ab12_3 keep (output): ct state established counter`,
			`ip6 chaos_20250101T000000Z_ab12_3 direct (output): meta mark 0x000c4a05 return`,
			`ip6 chaos_20250101T000000Z_ab12_3 direct (output): meta l4proto tcp th dport 5432 ct state established counter`,
			`ip6 chaos_20250101T000000Z_ab12_3 redirect (output): meta mark 0x000c4a05 return`,
			`ip6 chaos_20250101T000000Z_ab12_3 redirect (output): meta l4proto tcp th dport 5432 tcp flags & (syn | ack) == syn counter redirect to :<proxy port>`,
			`(only while a proxy fault is on)`,
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec, err := network.Plan(someNS, "20250101T000000Z-ab12", 3, tc.fault)
			if err != nil {
				t.Fatal(err)
			}
			if rec.Table != "chaos_20250101T000000Z_ab12_3" || rec.Kind != tc.fault.Kind() || rec.Namespace != someNS {
				t.Errorf("Plan() = %+v; want table chaos_20250101T000000Z_ab12_3 of kind %s in %v", rec, tc.fault.Kind(), someNS)
			}
			if got, want := strings.Join(rec.Rules, "\n"), strings.Join(tc.want, "\n"); got != want {
				t.Errorf("rules:\n%s\nwant:\n%s", got, want)
			}
			// The record survives a round trip through JSON, as through a ledger.
			b, err := json.Marshal(rec)
			if err != nil {
				t.Fatal(err)
			}
			var back network.Record
			if err := json.Unmarshal(b, &back); err != nil || strings.Join(back.Rules, "") != strings.Join(rec.Rules, "") || back.Namespace != rec.Namespace || back.Qdisc != rec.Qdisc || back.Queue != rec.Queue {
				t.Errorf("record after JSON = %+v, %v; want %+v", back, err, rec)
			}
		})
	}
}

func TestIsName(t *testing.T) {
	for in, want := range map[string]bool{
		"payment": true, "shop-1": true, "a.b_c": true, "2fast": true, "x": true,
		"10.0.0.7": false, "10.0.0.0/24": false, "10.0.0.300": false, "fd00::1": false,
		"": false, "-x": false, ".x": false, "pay ment": false, "pay/ment": false,
	} {
		if got := network.IsName(in); got != want {
			t.Errorf("IsName(%q) = %v; want %v", in, got, want)
		}
	}
}

// A container's name stands for its addresses, on every network: each
// gets its rules, the record keeps them, and Apply follows the record. A
// name with no addresses is refused, never taken for any address.
func TestPlanNamed(t *testing.T) {
	names := network.Names{
		"payment": {netip.MustParseAddr("172.18.0.3"), netip.MustParseAddr("172.19.0.5")},
		"ledger":  {netip.MustParseAddr("172.18.0.9")},
	}
	f := &network.Partition{Peers: []string{"payment", "10.0.0.0/8", "ledger"}, Port: 5432, Protocol: "tcp", Direction: network.Egress}
	rec, err := network.PlanNamed(someNS, "r", 1, f, names)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		`netdev chaos_r_1 egress (each device): meta protocol ip ip daddr 172.18.0.3 meta l4proto tcp th dport 5432 counter drop`,
		`netdev chaos_r_1 egress (each device): meta protocol ip ip daddr 172.19.0.5 meta l4proto tcp th dport 5432 counter drop`,
		`netdev chaos_r_1 egress (each device): meta protocol ip ip daddr 10.0.0.0/8 meta l4proto tcp th dport 5432 counter drop`,
		`netdev chaos_r_1 egress (each device): meta protocol ip ip daddr 172.18.0.9 meta l4proto tcp th dport 5432 counter drop`,
	}
	if got := strings.Join(rec.Rules, "\n"); got != strings.Join(want, "\n") {
		t.Errorf("rules:\n%s\nwant:\n%s", got, strings.Join(want, "\n"))
	}
	if len(rec.Names) != 2 || len(rec.Names["payment"]) != 2 || f.Peers[0] != "payment" {
		t.Errorf("record names %v, settings %v; want both containers' addresses recorded, the settings unchanged", rec.Names, f.Peers)
	}
	b, _ := json.Marshal(rec)
	if !strings.Contains(string(b), `"names":{"ledger":["172.18.0.9"],"payment":["172.18.0.3","172.19.0.5"]}`) {
		t.Errorf("record as JSON: %s; want the names and their addresses", b)
	}

	// A host that names a container, with every fault that takes a host.
	for _, f := range []network.Fault{
		&network.Reject{Filter: network.Filter{Host: "payment", Port: 80, Protocol: "tcp"}},
		&network.Latency{Filter: network.Filter{Host: "payment"}, Delay: time.Second},
		&network.Intercept{Filter: network.Filter{Host: "payment", Port: 80}},
		&network.Bandwidth{Filter: network.Filter{Host: "payment"}, Rate: 1e6},
	} {
		rec, err := network.PlanNamed(someNS, "r", 1, f, names)
		if err != nil {
			t.Fatalf("%s: %v", f.Kind(), err)
		}
		all := strings.Join(rec.Rules, "\n")
		if !strings.Contains(all, "172.18.0.3") || !strings.Contains(all, "172.19.0.5") {
			t.Errorf("%s: rules\n%s\nwant both addresses of payment", f.Kind(), all)
		}
		if _, err := network.Plan(someNS, "r", 1, f); err == nil || !strings.Contains(err.Error(), `"payment" names a container, whose addresses were not resolved`) {
			t.Errorf("%s: Plan() without names = %v; want a refusal", f.Kind(), err)
		}
		if _, err := network.PlanNamed(someNS, "r", 1, f, network.Names{"payment": nil}); err == nil {
			t.Errorf("%s: PlanNamed() with no address for the name passed", f.Kind())
		}
	}
}

func TestPlanRefuses(t *testing.T) {
	f := &network.Blackhole{}
	for _, tc := range []struct {
		ns   network.Namespace
		run  string
		seq  int
		want string
	}{
		{network.Namespace{PID: 1}, "r", 1, "no inode recorded"},
		{network.Namespace{PID: 1, Host: true, Inode: 1}, "r", 1, "give exactly one of pid, path and host"},
		{someNS, "", 1, "no run id"},
		{someNS, "r", 0, "fault number 0"},
		{someNS, "r", 70000, "fault number 70000"},
		{someNS, strings.Repeat("r", 201), 1, "at most 200"},
	} {
		if _, err := network.Plan(tc.ns, tc.run, tc.seq, f); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Plan(%+v, %q, %d) = %v; want an error with %q", tc.ns, tc.run, tc.seq, err, tc.want)
		}
	}
}

func TestParseBitrate(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want network.Bitrate
		str  string
	}{
		{"10mbit", 10e6, "10mbit"},
		{"1.5gbit", 1.5e9, "1500mbit"},
		{"500kbit", 500e3, "500kbit"},
		{"64bit", 64, "64bit"},
		{"2MB/s", 16e6, "16mbit"},
		{"1MiB/s", 8 << 20, "8388608bit"},
		{" 10 mbit ", 10e6, "10mbit"},
	} {
		got, err := network.ParseBitrate(tc.in)
		if err != nil || got != tc.want || got.String() != tc.str {
			t.Errorf("ParseBitrate(%q) = %v (%s), %v; want %v (%s)", tc.in, uint64(got), got, err, uint64(tc.want), tc.str)
		}
	}
	for _, bad := range []string{"", "10", "fast", "-1mbit", "10mbps", "1e400gbit"} {
		if _, err := network.ParseBitrate(bad); err == nil {
			t.Errorf("ParseBitrate(%q) = nil error", bad)
		}
	}
}

func TestTableName(t *testing.T) {
	if got := network.TableName("20250101T000000Z-ab12", 7); got != "chaos_20250101T000000Z_ab12_7" {
		t.Errorf("TableName() = %q", got)
	}
}
