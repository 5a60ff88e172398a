package journal_test

import (
	"testing"

	"github.com/gamedayhq/chaos/internal/journal"
)

// The worst failed observation is the one furthest from what the check
// wants: the highest latency under "<", the lowest success under ">=";
// values that cannot be ordered (a refused connection) have none.
func TestBreakagesWorst(t *testing.T) {
	fail := func(reason, key, v string, faults ...string) journal.Sample {
		return journal.Sample{Phase: journal.CheckDuring, Reason: reason, Observed: map[string]string{key: v}, Faults: faults}
	}
	for _, tc := range []struct {
		name    string
		samples []journal.Sample
		worst   string
		faults  []string
		failed  int
	}{
		{"latency", []journal.Sample{
			fail("p99 257ms, want < 50ms", "p99", "257ms", "slow"),
			{Phase: journal.CheckDuring, OK: true},
			fail("p99 1.2s, want < 50ms", "p99", "1.2s", "slow", "down"),
			fail("p99 300ms, want < 50ms", "p99", "300ms", "down"),
		}, "p99 1.2s", []string{"slow", "down"}, 3},
		{"success", []journal.Sample{
			fail("success 45.33%, want >= 80%", "success", "45.33%"),
			fail("success 12%, want >= 80%", "success", "12%"),
			fail("success 60%, want >= 80%", "success", "60%"),
		}, "success 12%", nil, 3},
		{"lower bounds, with requests still waiting", []journal.Sample{
			fail("p99 1.009s+, want < 400ms (7 requests still waiting, the oldest for 1.029s)", "p99", "1.009s+"),
			fail("p99 2.009s+, want < 400ms (12 requests still waiting, the oldest for 2.029s)", "p99", "2.009s+"),
			fail("p99 800ms, want < 400ms", "p99", "800ms"),
		}, "p99 2.009s+", nil, 3},
		{"not ordered", []journal.Sample{
			fail("GET /health: connection refused", "status", ""),
			fail("GET /health: connection refused", "status", ""),
		}, "", nil, 2},
	} {
		c := &journal.Check{Results: map[string]string{journal.CheckDuring: journal.Broken}, Samples: tc.samples}
		bs := c.Breakages()
		if len(bs) != 1 {
			t.Fatalf("%s: %d breakages; want 1", tc.name, len(bs))
		}
		b := bs[0]
		if b.WorstValue != tc.worst || (tc.worst == "") != (b.Worst == nil) {
			t.Errorf("%s: worst %q; want %q", tc.name, b.WorstValue, tc.worst)
		}
		if b.First != &c.Samples[0] {
			t.Errorf("%s: first is not the first failed observation", tc.name)
		}
		if len(b.Faults) != len(tc.faults) || len(tc.faults) > 0 && (b.Faults[0] != tc.faults[0] || b.Faults[1] != tc.faults[1]) {
			t.Errorf("%s: faults %q; want %q", tc.name, b.Faults, tc.faults)
		}
		if b.Failed != tc.failed || b.Observed != len(tc.samples) {
			t.Errorf("%s: %d of %d failed", tc.name, b.Failed, b.Observed)
		}
	}
}
