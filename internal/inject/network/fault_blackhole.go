package network

import "github.com/gamedayhq/chaos/internal/experiment"

// The blackhole fault drops the selected packets silently, as a pulled cable does, in the namespace of a docker, process or host
// target; see Blackhole.
func init() {
	register[Blackhole]("blackhole", experiment.Doc{
		Summary: "Drops the selected packets silently, as a pulled cable does: connections time out. Its direction is both unless set.",
		Example: "{host: 10.0.0.7, port: 5432}",
	})
}
