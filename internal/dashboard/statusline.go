package dashboard

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/gamedayhq/chaos/internal/journal"
)

// StatusLine is the live view without the dashboard: the plain lines of
// another sink scroll by, and under them one line, redrawn in place, says
// where the run is. It is meant for a terminal; in CI use the plain sink
// alone.
type StatusLine struct {
	mu    sync.Mutex
	w     io.Writer
	inner journal.Sink
	width int
	e     *expState
	shown bool
	stop  chan struct{}
	done  chan struct{}
	once  sync.Once
}

// statusInterval is how often the status line is redrawn for its clocks.
const statusInterval = 250 * time.Millisecond

// NewStatusLine shows plan's run on w, a terminal width cells wide; inner
// writes the plain lines (it may be nil). Close it before writing to w.
func NewStatusLine(w io.Writer, plan Plan, width int, inner journal.Sink) *StatusLine {
	if width <= 0 {
		width = 80
	}
	s := &StatusLine{w: w, inner: inner, width: width, e: newExpState(plan), stop: make(chan struct{}), done: make(chan struct{})}
	go s.loop()
	return s
}

func (s *StatusLine) loop() {
	defer close(s.done)
	t := time.NewTicker(statusInterval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case now := <-t.C:
			s.mu.Lock()
			s.draw(now)
			s.mu.Unlock()
		}
	}
}

// Event passes the event to the plain sink above the line, and redraws it.
func (s *StatusLine) Event(ev journal.Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.e.apply(ev)
	s.clear()
	if s.inner != nil {
		s.inner.Event(ev)
	}
	s.draw(time.Now())
}

// Write prints the caller's own text above the line.
func (s *StatusLine) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.clear()
	n, err := s.w.Write(p)
	s.draw(time.Now())
	return n, err
}

// Close stops the redraws and removes the line.
func (s *StatusLine) Close() {
	s.once.Do(func() {
		close(s.stop)
		<-s.done
		s.mu.Lock()
		s.clear()
		s.mu.Unlock()
	})
}

func (s *StatusLine) clear() {
	if s.shown {
		io.WriteString(s.w, "\r\x1b[K")
		s.shown = false
	}
}

func (s *StatusLine) draw(now time.Time) {
	select {
	case <-s.stop:
		return
	default:
	}
	// One cell short of the width: a line that fills the last column
	// makes some terminals wrap, and \r would then redraw the wrong line.
	io.WriteString(s.w, "\r"+statusText(s.e, now, s.width-1)+"\x1b[K")
	s.shown = true
}

// statusText is the status line: phase, clock, progress bar, the running
// step with its countdown, faults in place, checks failing, traffic.
func statusText(e *expState, now time.Time, w int) string {
	frac, left := e.progress(now)
	phase := e.head.phase
	switch {
	case e.head.verdict != "":
		phase = e.head.verdict
	case e.head.hold == holdWaiting:
		phase = "held"
	case e.head.aborted:
		phase = "aborting"
	case phase == "":
		phase = "starting"
	}
	head := fmt.Sprintf("%s %s ", phase, clock(e.head.elapsed(now)))
	tail := fmt.Sprintf(" %3d%%", int(frac*100))
	if e.running() && left > 0 {
		tail += " ~" + clock(left)
	}
	// What matters most comes first: the end of the line may be cut.
	var parts []string
	if n := len(e.faults.active); n > 0 {
		parts = append(parts, fmt.Sprintf("%d fault%s", n, plural(n)))
	}
	if n := len(e.faults.failed); n > 0 {
		parts = append(parts, fmt.Sprintf("%d NOT REVERTED", n))
	}
	bad := 0
	for _, r := range e.checks.rows {
		if checkBad(r) {
			bad++
		}
	}
	if len(e.checks.rows) > 0 {
		parts = append(parts, fmt.Sprintf("checks %d/%d ok", len(e.checks.rows)-bad, len(e.checks.rows)))
	}
	if i := e.steps.current(); i >= 0 && e.steps.rows[i].state == stateRunning {
		r := e.steps.rows[i]
		txt := r.Name
		if r.Planned > 0 {
			txt += " " + short(r.Planned-now.Sub(r.started)) + " left"
		}
		parts = append(parts, txt)
	}
	var rps, minSucc float64
	minSucc = 1
	seen, answered := false, false
	var stalled int64
	for _, r := range e.load.rows {
		if len(r.pts) > 0 {
			last := r.pts[len(r.pts)-1]
			rps += last.rps
			seen = true
			if last.requests > 0 {
				minSucc = min(minSucc, last.success)
				answered = true
			}
			// Requests that waited longer than the answers took, as
			// the load panel says.
			if last.waiting > 0 && last.waited >= last.p99 {
				stalled += last.waiting
			}
		}
	}
	if seen {
		txt := fmt.Sprintf("%.0f req/s", rps)
		if answered {
			txt += " " + percent(minSucc) + " ok"
		}
		if stalled > 0 {
			txt += fmt.Sprintf(", %d waiting", stalled)
		}
		parts = append(parts, txt)
	}
	rest := ""
	if len(parts) > 0 {
		rest = " · " + strings.Join(parts, " · ")
	}
	barW := min(max(w/8, 10), 30)
	if len(head)+barW+len(tail) > w {
		barW = max(w-len(head)-len(tail), 0)
	}
	return strings.TrimRight(fit(head+bar(frac, barW)+tail+rest, w), " ")
}
