package runner_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gamedayhq/chaos/internal/journal"
)

// scrapedPrometheus answers every instant query with 0, and a query for
// the timestamp of the last sample of a series with the time scraped gives,
// as Prometheus does: what it answers is what it last scraped.
func scrapedPrometheus(t *testing.T, scraped func() time.Time) string {
	t.Helper()
	secs := func(t time.Time) string { return strconv.FormatFloat(float64(t.UnixMilli())/1000, 'f', 3, 64) }
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v := "0"
		w.Header().Set("Content-Type", "application/json")
		switch q := r.FormValue("query"); {
		case strings.HasPrefix(q, "timestamp("):
			v = secs(scraped())
		case q == "push_time_seconds":
			// No Pushgateway.
			fmt.Fprint(w, `{"status":"success","data":{"resultType":"vector","result":[]}}`)
			return
		}
		fmt.Fprintf(w, `{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[%s,%q]}]}}`, secs(time.Now()), v)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// A Prometheus check judged under a fault shorter than Prometheus's scrape
// interval read values scraped before the fault, and held "under" it: the
// run passed on what Prometheus had seen of the system before the fault.
// Each observation counts from the time of its data, and a check whose
// every observation read data from before the fault did not observe it:
// the run is an error that says so. With data scraped since, it passes.
func TestPrometheusCheckOnDataFromBeforeTheFault(t *testing.T) {
	victim := exec.Command("sleep", "60")
	if err := victim.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { victim.Process.Kill(); victim.Wait() })
	// Scraped once, as the run begins, or every 100ms.
	stale := func(begun time.Time) time.Time { return begun }
	fresh := func(time.Time) time.Time { return time.Now().Truncate(100 * time.Millisecond) }
	for _, tt := range []struct {
		name    string
		scraped func(begun time.Time) time.Time
		when    string // the phases the check is judged in
		more    string // more of the experiment
		verdict string
		phase   string // the phase left unobserved
	}{
		{"scraped before the fault", stale, "[before, during, after]", "", journal.Errored, "during"},
		{"scraped every 100ms", fresh, "[before, during, after]", "", journal.Passed, ""},
		// After the faults, data scraped before they ended says nothing
		// of the system left alone.
		{"after, scraped before the fault", stale, "[before, after]", "", journal.Errored, "after"},
		{"recovery, scraped before the fault", stale, "[before, after]", "recovery: {within: 2s}\n", journal.Errored, "after"},
		{"recovery, scraped every 100ms", fresh, "[before, after]", "recovery: {within: 2s}\n", journal.Passed, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			begun := time.Now()
			prom := scrapedPrometheus(t, func() time.Time { return tt.scraped(begun) })
			j := run(t, fmt.Sprintf(`version: v1
title: prometheus
targets:
  app: {process: {pid: %d}}
steady_state:
  - name: few errors
    probe: {prometheus: {url: %q, query: 'sum(rate(app_errors_total[1m]))'}}
    expect: {value: "< 1"}
    interval: 100ms
    when: %s
method:
  - {fault: stop, target: app, for: 1s}
%s`, victim.Process.Pid, prom, tt.when, tt.more), newService(t))
			c := check(j, "few errors")
			if j.Verdict != tt.verdict {
				t.Fatalf("verdict %s: %s (during: %s %s); want %s", j.Verdict, j.Reason, c.Results["during"], c.Reasons["during"], tt.verdict)
			}
			if tt.phase != "" && (c.Results[tt.phase] != journal.Unobserved || !strings.Contains(j.Reason, "what Prometheus last scraped")) {
				t.Errorf("%s: %s (%s), reason %s; want unobserved, saying why", tt.phase, c.Results[tt.phase], c.Reasons[tt.phase], j.Reason)
			}
		})
	}
}

// A probe step that queries Prometheus after a fault read what was scraped
// before the fault, and was done: the method passed on what Prometheus
// had seen of the system before the fault. It observes again until the
// data is newer, and a step that never saw such data is an error.
func TestPrometheusProbeStepOnDataFromBeforeTheFault(t *testing.T) {
	victim := exec.Command("sleep", "60")
	if err := victim.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { victim.Process.Kill(); victim.Wait() })
	stale := func(begun time.Time) time.Time { return begun }
	fresh := func(time.Time) time.Time { return time.Now().Truncate(100 * time.Millisecond) }
	for _, tt := range []struct {
		name    string
		scraped func(begun time.Time) time.Time
		verdict string
	}{
		{"scraped before the fault", stale, journal.Errored},
		{"scraped every 100ms", fresh, journal.Passed},
	} {
		t.Run(tt.name, func(t *testing.T) {
			begun := time.Now()
			prom := scrapedPrometheus(t, func() time.Time { return tt.scraped(begun) })
			j := run(t, fmt.Sprintf(`version: v1
title: prometheus
targets:
  app: {process: {pid: %d}}
method:
  - {fault: stop, target: app, for: 500ms}
  - name: few errors once it is back
    probe: {prometheus: {url: %q, query: 'sum(rate(app_errors_total[1m]))'}}
    expect: {value: "< 1"}
`, victim.Process.Pid, prom), newService(t))
			if j.Verdict != tt.verdict {
				t.Fatalf("verdict %s: %s; want %s", j.Verdict, j.Reason, tt.verdict)
			}
			if tt.verdict == journal.Errored && !strings.Contains(j.Reason, "what Prometheus last scraped") {
				t.Errorf("reason %q; want it to say the step passed on data scraped before the fault changed", j.Reason)
			}
		})
	}
}
