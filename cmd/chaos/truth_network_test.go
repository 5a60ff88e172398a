package main

import (
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gamedayhq/chaos/internal/inject/docker/dockertest"
	"github.com/gamedayhq/chaos/internal/inject/network/lab"
)

// TestTruthTableNetwork runs the rows of the network faults. The front of
// a docker or process row runs in a box container's namespace (it is a
// host process entered into it), which the fault acts in: the box
// container itself, or the front's process. The front of a host row runs
// in the host's namespace, which the fault acts in, filtered to the
// row's own backend container. The robust host rows' backends are on a
// second network, so that the two bandwidth faults in the host's
// namespace shape different devices.
func TestTruthTableNetwork(t *testing.T) {
	t.Parallel()
	lab.RequireRoot(t)
	env := dockertest.New(t)
	net1, subnet1 := env.Network("truthnet", true)
	net2, subnet2 := env.Network("truthnet2", true)
	ip := func(subnet string, n int) string { return strings.TrimSuffix(subnet, "0/24") + strconv.Itoa(n) }
	replica := dockertest.Spec{Name: "net-replica", Labels: env.Labels(nil), Network: net1, IPv4: ip(subnet1, 10)}
	backend := dockertest.Spec{Name: "net-backend", Labels: env.Labels(nil), Network: net1, IPv4: ip(subnet1, 11)}
	specs := []dockertest.Spec{replica, backend}
	boxes := map[int]*truthRun{} // spec index -> run whose netns it is
	var runs []*truthRun
	n1, n2 := 12, 10
	for _, c := range truthCases {
		if !c.network {
			continue
		}
		kind, _, _ := strings.Cut(c.fault, "/")
		for _, robust := range c.targets() {
			r := newTruthRun(t, c, robust)
			name := "net-" + strings.ReplaceAll(c.fault, "/", "-") + "-" + r.target()
			if robust {
				r.vars["replica"] = replica.IPv4 + ":8080"
			}
			if kind == "host" {
				// The front on the host's loopback; a backend of its own.
				s := dockertest.Spec{Name: name, Labels: env.Labels(nil), Network: net1, IPv4: ip(subnet1, n1)}
				if robust {
					s.Network, s.IPv4 = net2, ip(subnet2, n2)
					n2++
				} else {
					n1++
				}
				r.vars["backend_ip"] = s.IPv4
				specs = append(specs, s)
			} else {
				s := dockertest.Spec{Name: name, Labels: env.Labels(nil), Network: net1, IPv4: ip(subnet1, n1)}
				n1++
				r.vars["box"] = env.Name(name)
				r.vars["front_ip"] = s.IPv4
				r.vars["backend_ip"] = backend.IPv4
				boxes[len(specs)] = r
				specs = append(specs, s)
			}
			runs = append(runs, r)
		}
	}
	setup := time.Now()
	ids := env.RunMany(len(specs), func(i int) dockertest.Spec { return specs[i] })
	for i, r := range boxes {
		r.vars["netns"] = "/proc/" + strconv.Itoa(env.Inspect(ids[i]).State.Pid) + "/ns/net"
	}
	var wg sync.WaitGroup
	errs := make([]error, len(specs))
	for i, s := range specs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = waitHTTP(s.IPv4+":8080", 30*time.Second)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d containers ready in %s", len(specs), time.Since(setup).Round(time.Millisecond))
	runTruth(t, runs)
}
