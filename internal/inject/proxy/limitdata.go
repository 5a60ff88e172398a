package proxy

import "fmt"

func init() { register("limit_data", func() Params { return &LimitData{} }) }

// LimitData closes a connection once Bytes bytes have gone through in its
// direction since the fault started acting on it, as a peer that gives up
// in the middle of a transfer would.
type LimitData struct {
	Bytes int64 `json:"bytes" yaml:"bytes" doc:"close each connection once this many bytes have gone through since the fault started acting on it"`
}

// Kind returns "limit_data".
func (*LimitData) Kind() string { return "limit_data" }

// Validate requires a positive byte count.
func (l *LimitData) Validate() error {
	switch {
	case l.Bytes == 0:
		return fmt.Errorf("bytes is required: how many bytes pass before the connection closes")
	case l.Bytes < 0:
		return fmt.Errorf("bytes %d is not positive", l.Bytes)
	}
	return nil
}

func (l *LimitData) shape(pl *plan, id string) {
	pl.budgets = append(pl.budgets, budget{id: id, bytes: l.Bytes})
}
