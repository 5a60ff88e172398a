package network

import "github.com/gamedayhq/chaos/internal/experiment"

// The reorder fault holds some packets back so that others overtake them, in the namespace of a docker, process or host
// target; see Reorder.
func init() {
	register[Reorder]("reorder", experiment.Doc{
		Summary: "Holds percent of the selected packets back by delay and lets the others overtake them. Its direction is ingress unless set; percent is required.",
		Example: "{percent: 25%, delay: 20ms, port: 8080}",
	})
}
