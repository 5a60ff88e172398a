package journal

import (
	"slices"
	"strconv"
	"strings"
	"time"
)

// Breakage is how a check broke in one phase: its first failed
// observation, its worst, and the faults in effect while it failed.
type Breakage struct {
	Phase string
	// First is the first failed observation of the phase; nil when the
	// check was judged broken without one (a journal of an older version).
	First *Sample
	// Worst is the failed observation whose value was furthest from what
	// the check expects; nil when its values cannot be ordered (a status
	// code).
	Worst *Sample
	// WorstValue is Worst's value of the key its reason names: "p99 369ms".
	WorstValue       string
	Failed, Observed int
	// Faults names the method steps whose faults were in effect during a
	// failed observation, in the order they were first seen.
	Faults []string
}

// Breakages lists how the check broke, one entry per phase it was judged
// broken in, in run order.
func (c *Check) Breakages() []Breakage {
	var out []Breakage
	for _, ph := range CheckPhases {
		if c.Results[ph] != Broken {
			continue
		}
		b := Breakage{Phase: ph}
		worst := 0.0
		for i := range c.Samples {
			s := &c.Samples[i]
			if s.Phase != ph {
				continue
			}
			b.Observed++
			if s.OK {
				continue
			}
			b.Failed++
			if b.First == nil {
				b.First = s
			}
			for _, f := range s.Faults {
				if !slices.Contains(b.Faults, f) {
					b.Faults = append(b.Faults, f)
				}
			}
			key, v, higherWorse, ok := s.FailedValue()
			if !ok {
				continue
			}
			if !higherWorse {
				v = -v
			}
			if b.Worst == nil || v > worst {
				b.Worst, worst = s, v
				b.WorstValue = key + " " + s.Observed[key]
			}
		}
		out = append(out, b)
	}
	return out
}

// FailedValue reads the value a failed observation's reason names ("p99
// 257ms, want < 50ms") as a number (a duration in seconds, a percentage
// in percent), and whether a higher one is further from what the check
// wants: it is when the check wants less. ok is false when the reason
// names no value compared with a bound (a status code).
func (s Sample) FailedValue() (key string, v float64, higherWorse, ok bool) {
	key, _, _ = strings.Cut(s.Reason, " ")
	obs, found := s.Observed[key]
	if !found {
		return key, 0, false, false
	}
	_, want, found := strings.Cut(s.Reason, "want ")
	if !found {
		return key, 0, false, false
	}
	switch {
	case strings.HasPrefix(want, "<"):
		higherWorse = true
	case strings.HasPrefix(want, ">"):
	default:
		return key, 0, false, false
	}
	v, ok = number(obs)
	return key, v, higherWorse, ok
}

// number reads an observed value as a number: a duration in seconds, a
// percentage, or a plain number. A value known only as a lower bound
// ("8s+") reads as that bound.
func number(s string) (float64, bool) {
	s = strings.TrimSuffix(strings.TrimSpace(s), "+")
	if d, err := time.ParseDuration(s); err == nil {
		return d.Seconds(), true
	}
	f, err := strconv.ParseFloat(strings.TrimSuffix(s, "%"), 64)
	return f, err == nil
}

// WorstText says the worst value of a check that failed more than once:
// "worst p99 369ms"; empty otherwise.
func (b Breakage) WorstText() string {
	if b.Worst == nil || b.Failed < 2 {
		return ""
	}
	return "worst " + b.WorstValue
}

// FaultsText names the faults in effect while a check failed, with their
// strength: "latency link (delay 300ms) and down link"; empty when none
// was.
func (j *Journal) FaultsText(b Breakage) string {
	faults := make([]string, len(b.Faults))
	for i, f := range b.Faults {
		faults[i] = j.StepFault(f)
	}
	return strings.Join(faults, " and ")
}
