package network

import "github.com/gamedayhq/chaos/internal/experiment"

// The partition fault cuts the target off from a set of peers, one or both ways, in the namespace of a docker, process or host
// target; see Partition.
func init() {
	register[Partition]("partition", experiment.Doc{
		Summary: "Cuts the target off from peers: every packet to and from them is dropped (direction both, the default), or only one way; port, protocol and percent narrow it.",
		Example: "{peers: [10.0.0.7, 10.0.1.0/24], port: 5432, protocol: tcp}",
	})
}
