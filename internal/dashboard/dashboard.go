// Package dashboard shows experiment runs live in the terminal: full
// screen with the dashboard, or as one status line under the plain lines.
//
// It is a consumer of the runner's events and a sender of operator
// commands, nothing more: it decides nothing about the run. Events arrive
// through sinks from the runner's goroutines and are queued without ever
// blocking the runner; the screen takes them ten times a second.
package dashboard

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/muesli/termenv"

	"github.com/gamedayhq/chaos/internal/journal"
)

// Options are the dashboard's settings; the zero value draws on the
// process's terminal.
type Options struct {
	// Input is where keys come from; os.Stdin when nil.
	Input io.Reader
	// Output is the terminal drawn on; os.Stderr when nil, so that stdout
	// stays free for --json. The final summary is written here too.
	Output io.Writer
	// Interrupt is called when the operator presses q or Ctrl-C (confirmed
	// while faults are in place). The caller stops the run as it does on
	// SIGINT; a second call is like a second signal.
	Interrupt func()
}

// Result is what the caller knows of an experiment once it has ended:
// where its reports are.
type Result struct {
	Verdict  string
	Reason   string
	Duration time.Duration
	Reports  []Report
}

// Report is one written report.
type Report struct {
	Name string // "journal", "summary"
	Path string
}

// Dashboard is the full-screen view of one or more experiments run one
// after another.
type Dashboard struct {
	opts  Options
	q     *queue
	cmds  []chan journal.Command
	m     *model
	quit  sync.Once
	out   io.Writer
	input io.Reader
	// mu guards what follows. notes are the caller's messages, left on
	// the terminal with the summary: the log they were shown in goes with
	// the screen. ended is set once Run is over: the terminal is the
	// caller's again, and Write writes on it.
	mu          sync.Mutex
	notes       []string
	notesMissed int
	ended       bool
}

// maxNotes bounds the caller's messages kept for the summary.
const maxNotes = 50

// New prepares a dashboard for experiments run in the order of plans.
func New(plans []Plan, opts Options) *Dashboard {
	d := &Dashboard{opts: opts, q: &queue{}, out: opts.Output, input: opts.Input}
	if d.out == nil {
		d.out = os.Stderr
	}
	if d.input == nil {
		d.input = os.Stdin
	}
	d.cmds = make([]chan journal.Command, len(plans))
	for i := range d.cmds {
		d.cmds[i] = make(chan journal.Command, 4)
	}
	d.m = newModel(plans, d.q, d.cmds, opts.Interrupt, newRenderer(d.out))
	return d
}

// Sink is where experiment i's events go. It never blocks.
func (d *Dashboard) Sink(i int) journal.Sink {
	return journal.SinkFunc(func(ev journal.Event) { d.q.push(item{exp: i, ev: ev}) })
}

// Commands is the channel the operator's commands for experiment i come
// on; hand it to the runner.
func (d *Dashboard) Commands(i int) <-chan journal.Command {
	if i < 0 || i >= len(d.cmds) {
		return nil
	}
	return d.cmds[i]
}

// Finished records experiment i's result, for the list and the summary.
func (d *Dashboard) Finished(i int, r Result) {
	d.q.push(item{exp: i, res: &r})
}

// Write shows the caller's own messages in the event log, a line each,
// and keeps them for the summary; once the dashboard has ended, it writes
// them on the terminal.
func (d *Dashboard) Write(p []byte) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.ended {
		return d.out.Write(p)
	}
	for _, line := range strings.Split(strings.TrimRight(string(p), "\n"), "\n") {
		d.q.push(item{exp: -1, text: line})
		switch {
		case strings.TrimSpace(line) == "":
		case len(d.notes) < maxNotes:
			d.notes = append(d.notes, clean(line))
		default:
			d.notesMissed++
		}
	}
	return len(p), nil
}

// Quit closes the dashboard once the queued events are shown; Run then
// returns. It may be called before Run and more than once.
func (d *Dashboard) Quit() {
	d.quit.Do(d.q.close)
}

// Run draws the dashboard until Quit, then restores the terminal and
// leaves a summary of every experiment with its reports on it.
func (d *Dashboard) Run() error {
	p := tea.NewProgram(d.m,
		tea.WithInput(d.input),
		tea.WithOutput(d.out),
		tea.WithAltScreen(),
		// The caller owns SIGINT and SIGTERM: they must revert faults.
		tea.WithoutSignalHandler(),
		tea.WithFPS(30),
	)
	_, err := p.Run()
	// Whatever stopped the program, take what is left so that the summary
	// is complete.
	d.m.drain()
	fmt.Fprint(d.out, summaryView(d.m.exps, d.m.st))
	d.mu.Lock()
	if len(d.notes) > 0 {
		fmt.Fprintf(d.out, "\n%s\n", strings.Join(d.notes, "\n"))
	}
	if d.notesMissed > 0 {
		fmt.Fprintf(d.out, "(%d more lines not kept)\n", d.notesMissed)
	}
	d.ended = true
	d.mu.Unlock()
	if err != nil {
		return fmt.Errorf("dashboard: %w", err)
	}
	return nil
}

// newRenderer draws on w in the colours it supports: none when w is not a
// terminal or NO_COLOR is set.
func newRenderer(w io.Writer, opts ...termenv.OutputOption) *lipgloss.Renderer {
	return lipgloss.NewRenderer(w, opts...)
}

// maxQueued bounds the events waiting for the screen. When the screen
// falls that far behind, routine observations are dropped first.
const maxQueued = 10000

type item struct {
	exp  int
	ev   journal.Event
	res  *Result
	text string
}

// queue hands events from the runner's goroutines to the screen.
type queue struct {
	mu      sync.Mutex
	items   []item
	dropped int
	closed  bool
}

func (q *queue) push(it item) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.items) >= maxQueued && it.ev.Routine() {
		q.dropped++
		return
	}
	q.items = append(q.items, it)
}

// take returns the queued items, and whether the queue was closed.
func (q *queue) take() ([]item, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	items := q.items
	q.items = nil
	if q.dropped > 0 {
		items = append(items, item{exp: -1, text: fmt.Sprintf("the screen fell behind: %d routine observations not shown (the journal has them)", q.dropped)})
		q.dropped = 0
	}
	return items, q.closed
}

func (q *queue) close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
}
