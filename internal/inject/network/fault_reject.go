package network

import "github.com/gamedayhq/chaos/internal/experiment"

// The reject fault refuses the selected packets at once: TCP reset or ICMP unreachable, in the namespace of a docker, process or host
// target; see Reject.
func init() {
	register[Reject]("reject", experiment.Doc{
		Summary: "Refuses the selected packets at once, with a TCP reset or an ICMP unreachable: connections fail fast. Its direction is egress unless set.",
		Example: "{port: 5432, protocol: tcp, with: reset}",
	})
}
