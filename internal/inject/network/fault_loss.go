package network

import "github.com/gamedayhq/chaos/internal/experiment"

// The loss fault drops a percent of the selected packets at random, in the namespace of a docker, process or host
// target; see Loss.
func init() {
	register[Loss]("loss", experiment.Doc{
		Summary: "Drops percent of the selected packets at random, as a lossy link does. Its direction is egress unless set; percent is required.",
		Example: "{percent: 30%, port: 5432}",
	})
}
