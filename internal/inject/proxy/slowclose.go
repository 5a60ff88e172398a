package proxy

import "time"

func init() { register("slow_close", func() Params { return &SlowClose{} }) }

// SlowClose delays passing on the end of the stream in its direction by
// Delay: the peer sees the close that much later than it happened.
type SlowClose struct {
	Delay time.Duration `json:"delay" yaml:"delay" doc:"how much later the peer sees the end of the stream"`
}

// Kind returns "slow_close".
func (*SlowClose) Kind() string { return "slow_close" }

// Validate rejects a negative delay.
func (s *SlowClose) Validate() error { return nonNegativeDuration("delay", s.Delay) }
