package proxy

import "fmt"

func init() { register("bandwidth", func() Params { return &Bandwidth{} }) }

// Bandwidth limits the throughput in its direction to Rate bytes per
// second. With several, the lowest rate wins.
type Bandwidth struct {
	Rate int64 `json:"rate" yaml:"rate" doc:"the most bytes per second that pass"`
}

// Kind returns "bandwidth".
func (*Bandwidth) Kind() string { return "bandwidth" }

// Validate requires a positive rate.
func (b *Bandwidth) Validate() error {
	switch {
	case b.Rate == 0:
		return fmt.Errorf("rate is required: the bytes per second let through")
	case b.Rate < 0:
		return fmt.Errorf("rate %d bytes/s is not positive", b.Rate)
	}
	return nil
}

func (b *Bandwidth) shape(pl *plan, _ string) {
	if pl.rate == 0 || b.Rate < pl.rate {
		pl.rate = b.Rate
	}
}
