package resource

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/gamedayhq/chaos/internal/experiment"
)

// Bytes is an amount of memory or disk written as a size (256MiB) or as a
// share of a reference the fault names, such as the target's memory limit
// (50%). The zero value is unset.
type Bytes struct {
	// N is the size in bytes, when Share is 0.
	N int64
	// Share is the fraction of the reference, from 0 to 1, when set.
	Share float64
}

// IsZero reports whether b is unset.
func (b Bytes) IsZero() bool { return b.N == 0 && b.Share == 0 }

// Of returns the bytes b stands for against ref.
func (b Bytes) Of(ref int64) int64 {
	if b.Share > 0 {
		return int64(b.Share * float64(ref))
	}
	return b.N
}

// String writes b as it is read.
func (b Bytes) String() string {
	if b.Share > 0 {
		return experiment.Percent(b.Share).String()
	}
	return formatBytes(b.N)
}

// ParseBytes reads a size such as 64MiB or a share such as 50%.
func ParseBytes(s string) (Bytes, error) {
	if strings.HasSuffix(strings.TrimSpace(s), "%") {
		p, err := experiment.ParsePercent(s)
		if err != nil {
			return Bytes{}, err
		}
		if p == 0 {
			return Bytes{}, fmt.Errorf("%q is nothing: give a share above 0%%", s)
		}
		return Bytes{Share: p.Fraction()}, nil
	}
	n, err := experiment.ParseSize(s)
	if err != nil {
		return Bytes{}, fmt.Errorf("%q is neither a size nor a share: use 256MiB, 1GiB or 50%%", s)
	}
	return Bytes{N: int64(n)}, nil
}

// UnmarshalYAML reads a size or a share from a scalar.
func (b *Bytes) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("expected a size such as 256MiB or a share such as 50%%")
	}
	v, err := ParseBytes(n.Value)
	if err != nil {
		return err
	}
	*b = v
	return nil
}

// MarshalText writes b as ParseBytes reads it, exactly.
func (b Bytes) MarshalText() ([]byte, error) {
	if b.Share > 0 {
		return []byte(strconv.FormatFloat(b.Share*100, 'g', -1, 64) + "%"), nil
	}
	return []byte(strconv.FormatInt(b.N, 10)), nil
}

// UnmarshalText reads what MarshalText writes.
func (b *Bytes) UnmarshalText(t []byte) error {
	v, err := ParseBytes(string(t))
	if err != nil {
		return err
	}
	*b = v
	return nil
}

// JSONSchema describes a size or a share.
func (Bytes) JSONSchema() map[string]any {
	return map[string]any{
		"type":        []string{"string", "integer"},
		"pattern":     `^(\s*[0-9]+(\.[0-9]+)?\s*(KiB|MiB|GiB|KB|MB|GB|B|%)?\s*)$|` + varRef,
		"description": "a size such as 256MiB, or a share such as 50%",
	}
}

// CPUs is an amount of CPU written as a number of CPUs (0.5, 2) or as a
// share of a reference the fault names (50%). The zero value is unset.
type CPUs struct {
	// N is the number of CPUs, when Share is 0.
	N float64
	// Share is the fraction of the reference, from 0 to 1, when set.
	Share float64
}

// IsZero reports whether c is unset.
func (c CPUs) IsZero() bool { return c.N == 0 && c.Share == 0 }

// Of returns the CPUs c stands for against ref CPUs.
func (c CPUs) Of(ref float64) float64 {
	if c.Share > 0 {
		return c.Share * ref
	}
	return c.N
}

// String writes c as it is read.
func (c CPUs) String() string {
	b, _ := c.MarshalText()
	return string(b)
}

// ParseCPUs reads a number of CPUs such as 0.5 or a share such as 50%.
func ParseCPUs(s string) (CPUs, error) {
	if strings.HasSuffix(strings.TrimSpace(s), "%") {
		p, err := experiment.ParsePercent(s)
		if err != nil {
			return CPUs{}, err
		}
		if p == 0 {
			return CPUs{}, fmt.Errorf("%q is nothing: give a share above 0%%", s)
		}
		return CPUs{Share: p.Fraction()}, nil
	}
	n, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || n <= 0 || math.IsInf(n, 0) || math.IsNaN(n) {
		return CPUs{}, fmt.Errorf("%q is neither a number of CPUs nor a share: use 0.5, 2 or 50%%", s)
	}
	return CPUs{N: n}, nil
}

// UnmarshalYAML reads a number of CPUs or a share from a scalar.
func (c *CPUs) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("expected a number of CPUs such as 0.5 or a share such as 50%%")
	}
	v, err := ParseCPUs(n.Value)
	if err != nil {
		return err
	}
	*c = v
	return nil
}

// MarshalText writes c as ParseCPUs reads it, exactly.
func (c CPUs) MarshalText() ([]byte, error) {
	if c.Share > 0 {
		return []byte(strconv.FormatFloat(c.Share*100, 'g', -1, 64) + "%"), nil
	}
	return []byte(strconv.FormatFloat(c.N, 'g', -1, 64)), nil
}

// UnmarshalText reads what MarshalText writes.
func (c *CPUs) UnmarshalText(t []byte) error {
	v, err := ParseCPUs(string(t))
	if err != nil {
		return err
	}
	*c = v
	return nil
}

// JSONSchema describes a number of CPUs or a share.
func (CPUs) JSONSchema() map[string]any {
	return map[string]any{
		"type":        []string{"string", "number"},
		"pattern":     `^(\s*[0-9]+(\.[0-9]+)?\s*%?\s*)$|` + varRef,
		"description": "a number of CPUs such as 0.5, or a share such as 50%",
	}
}

// varRef is a variable reference, which the loader replaces before it
// decodes the value.
const varRef = `\$\{[^}]+\}`

// formatBytes writes n in the largest binary unit that keeps it short.
func formatBytes(n int64) string {
	switch a := math.Abs(float64(n)); {
	case a >= 1<<30:
		return trim(float64(n)/(1<<30)) + "GiB"
	case a >= 1<<20:
		return trim(float64(n)/(1<<20)) + "MiB"
	case a >= 1<<10:
		return trim(float64(n)/(1<<10)) + "KiB"
	}
	return strconv.FormatInt(n, 10) + "B"
}

func trim(f float64) string { return strconv.FormatFloat(math.Round(f*10)/10, 'f', -1, 64) }
