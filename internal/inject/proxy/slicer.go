package proxy

import (
	"fmt"
	"time"
)

func init() { register("slicer", func() Params { return &Slicer{} }) }

// Slicer cuts the stream in its direction into writes of about Size bytes
// (plus or minus up to Variation), with Delay between them, to exercise
// peers that assume a message arrives in one read.
type Slicer struct {
	Size      int           `json:"size" yaml:"size" doc:"the size of each write, in bytes"`
	Variation int           `json:"variation,omitempty" yaml:"variation" doc:"plus or minus up to this many bytes"`
	Delay     time.Duration `json:"delay,omitempty" yaml:"delay" doc:"the pause between writes"`
}

// Kind returns "slicer".
func (*Slicer) Kind() string { return "slicer" }

// Validate requires a positive size and a variation smaller than it.
func (s *Slicer) Validate() error {
	switch {
	case s.Size == 0:
		return fmt.Errorf("size is required: the bytes in each slice")
	case s.Size < 0:
		return fmt.Errorf("size %d is not positive", s.Size)
	}
	if s.Variation < 0 || s.Variation >= s.Size {
		return fmt.Errorf("variation %d is not between 0 and size %d", s.Variation, s.Size)
	}
	return nonNegativeDuration("delay", s.Delay)
}

func (s *Slicer) shape(pl *plan, _ string) {
	if pl.slicer == nil {
		pl.slicer = s
	}
}
