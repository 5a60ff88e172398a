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
	"github.com/gamedayhq/chaos/internal/load"
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

// TestViewGoldenStall goes on from TestViewGolden's run: the cart stream
// stalls, nothing completes and its requests hang. The p99 climbs with
// how long they have waited, and the row says how many wait.
func TestViewGoldenStall(t *testing.T) {
	evs := shopEvents()
	for i := range 3 {
		at := time.Duration(23+i) * time.Second
		evs = append(evs,
			ev(at, "load.window", func(e *journal.Event) {
				e.Stream, e.Waiting, e.Waited = "view-cart", 50*int64(i+1), time.Duration(i+1)*time.Second+200*time.Millisecond
			}),
			ev(at, "load.window", func(e *journal.Event) {
				e.Stream, e.Requests, e.Success, e.P50, e.P99, e.RPS = "place-order", 10, 1, 20*time.Millisecond, 60*time.Millisecond, 10
			}))
	}
	for _, size := range [][2]int{{80, 24}, {120, 40}} {
		t.Run(fmt.Sprintf("%dx%d", size[0], size[1]), func(t *testing.T) {
			m := testModel([]Plan{shopPlan()})
			feed(m, 0, evs)
			golden.RequireEqual(t, []byte(sized(t, m, size[0], size[1], 25500*time.Millisecond)))
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

// TestLoadShowsWaiting stalls a stream: no request completes while 50
// hang. Its p99 point is how long they had waited, not 0, and its row
// says how many wait until they are answered.
func TestLoadShowsWaiting(t *testing.T) {
	p := newLoadPanel([]PlanStream{{Name: "view-cart", Rate: 50}})
	window := func(at time.Duration, requests int64, p99 time.Duration, waiting int64, waited time.Duration) {
		w := journal.Window{Stream: "view-cart", Start: t0.Add(at - time.Second), End: t0.Add(at), Requests: requests, Successes: requests,
			Latency: load.Latency{P99: p99}, Inflight: waiting, Waiting: load.Latency{Max: waited}}
		e := journal.WindowEvent(w)
		e.Time = w.End
		p.apply(e)
	}
	view := func(w int) string {
		lines := loadView(&p, w, 2, newStyles(plainRenderer()))
		for i, l := range lines {
			if n := ansi.StringWidth(l); n != w {
				t.Errorf("load line %d is %d cells wide; want %d: %q", i+1, n, w, l)
			}
		}
		return ansi.Strip(strings.Join(lines, "\n"))
	}
	for i := range 5 {
		window(time.Duration(i+1)*time.Second, 50, 12*time.Millisecond, 0, 0)
	}
	window(6*time.Second, 0, 0, 50, 4200*time.Millisecond)
	pts := p.rows[0].pts
	if got := pts[len(pts)-1].p99; got != 4200*time.Millisecond {
		t.Errorf("the p99 point of a window where nothing completed and 50 requests waited up to 4.2s is %s; want 4.2s", got)
	}
	for _, w := range []int{80, 120} {
		out := view(w)
		for _, want := range []string{"4.20s", "50 waiting", "none"} {
			if !strings.Contains(out, want) {
				t.Errorf("load at %d columns, a stalled window, lacks %q:\n%s", w, want, out)
			}
		}
		if strings.Contains(out, "0.0%") {
			t.Errorf("load at %d columns, a window where nothing came back, shows a share of successes:\n%s", w, out)
		}
	}
	// The status line says it too, and no share of answers it has not.
	e := newExpState(Plan{Streams: []PlanStream{{Name: "view-cart", Rate: 50}}})
	e.load = p
	if got := statusText(e, t0.Add(6*time.Second), 120); !strings.Contains(got, "50 waiting") || strings.Contains(got, "% ok") {
		t.Errorf("the status line of a stalled stream is %q; want it to say 50 waiting and no share", got)
	}
	// Answered again, with a few requests in flight as any busy stream
	// has, younger than the answers: the row shows the p99 and no
	// waiting.
	window(7*time.Second, 50, 15*time.Millisecond, 2, 3*time.Millisecond)
	if out := view(80); strings.Contains(out, "waiting") || !strings.Contains(out, "15ms") {
		t.Errorf("load after the stall still says that requests wait, or not the p99:\n%s", out)
	}
	// Answered, but some requests hang longer than the answers took.
	window(8*time.Second, 40, 15*time.Millisecond, 10, 2*time.Second)
	if out := view(80); !strings.Contains(out, "10 waiting") || !strings.Contains(out, "2.00s") {
		t.Errorf("load with 10 requests waiting up to 2s beside answers of 15ms does not say so:\n%s", out)
	}
	// A window with nothing sent and nothing waiting (a slow stream) is
	// no failure.
	window(9*time.Second, 0, 0, 0, 0)
	if out := view(80); strings.Contains(out, "0.0%") || strings.Contains(out, "none") {
		t.Errorf("load after a window with no traffic shows it as failed:\n%s", out)
	}
}

// A fault that failed half way and could not be undone has no
// fault.injected, only its fault.revert_failed: it is still in place, and
// the faults panel and the status line must say so.
func TestFaultNotUndoneWithoutInjected(t *testing.T) {
	e := newExpState(shopPlan())
	e.apply(journal.Event{Time: t0, Type: journal.RunStarted})
	e.apply(journal.Event{Time: t0.Add(time.Second), Type: journal.FaultRevertFailed, Step: "pause db", Fault: "pause",
		TargetID: "4f2a", Message: "shop-db: unpause: cannot reach the Docker daemon"})
	if got := statusText(e, t0.Add(2*time.Second), 119); !strings.Contains(got, "1 NOT REVERTED") {
		t.Errorf("statusText = %q; want it to say 1 NOT REVERTED", got)
	}
	got := ansi.Strip(strings.Join(faultsView(&e.faults, t0.Add(2*time.Second), 80, 4, newStyles(plainRenderer())), "\n"))
	if !strings.Contains(got, "NOT UNDONE") || !strings.Contains(got, "shop-db") {
		t.Errorf("faultsView =\n%s\nwant the fault that was not undone", got)
	}
}

// TestUndoNotDone: an exec step's undo that failed leaves its change in
// place, as a fault not reverted is: the faults panel and the status line
// say so.
func TestUndoNotDone(t *testing.T) {
	e := newExpState(shopPlan())
	e.apply(journal.Event{Time: t0, Type: journal.RunStarted})
	e.apply(journal.Event{Time: t0.Add(time.Second), Type: journal.StepUndoFailed, Step: "flush cache",
		Message: `the undo of step "flush cache" (warm-cache.sh): exit code 1`})
	if got := statusText(e, t0.Add(2*time.Second), 119); !strings.Contains(got, "1 NOT REVERTED") {
		t.Errorf("statusText = %q; want it to say 1 NOT REVERTED", got)
	}
	got := ansi.Strip(strings.Join(faultsView(&e.faults, t0.Add(2*time.Second), 80, 4, newStyles(plainRenderer())), "\n"))
	if !strings.Contains(got, "NOT UNDONE") || !strings.Contains(got, "flush cache") {
		t.Errorf("faultsView =\n%s\nwant the undo that was not done", got)
	}
}

// TestLoadShareNeverRoundsAFailureAway: a stream with one failure in
// 3000 requests a window shows a share of successes below 100%, in its
// row and in the status line.
func TestLoadShareNeverRoundsAFailureAway(t *testing.T) {
	p := newLoadPanel([]PlanStream{{Name: "view-cart", Rate: 3000}})
	w := journal.Window{Stream: "view-cart", Start: t0, End: t0.Add(time.Second), Requests: 3000, Successes: 2999,
		Latency: load.Latency{P99: 12 * time.Millisecond}}
	e := journal.WindowEvent(w)
	e.Time = w.End
	p.apply(e)
	out := ansi.Strip(strings.Join(loadView(&p, 80, 2, newStyles(plainRenderer())), "\n"))
	if strings.Contains(out, "100") || !strings.Contains(out, "99.97%") {
		t.Errorf("load of a window with 1 failure in 3000 requests shows no share below 100%%:\n%s", out)
	}
	st := newExpState(Plan{Streams: []PlanStream{{Name: "view-cart", Rate: 3000}}})
	st.load = p
	if got := statusText(st, t0.Add(time.Second), 120); strings.Contains(got, "100") || !strings.Contains(got, "99.97% ok") {
		t.Errorf("the status line of a stream with 1 failure in 3000 requests is %q; want 99.97%% ok", got)
	}
}

// A fault with nothing to revert (a kill) is over once applied: the
// dashboard does not show it in place until the end of the run, nor ask
// to revert it.
func TestIrreversibleFaultNotInPlace(t *testing.T) {
	e := newExpState(Plan{Title: "t"})
	e.apply(journal.Event{Time: t0, Type: journal.RunStarted})
	e.apply(journal.Event{Time: t0.Add(time.Second), Type: journal.FaultInjected, Step: "k", Fault: "kill", Target: "svc", TargetID: "4242",
		Irreversible: true, Message: "kill on process 4242"})
	if n := len(e.faults.active); n != 0 {
		t.Errorf("%d faults in place after a kill; want none", n)
	}
	if got := statusText(e, t0.Add(2*time.Second), 120); strings.Contains(got, "fault") {
		t.Errorf("the status line after a kill is %q; want no fault in place", got)
	}
	out := ansi.Strip(strings.Join(faultsView(&e.faults, t0.Add(2*time.Second), 80, 4, newStyles(plainRenderer())), "\n"))
	if !strings.Contains(out, "0 active · 1 done") {
		t.Errorf("the faults panel after a kill:\n%s\nwant 0 active · 1 done", out)
	}
}

// TestViewTinyWindows draws the busy dashboard in windows from 0x0 to
// 40x14, with one experiment and with two, the help shown and a
// question asked: a terminal that reports no rows, or a window dragged
// down to a few cells, must not end the dashboard with a panic.
func TestViewTinyWindows(t *testing.T) {
	for _, plans := range [][]Plan{{shopPlan()}, {shopPlan(), shopPlan()}} {
		for _, w := range []int{0, 1, 2, 3, 5, 8, 12, 16, 17, 20, 28, 40} {
			for h := range 15 {
				m := testModel(plans)
				feed(m, 0, shopEvents())
				func() {
					defer func() {
						if p := recover(); p != nil {
							t.Errorf("%d experiments in %dx%d: panic: %v", len(plans), w, h, p)
						}
					}()
					m.Update(tea.WindowSizeMsg{Width: w, Height: h})
					m.now = t0.Add(22 * time.Second)
					m.View()
					m.showHelp = true
					m.View()
					m.confirm = confirmAbort
					m.View()
				}()
			}
		}
	}
}

// TestChecksHiddenFailingAreCounted has more failing checks than rows to
// show them: the line under the rows must not say the hidden ones are ok.
func TestChecksHiddenFailingAreCounted(t *testing.T) {
	var plan []PlanCheck
	for i := range 6 {
		plan = append(plan, PlanCheck{Name: fmt.Sprintf("check %d", i), Expect: "status 200", Failures: 1})
	}
	p := newChecksPanel(plan)
	for i := range 6 {
		p.apply(journal.SampleEvent(fmt.Sprintf("check %d", i), "during", i%2 == 1, "status 503"))
	}
	// A title, three rows and the line under them: the three failing
	// checks take the rows.
	out := ansi.Strip(strings.Join(checksView(&p, 100, 5, newStyles(plainRenderer())), "\n"))
	if !strings.Contains(out, "3/6 ok") || !strings.Contains(out, "+3 more, all ok") {
		t.Errorf("three failing checks in three rows; want the other three said ok:\n%s", out)
	}
	out = ansi.Strip(strings.Join(checksView(&p, 100, 4, newStyles(plainRenderer())), "\n"))
	if strings.Contains(out, "all ok") || !strings.Contains(out, "+4 more, 1 not ok") {
		t.Errorf("three failing checks in two rows; want the hidden one that fails counted:\n%s", out)
	}
}

// TestHoldAskedEndsWithTheMethod asks for a hold during the last step:
// the method ends without another step to hold before, and the run goes
// on into the after phase. The screen must not go on saying a hold is
// coming.
func TestHoldAskedEndsWithTheMethod(t *testing.T) {
	m := testModel([]Plan{shopPlan()})
	evs := append(shopEvents(), ev(23*time.Second, "", func(e *journal.Event) {
		*e = journal.OperatorEvent(journal.Hold)
		e.Time = t0.Add(23 * time.Second)
	}))
	feed(m, 0, evs)
	if v := ansi.Strip(sized(t, m, 120, 40, 23*time.Second)); !strings.Contains(v, "hold asked") {
		t.Fatalf("the hold asked is not shown:\n%s", v)
	}
	feed(m, 0, []journal.Event{ev(32*time.Second, "phase.started", func(e *journal.Event) { e.Phase, e.Message = "after", "after" })})
	v := ansi.Strip(sized(t, m, 120, 40, 33*time.Second))
	if strings.Contains(v, "hold asked") || strings.Contains(v, "hold before next") {
		t.Errorf("the after phase still shows a hold to come:\n%s", v)
	}
	if !strings.Contains(v, "hold not taken") {
		t.Errorf("the log does not say the hold was not taken:\n%s", v)
	}
}

// TestOutsideTextCannotMoveTheScreen: an observation whose text holds a
// command's stderr with colours, a screen clear, a cursor move and a line
// break keeps every line of the view in its place, and none of those
// reaches the terminal.
func TestOutsideTextCannotMoveTheScreen(t *testing.T) {
	m := testModel([]Plan{shopPlan()})
	evs := shopEvents()
	e := journal.SampleEvent("cart stays fast", "during", false, "exit code 1 (stderr: \x1b[31merror\x1b[0m: boom\x1b[2J\x1b[H\a)\nnext line")
	e.Time = t0.Add(22 * time.Second)
	evs = append(evs, e)
	m.q.push(item{exp: -1, text: "chaos: \x1b[2Jwarning"})
	feed(m, 0, evs)
	v := sized(t, m, 120, 40, 22500*time.Millisecond)
	for _, bad := range []string{"\x1b[2J", "\x1b[H", "\x1b[31m", "\a"} {
		if strings.Contains(v, bad) {
			t.Errorf("the view holds %q from outside:\n%s", bad, v)
		}
	}
	if s := ansi.Strip(v); !strings.Contains(s, "error: boom") || !strings.Contains(s, "⏎ next line") {
		t.Errorf("the observation's text is not shown:\n%s", s)
	}
}

// TestLoadHiddenStreamsAreCounted has more streams than rows: the ones
// failing or stalled take the rows, and those left out are counted, with
// how many of them are in trouble.
func TestLoadHiddenStreamsAreCounted(t *testing.T) {
	p := newLoadPanel([]PlanStream{{Name: "alpha", Rate: 10}, {Name: "bravo", Rate: 10}, {Name: "charlie", Rate: 10}, {Name: "delta", Rate: 10}})
	window := func(name string, f func(e *journal.Event)) {
		e := journal.Event{Type: journal.LoadWindow, Time: t0, Stream: name, Requests: 10, Success: 1, RPS: 10, P99: 5 * time.Millisecond}
		if f != nil {
			f(&e)
		}
		p.apply(e)
	}
	window("alpha", nil)
	window("bravo", func(e *journal.Event) { e.Success = 0.5 })
	window("charlie", func(e *journal.Event) { e.Requests, e.Waiting, e.Waited = 0, 10, 3*time.Second })
	window("delta", nil)
	out := ansi.Strip(strings.Join(loadView(&p, 100, 3, newStyles(plainRenderer())), "\n"))
	if !strings.Contains(out, "bravo") || !strings.Contains(out, "+3 more, 1 failing or stalled") {
		t.Errorf("four streams in two rows:\n%s\nwant bravo shown, and the three others counted with charlie's stall", out)
	}
	out = ansi.Strip(strings.Join(loadView(&p, 100, 4, newStyles(plainRenderer())), "\n"))
	if !strings.Contains(out, "bravo") || !strings.Contains(out, "charlie") || !strings.Contains(out, "+2 more") || strings.Contains(out, "failing or stalled") {
		t.Errorf("four streams in three rows:\n%s\nwant bravo and charlie shown, and two others counted", out)
	}
}
