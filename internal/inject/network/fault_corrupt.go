package network

import "github.com/gamedayhq/chaos/internal/experiment"

// The corrupt fault flips a bit in the payload of the selected packets, in the namespace of a docker, process or host
// target; see Corrupt.
func init() {
	register[Corrupt]("corrupt", experiment.Doc{
		Summary: "Flips one random bit in the payload of the selected TCP and UDP packets; the receiving kernel drops them for their checksum unless valid_checksum is set. Its direction is egress unless set.",
		Example: "{port: 6379, percent: 10%}",
	})
}
