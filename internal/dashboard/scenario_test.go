package dashboard

import (
	"io"
	"time"

	"github.com/charmbracelet/lipgloss"
	"github.com/muesli/termenv"

	"github.com/gamedayhq/chaos/internal/journal"
)

// t0 is when the scenarios start; views are drawn at fixed times after it.
var t0 = time.Date(2025, 11, 28, 9, 0, 0, 0, time.UTC)

func plainRenderer() *lipgloss.Renderer {
	r := lipgloss.NewRenderer(io.Discard)
	r.SetColorProfile(termenv.Ascii)
	return r
}

func shopPlan() Plan {
	return Plan{
		Title: "A slow payment service must not take the shop down",
		File:  "experiments/payment-latency.yaml",
		Steps: []PlanStep{
			{Name: "latency payment-link", Kind: "fault", Section: "method", Fault: "latency", Target: "payment-link", Planned: 30 * time.Second, Holds: 30 * time.Second},
			{Name: "wait 5s", Kind: "wait", Section: "method", Planned: 5 * time.Second, Holds: 5 * time.Second},
			{Name: "stop payment", Kind: "fault", Section: "method", Fault: "stop", Target: "payment", Planned: 20 * time.Second, Holds: 20 * time.Second},
			{Name: "http probe", Kind: "probe", Section: "method"},
			{Name: "exec ./restore.sh", Kind: "exec", Section: "rollbacks"},
		},
		Checks: []PlanCheck{
			{Name: "cart stays fast", From: "view-cart", Expect: "p99 < 300ms, success >= 99.5%", Judges: []string{"p99", "success"}, Failures: 1},
			{Name: "orders accepted", From: "place-order", Expect: "success >= 99%", Judges: []string{"success"}, Failures: 2},
			{Name: "payment healthy", Expect: "status 200", Judges: []string{"status"}, Failures: 1},
			{Name: "shop alive", Abort: true, From: "view-cart", Expect: "success >= 80%", Judges: []string{"success"}, Failures: 3},
		},
		Streams:  []PlanStream{{Name: "view-cart", Rate: 50}, {Name: "place-order", Rate: 10}},
		Recovery: 20 * time.Second,
	}
}

// ev builds an event at t0+at.
func ev(at time.Duration, typ journal.Type, f func(*journal.Event)) journal.Event {
	e := journal.Event{Time: t0.Add(at), Type: typ}
	if f != nil {
		f(&e)
	}
	return e
}

// shopEvents is a run up to 20 s into the method's first fault: the cart
// stream degrades and one check fails.
func shopEvents() []journal.Event {
	sec := time.Second
	evs := []journal.Event{
		ev(0, "run.started", func(e *journal.Event) {
			e.Message = `"A slow payment service must not take the shop down" from experiments/payment-latency.yaml`
		}),
		ev(100*time.Millisecond, "load.started", func(e *journal.Event) { e.Message = "view-cart: GET http://127.0.0.1:8080/cart/42 at 50/s" }),
		ev(200*time.Millisecond, "phase.started", func(e *journal.Event) { e.Phase, e.Message = "before", "before" }),
		ev(1*sec, "check.held", func(e *journal.Event) {
			e.Check, e.Phase, e.Message = "payment healthy", "before", "payment healthy held before"
		}),
		ev(2*sec, "phase.started", func(e *journal.Event) { e.Phase, e.Message = "method", "method" }),
		ev(2*sec, "step.started", func(e *journal.Event) {
			e.Step, e.Message, e.Kind, e.Planned = "latency payment-link", "latency payment-link", "fault", 30*time.Second
		}),
		ev(2*sec, "target.resolved", func(e *journal.Event) {
			e.Step, e.Message = "latency payment-link", "payment-link: 1 of 1 matching picked: proxy 127.0.0.1:9091"
		}),
		ev(2*sec, "fault.injected", func(e *journal.Event) {
			e.Step, e.Message = "latency payment-link", "latency on proxy 127.0.0.1:9091 (payment-link)"
			e.Fault, e.Target, e.TargetID = "latency", "payment-link", "127.0.0.1:9091"
		}),
	}
	for i := range 22 {
		at := time.Duration(i+1) * sec
		succ := 1.0
		p99 := 12 * time.Millisecond
		if i >= 14 {
			succ, p99 = 0.93, 3100*time.Millisecond
		}
		evs = append(evs,
			ev(at, "load.window", func(e *journal.Event) {
				e.Stream, e.Requests, e.Success, e.P50, e.P99, e.RPS = "view-cart", 50, succ, 4*time.Millisecond, p99, 50-float64(i%3)
			}),
			ev(at, "load.window", func(e *journal.Event) {
				e.Stream, e.Requests, e.Success, e.P50, e.P99, e.RPS = "place-order", 10, 1, 20*time.Millisecond, 40*time.Millisecond+time.Duration(i)*time.Millisecond, 10
			}))
		if i >= 2 {
			ok, value := true, "p50 4ms, p90 9ms, p99 12ms, requests 50, rps 50, success 100%"
			obs := map[string]string{"p50": "4ms", "p90": "9ms", "p99": "12ms", "requests": "50", "rps": "50", "success": "100%"}
			if i >= 14 {
				ok, value = false, "p99 3.1s is not < 300ms"
				obs = map[string]string{"p50": "4ms", "p90": "2.9s", "p99": "3.1s", "requests": "50", "rps": "50", "success": "93%"}
			}
			e := journal.SampleEvent("cart stays fast", "during", ok, value)
			e.Time, e.Observed = t0.Add(at), obs
			evs = append(evs, e)
		}
	}
	e := journal.SampleEvent("orders accepted", "during", true, "p50 20ms, p99 61ms, requests 10, success 100%")
	e.Time = t0.Add(21 * sec)
	e.Observed = map[string]string{"p50": "20ms", "p99": "61ms", "requests": "10", "success": "100%"}
	evs = append(evs, e)
	return evs
}

// feed puts events into a model as the sinks would and takes them.
func feed(m *model, exp int, evs []journal.Event) {
	for _, e := range evs {
		m.q.push(item{exp: exp, ev: e})
	}
	m.drain()
}

func testModel(plans []Plan) *model {
	cmds := make([]chan journal.Command, len(plans))
	for i := range cmds {
		cmds[i] = make(chan journal.Command, 4)
	}
	return newModel(plans, &queue{}, cmds, nil, plainRenderer())
}
