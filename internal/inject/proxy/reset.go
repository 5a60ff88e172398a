package proxy

import (
	"errors"
	"time"
)

func init() { register("reset", func() Params { return &Reset{} }) }

// Reset aborts connections with a TCP RST to both peers. With AfterBytes
// zero it resets open connections at once and new ones as soon as they are
// accepted; otherwise after AfterBytes more bytes have gone through in its
// direction.
//
// With OnData it waits instead for the next bytes (or the end of the
// stream) in its direction, which it drops, as Toxiproxy's reset_peer
// does: a client that connects and sends nothing keeps its connection.
// Delay holds the reset back that long after the bytes that trigger it;
// what arrives in the meantime is not passed on.
type Reset struct {
	AfterBytes int64         `json:"after_bytes,omitempty" yaml:"after_bytes" doc:"reset after this many more bytes (default 0: at once)"`
	OnData     bool          `json:"on_data,omitempty" yaml:"on_data" doc:"reset when the next bytes arrive, which are dropped, as Toxiproxy's reset_peer does"`
	Delay      time.Duration `json:"delay,omitempty" yaml:"delay" doc:"hold the reset back this long after the bytes that trigger it"`
}

// Kind returns "reset".
func (*Reset) Kind() string { return "reset" }

// Validate rejects negative values, and a delay with nothing to count it
// from.
func (r *Reset) Validate() error {
	if err := nonNegative("after_bytes", r.AfterBytes); err != nil {
		return err
	}
	if err := nonNegativeDuration("delay", r.Delay); err != nil {
		return err
	}
	if r.OnData && r.AfterBytes > 0 {
		return errors.New("on_data and after_bytes exclude each other: on_data resets at the next bytes, after_bytes after that many")
	}
	if r.Delay > 0 && !r.OnData && r.AfterBytes == 0 {
		return errors.New("delay needs on_data or after_bytes: it counts from the bytes that trigger the reset")
	}
	return nil
}

// atOnce reports whether the reset acts on whole connections as soon as it
// is switched on, rather than on the bytes of a direction.
func (r *Reset) atOnce() bool { return r.AfterBytes == 0 && !r.OnData }

func (r *Reset) shape(pl *plan, id string) {
	if !r.atOnce() {
		pl.budgets = append(pl.budgets, budget{id: id, bytes: r.AfterBytes, reset: true, delay: r.Delay, eof: r.OnData})
	}
}
