package network

// The loss fault drops a percent of the selected packets at random, in the namespace of a docker, process or host
// target; see Loss.
func init() { register[Loss]("loss") }
