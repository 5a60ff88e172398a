package dashboard

import (
	"fmt"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/muesli/termenv"

	"github.com/gamedayhq/chaos/internal/journal"
)

// busyModel is a large run in full colour: 4 load streams with a minute of
// windows, 20 checks, a dozen steps, faults in place and a full log.
func busyModel(b *testing.B, w, h int) *model {
	p := shopPlan()
	p.Streams = nil
	for i := range 4 {
		p.Streams = append(p.Streams, PlanStream{Name: fmt.Sprintf("stream-%d", i), Rate: 50})
	}
	p.Checks = nil
	for i := range 20 {
		p.Checks = append(p.Checks, PlanCheck{Name: fmt.Sprintf("check-%02d", i), From: "stream-0", Expect: "p99 < 300ms, success >= 99.5%", Failures: 3, Abort: i >= 16})
	}
	for i := range 8 {
		p.Steps = append(p.Steps, PlanStep{Name: fmt.Sprintf("wait %d", i), Kind: "wait", Section: "method", Planned: time.Second, Holds: time.Second})
	}
	r := lipgloss.NewRenderer(nil)
	r.SetColorProfile(termenv.TrueColor)
	m := testModel([]Plan{p})
	m.st = newStyles(r)
	var evs []journal.Event
	evs = append(evs, shopEvents()[:8]...)
	for s := range 60 {
		at := time.Duration(s) * time.Second
		for i := range 4 {
			evs = append(evs, ev(at, "load.window", func(e *journal.Event) {
				e.Stream, e.Requests, e.Success = fmt.Sprintf("stream-%d", i), 50, 1-float64(s%7)/100
				e.P50, e.P99, e.RPS = 4*time.Millisecond, time.Duration(10+s%13)*time.Millisecond, 48+float64(s%5)
			}))
		}
		for c := range 20 {
			evs = append(evs, journal.SampleEvent(fmt.Sprintf("check-%02d", c), "during", (s+c)%9 != 0, fmt.Sprintf("p99 %dms, success 99.%d%%", 10+s%13, s%10)))
			evs[len(evs)-1].Time = t0.Add(at)
		}
	}
	evs = append(evs, ev(59*time.Second, "fault.injected", func(e *journal.Event) {
		e.Step, e.Message, e.Fault, e.TargetID = "stop payment", "stop on process 4242 (payment)", "stop", "4242"
	}))
	feed(m, 0, evs)
	m.Update(tea.WindowSizeMsg{Width: w, Height: h})
	m.now = t0.Add(60 * time.Second)
	return m
}

// BenchmarkView measures one frame. At 10 frames a second, a frame of
// N ns costs N/1e6 % of one core: 500 µs a frame would be 0.5 %.
func BenchmarkView(b *testing.B) {
	for _, size := range [][2]int{{80, 24}, {120, 40}, {200, 60}} {
		b.Run(fmt.Sprintf("%dx%d", size[0], size[1]), func(b *testing.B) {
			m := busyModel(b, size[0], size[1])
			b.ReportAllocs()
			for b.Loop() {
				_ = m.View()
			}
			perFrame := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
			b.ReportMetric(perFrame*10/1e9*100, "%core@10fps")
		})
	}
}

// BenchmarkFrame is a whole frame as the program runs it: the tick takes
// a second's worth of events (4 windows and 20 samples), lays out, draws.
func BenchmarkFrame(b *testing.B) {
	m := busyModel(b, 120, 40)
	batch := make([]journal.Event, 0, 24)
	for i := range 4 {
		batch = append(batch, ev(61*time.Second, "load.window", func(e *journal.Event) {
			e.Stream, e.Success, e.P99, e.RPS = fmt.Sprintf("stream-%d", i), 0.999, 12*time.Millisecond, 50
		}))
	}
	for c := range 20 {
		e := journal.SampleEvent(fmt.Sprintf("check-%02d", c), "", true, "p99 12ms")
		e.Message = "p99 12ms"
		e.Time = t0.Add(61 * time.Second)
		batch = append(batch, e)
	}
	b.ReportAllocs()
	for b.Loop() {
		for _, e := range batch {
			m.q.push(item{exp: 0, ev: e})
		}
		m.Update(tickMsg(t0.Add(61 * time.Second)))
		_ = m.View()
	}
	perFrame := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
	b.ReportMetric(perFrame*10/1e9*100, "%core@10fps")
}
