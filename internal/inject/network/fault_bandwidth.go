package network

// The bandwidth fault limits the rate at which the target sends, in the namespace of a docker, process or host
// target; see Bandwidth.
func init() { register[Bandwidth]("bandwidth") }
