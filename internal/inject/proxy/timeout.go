package proxy

import "time"

func init() { register("timeout", func() Params { return &Timeout{} }) }

// Timeout accepts connections but forwards nothing in its direction: bytes
// wait, as behind a hung peer, and flow again when the fault is removed.
// With CloseAfter, the connections it hits are closed that long after the
// fault starts acting on them; without, they are held open.
//
// With Drop the bytes are read and discarded instead of held, as
// Toxiproxy's timeout toxic does: the sender is never slowed down by full
// buffers. The stream then has a gap, so the connections it hit are
// closed when the fault is removed rather than carrying on.
type Timeout struct {
	CloseAfter time.Duration `json:"close_after,omitempty" yaml:"close_after" doc:"close each connection hit this long after the fault starts acting on it (default: hold it open)"`
	Drop       bool          `json:"drop,omitempty" yaml:"drop" doc:"read and discard the bytes instead of holding them, as Toxiproxy's timeout does; the connections hit are closed when the fault goes"`
}

// Kind returns "timeout".
func (*Timeout) Kind() string { return "timeout" }

// Validate rejects a negative CloseAfter.
func (t *Timeout) Validate() error { return nonNegativeDuration("close_after", t.CloseAfter) }

func (t *Timeout) shape(pl *plan, _ string) {
	if t.Drop {
		pl.drop = true
	} else {
		pl.hold = true
	}
}
