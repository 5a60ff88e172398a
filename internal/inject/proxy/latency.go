package proxy

import (
	"errors"
	"time"
)

func init() { register("latency", func() Params { return &Latency{} }) }

// Latency delays every byte in its direction by Delay, plus or minus a
// uniformly drawn Jitter, without reordering bytes and without limiting
// throughput. Connect delays the dial to the upstream of new connections,
// as a slow handshake would.
type Latency struct {
	Delay   time.Duration `json:"delay" yaml:"delay" doc:"added to every byte's passage"`
	Jitter  time.Duration `json:"jitter,omitempty" yaml:"jitter" doc:"plus or minus up to this much, drawn uniformly"`
	Connect time.Duration `json:"connect,omitempty" yaml:"connect" doc:"added to the dial to the upstream of each new connection, as a slow handshake"`
}

// Kind returns "latency".
func (*Latency) Kind() string { return "latency" }

// Validate rejects negative durations.
func (l *Latency) Validate() error {
	if err := nonNegativeDuration("delay", l.Delay); err != nil {
		return err
	}
	if err := nonNegativeDuration("jitter", l.Jitter); err != nil {
		return err
	}
	if err := nonNegativeDuration("connect", l.Connect); err != nil {
		return err
	}
	if l.Delay == 0 && l.Jitter == 0 && l.Connect == 0 {
		return errors.New("delay is required (or jitter, or connect): a latency of 0 would do nothing")
	}
	return nil
}

func (l *Latency) shape(pl *plan, _ string) {
	pl.delay += l.Delay
	pl.jitter += l.Jitter
}
