package dashboard

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/ansi"
	"github.com/charmbracelet/x/exp/golden"
	"github.com/muesli/termenv"

	"github.com/gamedayhq/chaos/internal/journal"
)

// sized draws the model at a window size and a time after t0, checking
// that every line has exactly the window's width.
func sized(t *testing.T, m *model, w, h int, at time.Duration) string {
	t.Helper()
	m.Update(tea.WindowSizeMsg{Width: w, Height: h})
	m.now = t0.Add(at)
	m.relayout()
	v := m.View()
	lines := strings.Split(v, "\n")
	if len(lines) != h {
		t.Errorf("view has %d lines; want %d", len(lines), h)
	}
	for i, l := range lines {
		if n := ansi.StringWidth(l); n != w {
			t.Errorf("line %d is %d cells wide; want %d: %q", i+1, n, w, l)
		}
	}
	return v
}

func TestViewGolden(t *testing.T) {
	for _, size := range [][2]int{{80, 24}, {120, 40}} {
		t.Run(fmt.Sprintf("%dx%d", size[0], size[1]), func(t *testing.T) {
			m := testModel([]Plan{shopPlan()})
			feed(m, 0, shopEvents())
			golden.RequireEqual(t, []byte(sized(t, m, size[0], size[1], 22500*time.Millisecond)))
		})
	}
}

func TestViewGoldenExperiments(t *testing.T) {
	second := shopPlan()
	second.Title, second.File = "Killed payment container comes back", "experiments/payment-kill.yaml"
	third := shopPlan()
	third.Title, third.File = "Cut database link", "experiments/db-cut.yaml"
	for _, size := range [][2]int{{80, 24}, {120, 40}} {
		t.Run(fmt.Sprintf("%dx%d", size[0], size[1]), func(t *testing.T) {
			m := testModel([]Plan{shopPlan(), second, third})
			feed(m, 0, []journal.Event{
				ev(0, "run.started", nil),
				ev(40*time.Second, "run.verdict", func(e *journal.Event) {
					*e = journal.VerdictEvent("deviated", `check "cart stays fast" broken during`)
					e.Time = t0.Add(40 * time.Second)
				}),
			})
			var evs []journal.Event
			for _, e := range shopEvents() {
				e.Time = e.Time.Add(41 * time.Second)
				evs = append(evs, e)
			}
			feed(m, 1, evs)
			golden.RequireEqual(t, []byte(sized(t, m, size[0], size[1], 63*time.Second)))
		})
	}
}

func TestNoColor(t *testing.T) {
	render := func() string {
		r := newRenderer(&bytes.Buffer{}, termenv.WithTTY(true))
		m := newModel([]Plan{shopPlan()}, &queue{}, nil, nil, r)
		feed(m, 0, shopEvents())
		m.Update(tea.WindowSizeMsg{Width: 80, Height: 24})
		return m.View()
	}
	t.Setenv("COLORTERM", "truecolor")
	t.Setenv("NO_COLOR", "")
	if v := render(); !strings.Contains(v, "\x1b[") {
		t.Fatalf("no escape codes on a colour terminal:\n%s", v)
	}
	t.Setenv("NO_COLOR", "1")
	if v := render(); strings.Contains(v, "\x1b[") {
		t.Fatalf("escape codes with NO_COLOR set:\n%q", v)
	}
}

// TestObservedShowsWhatIsJudged checks that the observed column shows,
// whole, the values each check judges, and the observation's text when
// it carries no values.
func TestObservedShowsWhatIsJudged(t *testing.T) {
	plan := []PlanCheck{
		{Name: "cart fast", From: "view-cart", Expect: "p99 < 300ms", Judges: []string{"p99"}, Failures: 1},
		{Name: "cart all", From: "view-cart", Expect: "p50 < 10ms, p99 < 300ms, success >= 99.5%", Judges: []string{"p50", "p99", "success"}, Failures: 1},
		{Name: "median", From: "view-cart", Expect: "p50 < 10ms", Judges: []string{"p50"}, Failures: 1},
		{Name: "health", Expect: "status 200", Judges: []string{"status"}, Failures: 1},
	}
	p := newChecksPanel(plan)
	obs := map[string]string{"errors": "0", "max": "1.2s", "p50": "4ms", "p90": "9ms", "p99": "212ms", "requests": "500", "rps": "50", "success": "99.8%"}
	for _, name := range []string{"cart fast", "cart all", "median"} {
		e := journal.SampleEvent(name, "during", true, "errors 0, max 1.2s, p50 4ms, p90 9ms, p99 212ms, requests 500, rps 50, success 99.8%")
		e.Observed = obs
		p.apply(e)
	}
	p.apply(journal.SampleEvent("health", "during", false, "GET http://127.0.0.1:9/health: connection refused"))
	for _, w := range []int{80, 120} {
		out := ansi.Strip(strings.Join(checksView(&p, w, 6, newStyles(plainRenderer())), "\n"))
		for _, want := range []string{"p99 212ms ", "p50 4ms, p99 212ms, success 99.8%", "p50 4ms ", "GET http"} {
			if !strings.Contains(out, want) {
				t.Errorf("checks at %d columns lack %q:\n%s", w, want, out)
			}
		}
		if strings.Contains(out, "p90") || strings.Contains(out, "requests") {
			t.Errorf("checks at %d columns show values no check judges:\n%s", w, out)
		}
	}
}
