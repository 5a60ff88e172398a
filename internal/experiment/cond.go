package experiment

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Unit says how the number in a condition is written and read.
type Unit int

// The units a condition can compare.
const (
	UnitNumber   Unit = iota // a plain number: 200, 180.5
	UnitDuration             // seconds, written as 300ms, 2s
	UnitPercent              // a fraction, written as 99.5%
)

// Cond is a comparison such as "< 300ms", ">= 99.5%" or "200" (== implied).
// Value holds seconds for durations and a fraction for percentages.
type Cond struct {
	Op    string
	Value float64
	Unit  Unit
}

var ops = []string{"<=", ">=", "==", "!=", "<", ">"}

// ParseCond parses a comparison whose value is in the given unit.
func ParseCond(s string, u Unit) (Cond, error) {
	t := strings.TrimSpace(s)
	op := "=="
	for _, o := range ops {
		if rest, ok := strings.CutPrefix(t, o); ok {
			op, t = o, strings.TrimSpace(rest)
			break
		}
	}
	if t == "" {
		return Cond{}, fmt.Errorf("%q has no value after the operator: write it as \"%s %s\"", s, op, example(u))
	}
	v, err := parseValue(t, u)
	if err != nil {
		return Cond{}, fmt.Errorf("%q: %v", s, err)
	}
	return Cond{Op: op, Value: v, Unit: u}, nil
}

func example(u Unit) string {
	switch u {
	case UnitDuration:
		return "300ms"
	case UnitPercent:
		return "99.5%"
	}
	return "100"
}

func parseValue(t string, u Unit) (float64, error) {
	switch u {
	case UnitDuration:
		d, err := ParseDuration(t)
		if err != nil {
			return 0, fmt.Errorf("%q is not a duration: use 300ms, 2s, 1m", t)
		}
		return d.D().Seconds(), nil
	case UnitPercent:
		p, err := ParsePercent(t)
		if err != nil {
			return 0, err
		}
		return p.Fraction(), nil
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		// NaN and the infinities compare with nothing that is observed:
		// "!= NaN" and "< Inf" would hold whatever it is.
		return 0, fmt.Errorf("%q is not a number", t)
	}
	return f, nil
}

// Holds reports whether the observed value x satisfies the comparison.
// NaN satisfies none, != included: it is no value at all (a ratio of
// nothing to nothing), and a check must not hold on what was not measured.
func (c Cond) Holds(x float64) bool {
	if math.IsNaN(x) {
		return false
	}
	switch c.Op {
	case "<":
		return x < c.Value
	case "<=":
		return x <= c.Value
	case ">":
		return x > c.Value
	case ">=":
		return x >= c.Value
	case "!=":
		return x != c.Value
	}
	return x == c.Value
}

// IsZero reports whether the condition was not set.
func (c Cond) IsZero() bool { return c.Op == "" }

// Format writes an observed value in the condition's unit: 312ms, 99.1%, 180.
func (c Cond) Format(x float64) string { return FormatValue(x, c.Unit) }

// FormatValue writes a value in a unit the way experiment files write it.
func FormatValue(x float64, u Unit) string {
	switch u {
	case UnitDuration:
		d := time.Duration(x * float64(time.Second))
		switch {
		case d >= time.Second:
			d = d.Round(time.Millisecond)
		case d >= time.Millisecond:
			d = d.Round(10 * time.Microsecond)
		}
		return d.String()
	case UnitPercent:
		// Rounded to what a person reads, so that 0.1569 shows as 15.69%
		// and not as 15.690000000000001%.
		return strconv.FormatFloat(math.Round(x*1e6)/1e4, 'f', -1, 64) + "%"
	}
	return strconv.FormatFloat(math.Round(x*1e6)/1e6, 'f', -1, 64)
}

// String writes the condition back as text: "< 300ms".
func (c Cond) String() string {
	if c.IsZero() {
		return ""
	}
	return c.Op + " " + c.Format(c.Value)
}

// MarshalText writes the condition as text.
func (c Cond) MarshalText() ([]byte, error) { return []byte(c.String()), nil }

func (c *Cond) unmarshal(n *yaml.Node, u Unit) error {
	if err := wantScalar(n, "a comparison such as \"< "+example(u)+"\""); err != nil {
		return err
	}
	v, err := ParseCond(n.Value, u)
	if err != nil {
		return err
	}
	*c = v
	return nil
}

// DurationCond is a comparison of a duration: "< 300ms".
type DurationCond struct{ Cond }

// UnmarshalYAML reads the comparison.
func (c *DurationCond) UnmarshalYAML(n *yaml.Node) error { return c.unmarshal(n, UnitDuration) }

// PercentCond is a comparison of a share: ">= 99.5%".
type PercentCond struct{ Cond }

// UnmarshalYAML reads the comparison.
func (c *PercentCond) UnmarshalYAML(n *yaml.Node) error { return c.unmarshal(n, UnitPercent) }

// NumberCond is a comparison of a number: ">= 180", "200".
type NumberCond struct{ Cond }

// UnmarshalYAML reads the comparison.
func (c *NumberCond) UnmarshalYAML(n *yaml.Node) error { return c.unmarshal(n, UnitNumber) }

// Matcher is an expectation on a text value such as a JSON field: a
// comparison of numbers ("> 3", "<= 0.5") when it starts with an operator,
// else the exact text ("ok").
type Matcher struct {
	Cond Cond
	Text string
}

// ParseMatcher parses a matcher.
func ParseMatcher(s string) (Matcher, error) {
	t := strings.TrimSpace(s)
	for _, o := range ops {
		if strings.HasPrefix(t, o) {
			c, err := ParseCond(t, UnitNumber)
			if err != nil {
				return Matcher{}, err
			}
			return Matcher{Cond: c}, nil
		}
	}
	return Matcher{Text: s}, nil
}

// Match reports whether the text value satisfies the matcher. A value to
// equal that is a number equals the same number however written: 0.10 is
// 0.1 and 1e3 is 1000, as a JSON field's number is written in one way.
func (m Matcher) Match(v string) bool {
	if m.Cond.IsZero() {
		if v == m.Text {
			return true
		}
		want, ok1 := jsonNumber(m.Text)
		got, ok2 := jsonNumber(v)
		return ok1 && ok2 && want == got
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
	return err == nil && m.Cond.Holds(f)
}

// jsonNumber reads s as a number written as JSON writes one: no sign
// other than a leading minus, no hexadecimal, no Inf or NaN.
func jsonNumber(s string) (float64, bool) {
	if !jsonNumberRE.MatchString(s) {
		return 0, false
	}
	f, err := strconv.ParseFloat(s, 64)
	return f, err == nil
}

var jsonNumberRE = regexp.MustCompile(`^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?$`)

// String writes the matcher back as text.
func (m Matcher) String() string {
	if m.Cond.IsZero() {
		return strconv.Quote(m.Text)
	}
	return m.Cond.String()
}

// MarshalText writes the matcher as text.
func (m Matcher) MarshalText() ([]byte, error) { return []byte(m.String()), nil }

// UnmarshalYAML reads a matcher from a scalar.
func (m *Matcher) UnmarshalYAML(n *yaml.Node) error {
	if err := wantScalar(n, "a value or a comparison such as \"> 3\""); err != nil {
		return err
	}
	v, err := ParseMatcher(n.Value)
	if err != nil {
		return err
	}
	*m = v
	return nil
}
