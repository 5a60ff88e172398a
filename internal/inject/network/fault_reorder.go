package network

// The reorder fault holds some packets back so that others overtake them, in the namespace of a docker, process or host
// target; see Reorder.
func init() { register[Reorder]("reorder") }
