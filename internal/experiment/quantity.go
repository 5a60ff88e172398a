package experiment

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// Duration is a length of time written as 300ms, 2s, 1m30s or 1h.
type Duration time.Duration

// D returns the duration as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// String formats the duration the way it is written in experiment files.
func (d Duration) String() string { return time.Duration(d).String() }

// durationSyntax is what time.ParseDuration reads; text that matches it
// and still does not parse is too long a duration.
var durationSyntax = regexp.MustCompile(`^[-+]?([0-9]*(\.[0-9]*)?(ns|us|µs|μs|ms|s|m|h))+$`)

// ParseDuration parses a duration such as "300ms" or "2s". A bare number is
// refused: a unit is always required so that "5" cannot mean two things.
func ParseDuration(s string) (Duration, error) {
	t := strings.TrimSpace(s)
	d, err := time.ParseDuration(t)
	switch {
	case err != nil && durationSyntax.MatchString(t):
		return 0, fmt.Errorf("%s is longer than the longest duration, %dh", excerpt(s), math.MaxInt64/int64(time.Hour))
	case err != nil:
		return 0, fmt.Errorf("%s is not a duration: use 300ms, 2s, 1m", excerpt(s))
	}
	if d < 0 {
		return 0, fmt.Errorf("%q is negative: a duration is 0 or more", s)
	}
	return Duration(d), nil
}

// UnmarshalYAML reads a duration from a scalar.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if err := wantScalar(n, "a duration such as 300ms, 2s, 1m"); err != nil {
		return err
	}
	v, err := ParseDuration(n.Value)
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// MarshalYAML writes the duration as text.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// MarshalText writes the duration as text, so JSON shows "2s" and not nanoseconds.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText reads a duration written by MarshalText.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// Rate is a number of events per second, written as 50/s, 3000/m or 2/ms.
type Rate float64

// PerSecond returns the rate in events per second.
func (r Rate) PerSecond() float64 { return float64(r) }

// String formats the rate as events per second.
func (r Rate) String() string { return strconv.FormatFloat(float64(r), 'f', -1, 64) + "/s" }

// ParseRate parses a rate such as "50/s", "3000/m", "1/ms" or "20/h".
func ParseRate(s string) (Rate, error) {
	bad := fmt.Errorf("%q is not a rate: use 50/s, 3000/m", s)
	num, unit, ok := strings.Cut(strings.TrimSpace(s), "/")
	if !ok {
		return 0, bad
	}
	n, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
	if err != nil || n < 0 || math.IsInf(n, 0) || math.IsNaN(n) {
		return 0, bad
	}
	var per time.Duration
	switch strings.TrimSpace(unit) {
	case "ms":
		per = time.Millisecond
	case "s":
		per = time.Second
	case "m", "min":
		per = time.Minute
	case "h":
		per = time.Hour
	default:
		return 0, bad
	}
	return Rate(n * (float64(time.Second) / float64(per))), nil
}

// UnmarshalYAML reads a rate from a scalar.
func (r *Rate) UnmarshalYAML(n *yaml.Node) error {
	if err := wantScalar(n, "a rate such as 50/s"); err != nil {
		return err
	}
	v, err := ParseRate(n.Value)
	if err != nil {
		return err
	}
	*r = v
	return nil
}

// MarshalText writes the rate as events per second.
func (r Rate) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

// UnmarshalText reads a rate written by MarshalText.
func (r *Rate) UnmarshalText(b []byte) error {
	v, err := ParseRate(string(b))
	if err != nil {
		return err
	}
	*r = v
	return nil
}

// Percent is a share written as 99.5%; it holds the fraction (0.995).
type Percent float64

// Fraction returns the share as a number from 0 to 1.
func (p Percent) Fraction() float64 { return float64(p) }

// String formats the share as a percentage.
func (p Percent) String() string {
	return strconv.FormatFloat(float64(p)*100, 'f', -1, 64) + "%"
}

// ParsePercent parses a percentage from 0% to 100%.
func ParsePercent(s string) (Percent, error) {
	t := strings.TrimSpace(s)
	num, ok := strings.CutSuffix(t, "%")
	n, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
	if errors.Is(err, strconv.ErrRange) {
		err = nil // ±Inf or 0: told as out of range, or taken as 0
	}
	if !ok || err != nil || math.IsNaN(n) {
		return 0, fmt.Errorf("%s is not a percentage: use 30%%, 99.5%%", excerpt(s))
	}
	if n < 0 || n > 100 {
		return 0, fmt.Errorf("%q is out of range: a percentage is from 0%% to 100%%", s)
	}
	return Percent(n / 100), nil
}

