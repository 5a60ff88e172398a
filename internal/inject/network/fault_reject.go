package network

import "github.com/gamedayhq/chaos/internal/experiment"

// The reject fault refuses the selected packets at once: TCP reset or ICMP unreachable, in the namespace of a docker, process or host
// target; see Reject.
func init() {
	register[Reject]("reject", experiment.Doc{
		Summary: "Refuses the selected packets at once, with a TCP reset or an ICMP unreachable sent to whoever sent them: connections fail fast. Its direction is egress unless set, which refuses the target's own connections; the clients of a server target get no answer from it and time out, as under blackhole: give direction ingress to refuse them fast.",
		Example: "{port: 5432, protocol: tcp, with: reset}",
	})
}
