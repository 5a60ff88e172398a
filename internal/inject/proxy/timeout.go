package proxy

import "time"

func init() { register("timeout", func() Params { return &Timeout{} }) }

// Timeout accepts connections but forwards nothing in its direction: bytes
// wait, as behind a hung peer, and flow again when the fault is removed.
// With CloseAfter, the connections it hits are closed that long after the
// fault starts acting on them; without, they are held open.
type Timeout struct {
	CloseAfter time.Duration `json:"close_after,omitempty" yaml:"close_after"`
}

// Kind returns "timeout".
func (*Timeout) Kind() string { return "timeout" }

// Validate rejects a negative CloseAfter.
func (t *Timeout) Validate() error { return nonNegativeDuration("close_after", t.CloseAfter) }

func (t *Timeout) shape(pl *plan, _ string) { pl.hold = true }
