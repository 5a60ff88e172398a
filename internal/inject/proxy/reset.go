package proxy

func init() { register("reset", func() Params { return &Reset{} }) }

// Reset aborts connections with a TCP RST to both peers. With AfterBytes
// zero it resets open connections at once and new ones as soon as they are
// accepted; otherwise after AfterBytes more bytes have gone through in its
// direction.
type Reset struct {
	AfterBytes int64 `json:"after_bytes,omitempty" yaml:"after_bytes"`
}

// Kind returns "reset".
func (*Reset) Kind() string { return "reset" }

// Validate rejects a negative byte count.
func (r *Reset) Validate() error { return nonNegative("after_bytes", r.AfterBytes) }

func (r *Reset) shape(pl *plan, id string) {
	if r.AfterBytes > 0 {
		pl.budgets = append(pl.budgets, budget{id: id, bytes: r.AfterBytes, reset: true})
	}
}
