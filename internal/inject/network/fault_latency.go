package network

// The latency fault holds the selected packets for a delay, with jitter, for any protocol, in the namespace of a docker, process or host
// target; see Latency.
func init() { register[Latency]("latency") }
