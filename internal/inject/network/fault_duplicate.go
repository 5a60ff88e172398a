package network

// The duplicate fault sends a second copy of the selected packets, in the namespace of a docker, process or host
// target; see Duplicate.
func init() { register[Duplicate]("duplicate") }
