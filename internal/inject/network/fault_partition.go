package network

// The partition fault cuts the target off from a set of peers, one or both ways, in the namespace of a docker, process or host
// target; see Partition.
func init() { register[Partition]("partition") }
