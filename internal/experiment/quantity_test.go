package experiment_test

import (
	"math"
	"testing"
	"time"

	"github.com/gamedayhq/chaos/internal/experiment"
)

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in      string
		want    time.Duration
		wantErr string
	}{
		{"300ms", 300 * time.Millisecond, ""},
		{" 2s ", 2 * time.Second, ""},
		{"1m30s", 90 * time.Second, ""},
		{"0s", 0, ""},
		{"3x", 0, `"3x" is not a duration: use 300ms, 2s, 1m`},
		{"5", 0, `"5" is not a duration: use 300ms, 2s, 1m`},
		{"-1s", 0, `"-1s" is negative: a duration is 0 or more`},
		{"", 0, `"" is not a duration: use 300ms, 2s, 1m`},
		{"2562047h", 2562047 * time.Hour, ""},
		{"2562048h", 0, `"2562048h" is longer than the longest duration, 2562047h`},
		{"99999999999999999999s", 0, `"99999999999999999999s" is longer than the longest duration, 2562047h`},
	}
	for _, tt := range tests {
		got, err := experiment.ParseDuration(tt.in)
		if errText(err) != tt.wantErr || err == nil && got.D() != tt.want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v, %q", tt.in, got.D(), err, tt.want, tt.wantErr)
		}
	}
}

func TestParseRate(t *testing.T) {
	tests := []struct {
		in      string
		want    float64
		wantErr bool
	}{
		{"50/s", 50, false},
		{"3000/m", 50, false},
		{"3000/min", 50, false},
		{"1/ms", 1000, false},
		{"36/h", 0.01, false},
		{"2.5 / s", 2.5, false},
		{"50", 0, true},
		{"50/d", 0, true},
		{"-1/s", 0, true},
		{"x/s", 0, true},
		{"1e308/s", 1e308, false}, // finite: the loader's stream checks refuse it as too fast
	}
	for _, tt := range tests {
		got, err := experiment.ParseRate(tt.in)
		if (err != nil) != tt.wantErr || math.Abs(got.PerSecond()-tt.want) > 1e-9 {
			t.Errorf("ParseRate(%q) = %v, %v; want %v, error %v", tt.in, got.PerSecond(), err, tt.want, tt.wantErr)
		}
	}
}

func TestParsePercent(t *testing.T) {
	tests := []struct {
		in      string
		want    float64
		wantErr string
	}{
		{"99.5%", 0.995, ""},
		{"0%", 0, ""},
		{"100 %", 1, ""},
		{"99.5", 0, `"99.5" is not a percentage: use 30%, 99.5%`},
		{"101%", 0, `"101%" is out of range: a percentage is from 0% to 100%`},
		{"-1%", 0, `"-1%" is out of range: a percentage is from 0% to 100%`},
		{"1e400%", 0, `"1e400%" is out of range: a percentage is from 0% to 100%`},
	}
	for _, tt := range tests {
		got, err := experiment.ParsePercent(tt.in)
		if errText(err) != tt.wantErr || math.Abs(got.Fraction()-tt.want) > 1e-12 {
			t.Errorf("ParsePercent(%q) = %v, %v; want %v, %q", tt.in, got.Fraction(), err, tt.want, tt.wantErr)
		}
	}
}

func TestParseCond(t *testing.T) {
	tests := []struct {
		in       string
		unit     experiment.Unit
		op       string
		value    float64
		holds    float64
		notHolds float64
		wantErr  string
	}{
		{"< 300ms", experiment.UnitDuration, "<", 0.3, 0.299, 0.3, ""},
		{"<=300ms", experiment.UnitDuration, "<=", 0.3, 0.3, 0.301, ""},
		{">= 99.5%", experiment.UnitPercent, ">=", 0.995, 0.995, 0.99, ""},
		{"> 180", experiment.UnitNumber, ">", 180, 181, 180, ""},
		{"200", experiment.UnitNumber, "==", 200, 200, 201, ""},
		{"!= 0", experiment.UnitNumber, "!=", 0, 1, 0, ""},
		{"<", experiment.UnitDuration, "", 0, 0, 0, `"<" has no value after the operator: write it as "< 300ms"`},
		{"< fast", experiment.UnitDuration, "", 0, 0, 0, `"< fast": "fast" is not a duration: use 300ms, 2s, 1m`},
		{">= 99", experiment.UnitPercent, "", 0, 0, 0, `">= 99": "99" is not a percentage: use 30%, 99.5%`},
		// NaN and the infinities are no values to compare with: "!= NaN"
		// and "< Inf" would hold whatever was observed.
		{"!= NaN", experiment.UnitNumber, "", 0, 0, 0, `"!= NaN": "NaN" is not a number`},
		{"< Inf", experiment.UnitNumber, "", 0, 0, 0, `"< Inf": "Inf" is not a number`},
		{"> -infinity", experiment.UnitNumber, "", 0, 0, 0, `"> -infinity": "-infinity" is not a number`},
	}
	for _, tt := range tests {
		c, err := experiment.ParseCond(tt.in, tt.unit)
		if errText(err) != tt.wantErr {
			t.Errorf("ParseCond(%q) error = %v; want %q", tt.in, err, tt.wantErr)
			continue
		}
		if err != nil {
			continue
		}
		if c.Op != tt.op || math.Abs(c.Value-tt.value) > 1e-12 {
			t.Errorf("ParseCond(%q) = %s %v; want %s %v", tt.in, c.Op, c.Value, tt.op, tt.value)
		}
		if !c.Holds(tt.holds) || c.Holds(tt.notHolds) {
			t.Errorf("ParseCond(%q): Holds(%v) = %v, Holds(%v) = %v; want true, false", tt.in, tt.holds, c.Holds(tt.holds), tt.notHolds, c.Holds(tt.notHolds))
		}
	}
}

