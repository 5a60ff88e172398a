package main

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/gamedayhq/chaos/internal/journal"
	"github.com/gamedayhq/chaos/internal/report"
)

// printer writes one plain line per event: the time since the run started,
// the event type and the message. The format is stable for grep and CI logs.
type printer struct {
	mu      sync.Mutex
	w       io.Writer
	start   time.Time
	verbose bool
	last    map[string]string // last failed sample printed, by check and phase
}

func newPrinter(w io.Writer, verbose bool) *printer {
	return &printer{w: w, verbose: verbose}
}

// Event prints the event.
func (p *printer) Event(ev journal.Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.start.IsZero() || ev.Type == journal.RunStarted {
		p.start = ev.Time
	}
	// A check failing the same way every observation says so once, until
	// what it observes changes or it passes.
	if ev.Type == journal.CheckSample && !p.verbose {
		key := ev.Check + "\x00" + ev.Phase
		if ev.OK {
			delete(p.last, key)
		} else if p.last[key] == ev.Message {
			return
		} else {
			if p.last == nil {
				p.last = map[string]string{}
			}
			p.last[key] = ev.Message
		}
	}
	if !p.verbose && ev.Routine() {
		return
	}
	msg := ev.Message
	if ev.Type == journal.RunStarted {
		// The run ID names the report directory; the seed repeats the
		// run's random picks with --seed.
		var ids []string
		if ev.RunID != "" {
			ids = append(ids, "run "+ev.RunID)
		}
		ids = append(ids, fmt.Sprintf("seed %d", ev.Seed))
		msg += " (" + strings.Join(ids, ", ") + ")"
	}
	// A message may quote a service's output, whose escape sequences
	// would move the cursor and write over the lines above.
	fmt.Fprintf(p.w, "%8.3fs %-20s %s\n", ev.Time.Sub(p.start).Seconds(), ev.Type, report.TermSafe(msg))
}
