package network

import "github.com/gamedayhq/chaos/internal/experiment"

// The latency fault holds the selected packets for a delay, with jitter, for any protocol, in the namespace of a docker, process or host
// target; see Latency.
func init() {
	register[Latency]("latency", experiment.Doc{
		Summary: "Holds each selected packet for delay, plus or minus jitter, for any protocol and for open connections too. Its direction is ingress unless set.",
		Example: "{delay: 300ms, jitter: 50ms, port: 5432}",
	})
}
