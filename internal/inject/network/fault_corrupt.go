package network

// The corrupt fault flips a bit in the payload of the selected packets, in the namespace of a docker, process or host
// target; see Corrupt.
func init() { register[Corrupt]("corrupt") }
