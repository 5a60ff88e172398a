package main

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"

	"golang.org/x/term"

	"github.com/gamedayhq/chaos/internal/dashboard"
	"github.com/gamedayhq/chaos/internal/experiment"
	"github.com/gamedayhq/chaos/internal/journal"
)

// frontend is how runs are shown: the full-screen dashboard (--dashboard),
// plain lines under a live status line on a terminal, or plain lines alone
// (CI). The journal is the same whichever it is.
type frontend struct {
	io      *stdio
	verbose bool
	plans   []dashboard.Plan

	// With the dashboard.
	dash    *dashboard.Dashboard
	dashErr chan error
	intr    chan os.Signal
	stopFwd chan struct{}
	fwdDone chan struct{}

	// On a terminal without the dashboard.
	statusLine bool
	width      int
	status     *dashboard.StatusLine

	// shown is io with err pointed at where messages go during the
	// current experiment.
	shown *stdio
}

// newFrontend picks the view. full asks for the dashboard, which needs a
// terminal for its keys and its screen.
func newFrontend(io *stdio, exps []*experiment.Experiment, full, verbose bool) (*frontend, error) {
	f := &frontend{io: io, verbose: verbose, shown: io}
	for _, e := range exps {
		f.plans = append(f.plans, dashboard.PlanOf(e))
	}
	switch {
	case full:
		if !io.tty || !isTerminal(io.in) {
			return nil, withCode(exitUsage, errors.New("--dashboard needs a terminal for its keys and its screen; without it, chaos run prints plain lines"))
		}
		f.intr = make(chan os.Signal, 4)
		// What was written before is on the terminal before the
		// dashboard takes it over.
		flush(io.err)
		f.dash = dashboard.New(f.plans, dashboard.Options{Input: io.in, Output: unwrap(io.err), Interrupt: f.interrupt})
		shown := *io
		shown.err = f.dash
		f.shown = &shown
		f.dashErr = make(chan error, 1)
		go func() { f.dashErr <- f.dash.Run() }()
	case io.tty:
		f.statusLine = true
		f.width = terminalWidth(io.err)
	}
	return f, nil
}

// interrupt is the dashboard's q and Ctrl-C: it goes the way of SIGINT.
func (f *frontend) interrupt() {
	select {
	case f.intr <- os.Interrupt:
	default:
	}
}

// signals returns the interrupts to watch: the process's signals, and with
// the dashboard also the operator's q and Ctrl-C (the terminal is in raw
// mode then, so Ctrl-C is a key, not a signal).
func (f *frontend) signals(sigs <-chan os.Signal) <-chan os.Signal {
	if f.dash == nil {
		return sigs
	}
	f.stopFwd, f.fwdDone = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(f.fwdDone)
		for {
			select {
			case <-f.stopFwd:
				return
			case s := <-sigs:
				select {
				case f.intr <- s:
				case <-f.stopFwd:
					return
				}
			}
		}
	}()
	return f.intr
}

// start prepares the view of experiment i and returns the streams its
// messages go to.
func (f *frontend) start(i int) *stdio {
	if f.statusLine {
		f.status = dashboard.NewStatusLine(f.io.err, f.plans[i], f.width, newPrinter(f.io.err, f.verbose))
		shown := *f.io
		shown.err = f.status
		f.shown = &shown
	}
	return f.shown
}

// sink is where experiment i's events go.
func (f *frontend) sink(i int) journal.Sink {
	switch {
	case f.dash != nil:
		return f.dash.Sink(i)
	case f.status != nil:
		return f.status
	}
	return newPrinter(f.io.err, f.verbose)
}

// commands is the operator's commands for experiment i; nil without the
// dashboard.
func (f *frontend) commands(i int) <-chan journal.Command {
	if f.dash == nil {
		return nil
	}
	return f.dash.Commands(i)
}

// finished ends experiment i's view with its summary and report paths.
// The dashboard keeps them for the summary it leaves when it closes.
func (f *frontend) finished(i int, j *journal.Journal, paths map[string]string) {
	if f.dash != nil {
		res := dashboard.Result{Verdict: j.Verdict, Reason: j.Reason, Duration: j.Duration()}
		for _, name := range []string{"summary", "journal"} {
			if p := paths[name]; p != "" {
				res.Reports = append(res.Reports, dashboard.Report{Name: name, Path: p})
			}
		}
		for _, name := range slices.Sorted(maps.Keys(paths)) {
			if name != "summary" && name != "journal" {
				res.Reports = append(res.Reports, dashboard.Report{Name: name, Path: paths[name]})
			}
		}
		f.dash.Finished(i, res)
		return
	}
	if f.status != nil {
		f.status.Close()
		f.status = nil
		f.shown = f.io
	}
	printSummary(f.io, j, paths)
}

// close ends the view. The dashboard restores the terminal and leaves its
// summary on it.
func (f *frontend) close() {
	if f.status != nil {
		f.status.Close()
		f.status = nil
	}
	if f.dash == nil {
		return
	}
	f.dash.Quit()
	err := <-f.dashErr
	if f.stopFwd != nil {
		close(f.stopFwd)
		<-f.fwdDone
	}
	f.dash = nil
	f.shown = f.io
	if err != nil {
		fmt.Fprintf(f.io.err, "chaos: %v\n", err)
	}
}

func isTerminal(r io.Reader) bool {
	f, ok := r.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// terminalWidth is w's width in cells, 80 when it cannot be told.
func terminalWidth(w io.Writer) int {
	if f, ok := unwrap(w).(*os.File); ok {
		if cols, _, err := term.GetSize(int(f.Fd())); err == nil && cols > 0 {
			return cols
		}
	}
	return 80
}

// unwrap returns the stream under a queueWriter: the dashboard and the
// width probe need the terminal itself.
func unwrap(w io.Writer) io.Writer {
	if q, ok := w.(*queueWriter); ok {
		return q.w
	}
	return w
}
