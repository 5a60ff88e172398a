package network

// The reject fault refuses the selected packets at once: TCP reset or ICMP unreachable, in the namespace of a docker, process or host
// target; see Reject.
func init() { register[Reject]("reject") }