// UnmarshalYAML reads a percentage from a scalar.
func (p *Percent) UnmarshalYAML(n *yaml.Node) error {
	if err := wantScalar(n, "a percentage such as 30%"); err != nil {
		return err
	}
	v, err := ParsePercent(n.Value)
	if err != nil {
		return err
	}
	*p = v
	return nil
}

// MarshalText writes the share as a percentage.
func (p Percent) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// UnmarshalText reads a percentage written by MarshalText.
func (p *Percent) UnmarshalText(b []byte) error {
	v, err := ParsePercent(string(b))
	if err != nil {
		return err
	}
	*p = v
	return nil
}

// Size is a number of bytes written as 512, 64KiB, 10MB or 1GiB.
type Size int64

// String formats the size in bytes.
func (s Size) String() string { return strconv.FormatInt(int64(s), 10) }

var sizeUnits = []struct {
	suffix string
	mult   int64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30},
	{"KB", 1000}, {"MB", 1000 * 1000}, {"GB", 1000 * 1000 * 1000},
	{"B", 1},
}

// ParseSize parses a byte count such as "512", "64KiB" or "10MB".
func ParseSize(s string) (Size, error) {
	t := strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range sizeUnits {
		if rest, ok := strings.CutSuffix(t, u.suffix); ok {
			t, mult = strings.TrimSpace(rest), u.mult
			break
		}
	}
	n, err := strconv.ParseFloat(t, 64)
	if err != nil || n < 0 || math.IsInf(n, 0) || math.IsNaN(n) || n*float64(mult) > math.MaxInt64/2 {
		return 0, fmt.Errorf("%q is not a size: use 512, 64KiB, 10MB", s)
	}
	return Size(n * float64(mult)), nil
}

// UnmarshalYAML reads a size from a scalar.
func (s *Size) UnmarshalYAML(n *yaml.Node) error {
	if err := wantScalar(n, "a size such as 64KiB"); err != nil {
		return err
	}
	v, err := ParseSize(n.Value)
	if err != nil {
		return err
	}
	*s = v
	return nil
}

func wantScalar(n *yaml.Node, what string) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("expected %s, got %s", what, kindName(n))
	}
	return nil
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "nothing"
		}
		return excerpt(n.Value)
	}
	return "nothing"
}

// excerpt quotes a text for a message, cut short when long: a message
// names the value, it need not repeat a whole file.
func excerpt(s string) string {
	const most = 60
	if utf8.RuneCountInString(s) <= most {
		return strconv.Quote(s)
	}
	r := []rune(s)
	return strconv.Quote(string(r[:most-10])) + fmt.Sprintf("%s%d characters)", cutMarker[1:], len(r))
}

// cutMarker follows a value excerpt cut short, after its opening quote.
const cutMarker = `"... (`

// Pick is how many of the matching things a fault hits: all, a count N, or a
// share N%. The zero value means all.
type Pick struct {
	N       int
	Percent Percent
}

// All reports whether every match is picked.
func (p Pick) All() bool { return p.N == 0 && p.Percent == 0 }

// Of returns how many of n matches are picked: at least one when a share
// rounds down to nothing but there are matches.
func (p Pick) Of(n int) int {
	switch {
	case p.All():
		return n
	case p.N > 0:
		return min(p.N, n)
	}
	k := int(math.Round(float64(p.Percent) * float64(n)))
	if k == 0 && n > 0 {
		k = 1
	}
	return min(k, n)
}

// String writes the pick as in experiment files.
func (p Pick) String() string {
	switch {
	case p.All():
		return "all"
	case p.N > 0:
		return strconv.Itoa(p.N)
	}
	return p.Percent.String()
}

// MarshalText writes the pick as text.
func (p Pick) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// ParsePick parses all, a count or a percentage.
func ParsePick(s string) (Pick, error) {
	t := strings.TrimSpace(s)
	if t == "all" {
		return Pick{}, nil
	}
	if strings.HasSuffix(t, "%") {
		pc, err := ParsePercent(t)
		if err != nil || pc == 0 {
			return Pick{}, fmt.Errorf("%q is not a pick: use all, a count such as 2, or a share such as 50%%", s)
		}
		return Pick{Percent: pc}, nil
	}
	n, err := strconv.Atoi(t)
	if err != nil || n < 1 {
		return Pick{}, fmt.Errorf("%q is not a pick: use all, a count such as 2, or a share such as 50%%", s)
	}
	return Pick{N: n}, nil
}

// UnmarshalYAML reads a pick from a scalar.
func (p *Pick) UnmarshalYAML(n *yaml.Node) error {
	if err := wantScalar(n, "all, a count or a share"); err != nil {
		return err
	}
	v, err := ParsePick(n.Value)
	if err != nil {
		return err
	}
	*p = v
	return nil
}
