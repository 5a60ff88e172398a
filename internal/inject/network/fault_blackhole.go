package network

// The blackhole fault drops the selected packets silently, as a pulled cable does, in the namespace of a docker, process or host
// target; see Blackhole.
func init() { register[Blackhole]("blackhole") }