// NaN is what a ratio of nothing to nothing gives (a Prometheus rate of
// no requests, a summary with no observations): no number at all, so no
// comparison holds for it, != included, nor a matcher of a JSON field.
func TestCondNaNHoldsNothing(t *testing.T) {
	for _, s := range []string{"< 1", "<= 1", "> 1", ">= 1", "== 1", "!= 1", "!= 0"} {
		c, err := experiment.ParseCond(s, experiment.UnitNumber)
		if err != nil {
			t.Fatal(err)
		}
		if c.Holds(math.NaN()) {
			t.Errorf("ParseCond(%q).Holds(NaN) = true; want false", s)
		}
		m, err := experiment.ParseMatcher(s)
		if err != nil {
			t.Fatal(err)
		}
		if m.Match("NaN") {
			t.Errorf("ParseMatcher(%q).Match(\"NaN\") = true; want false", s)
		}
	}
}

// A value to equal that is a number matches the same number however the
// JSON body writes it, and nothing else.
func TestMatcherNumbers(t *testing.T) {
	tests := []struct {
		want, got string
		match     bool
	}{
		{"0.10", "0.1", true},
		{"1e3", "1000", true},
		{"-0.5", "-0.50", true},
		{"200", "200", true},
		{"0.1", "0.11", false},
		{"1", "true", false},
		{"16", "0x10", false},
		{"1", "+1", false},
		{"ok", "ok", true},
		{"ok", "OK", false},
	}
	for _, tt := range tests {
		m, err := experiment.ParseMatcher(tt.want)
		if err != nil {
			t.Fatal(err)
		}
		if got := m.Match(tt.got); got != tt.match {
			t.Errorf("ParseMatcher(%q).Match(%q) = %v; want %v", tt.want, tt.got, got, tt.match)
		}
	}
}

func TestParsePick(t *testing.T) {
	tests := []struct {
		in   string
		of10 int
		of1  int
		err  bool
	}{
		{"all", 10, 1, false},
		{"3", 3, 1, false},
		{"50%", 5, 1, false},
		{"1%", 1, 1, false},
		{"0", 0, 0, true},
		{"some", 0, 0, true},
	}
	for _, tt := range tests {
		p, err := experiment.ParsePick(tt.in)
		if (err != nil) != tt.err {
			t.Errorf("ParsePick(%q) error = %v; want error %v", tt.in, err, tt.err)
			continue
		}
		if err == nil && (p.Of(10) != tt.of10 || p.Of(1) != tt.of1) {
			t.Errorf("ParsePick(%q).Of(10), Of(1) = %d, %d; want %d, %d", tt.in, p.Of(10), p.Of(1), tt.of10, tt.of1)
		}
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"512": 512, "64KiB": 65536, "10MB": 10_000_000, "1GiB": 1 << 30, "1.5KiB": 1536} {
		if got, err := experiment.ParseSize(in); err != nil || int64(got) != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	if _, err := experiment.ParseSize("lots"); err == nil {
		t.Error(`ParseSize("lots") succeeded`)
	}
}

func TestExpandRuntime(t *testing.T) {
	outs := map[string]map[string]string{"killed": {"id": "abc", "count": "2", "odd": "${uuid}"}}
	calls := 0
	id := func() string { calls++; return "0f8fad5b" }
	got, err := experiment.ExpandRuntime("id=${killed.id} n=${killed.count} u=${uuid} again=${uuid} lit=$${uuid} out=${killed.odd} keep=${x}", outs, id)
	if want := "id=abc n=2 u=0f8fad5b again=0f8fad5b lit=${uuid} out=${uuid} keep=${x}"; err != nil || got != want {
		t.Errorf("ExpandRuntime = %q, %v; want %q", got, err, want)
	}
	if calls != 2 {
		t.Errorf("uuid called %d times for two references; the caller decides whether they share one", calls)
	}
	if _, err := experiment.ExpandRuntime("${killed.name}", outs, id); errText(err) != `${killed.name}: step "killed" has no field "name" (it has count, id, odd)` {
		t.Errorf("ExpandRuntime of a missing field: %v", err)
	}
	if _, err := experiment.ExpandRuntime("${later.id}", outs, id); err == nil {
		t.Error("ExpandRuntime of an output not produced yet succeeded")
	}
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
