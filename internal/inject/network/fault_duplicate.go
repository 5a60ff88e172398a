package network

import "github.com/gamedayhq/chaos/internal/experiment"

// The duplicate fault sends a second copy of the selected packets, in the namespace of a docker, process or host
// target; see Duplicate.
func init() {
	register[Duplicate]("duplicate", experiment.Doc{
		Summary: "Sends a second copy of the selected packets. Its direction is egress unless set.",
		Example: "{port: 53, protocol: udp, percent: 50%}",
	})
}
