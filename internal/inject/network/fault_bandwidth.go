package network

import "github.com/gamedayhq/chaos/internal/experiment"

// The bandwidth fault limits the rate at which the target sends, in the namespace of a docker, process or host
// target; see Bandwidth.
func init() {
	register[Bandwidth]("bandwidth", experiment.Doc{
		Summary: "Limits the rate at which the target sends (the selected packets, or all of them without a filter), with a token bucket on its network device.",
		Example: "{rate: 1mbit, port: 5432}",
	})
}
