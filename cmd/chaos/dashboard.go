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
		// What was written before is on the terminal before the
		// dashboard takes it over.
		flush(io.err)
		f.startDashboard(io.in, unwrap(io.err))
	case io.tty:
		f.statusLine = true
		f.width = terminalWidth(io.err)
	}
	return f, nil
}

// startDashboard draws the dashboard on out, with its keys from in.
func (f *frontend) startDashboard(in io.Reader, out io.Writer) {
	f.intr = make(chan os.Signal, 4)
	f.dash = dashboard.New(f.plans, dashboard.Options{Input: in, Output: out, Interrupt: f.interrupt})
	shown := *f.io
	shown.err = f.dash
	f.shown = &shown
	d, done := f.dash, make(chan error, 1)
	f.dashErr = done
	go func() { done <- d.Run() }()
}

// dashGone reports whether the dashboard has ended before the runs did
// (it failed, and restored the terminal): the rest of the call is then
// shown in plain lines, down to each verdict, rather than not at all.
// Interrupts still come through the same channel.
func (f *frontend) dashGone() bool {
	if f.dash == nil {
		return true
	}
	select {
	case err := <-f.dashErr:
		f.dash = nil
		f.shown = f.io
		msg := "the dashboard ended"
		if err != nil {
			msg += ": " + err.Error()
		}
		fmt.Fprintf(f.io.err, "chaos: %s; what follows is in plain lines\n", msg)
		return true
	default:
		return false
	}
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
	f.dashGone()
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
	case !f.dashGone():
		return f.dash.Sink(i)
	case f.status != nil:
		return f.status
	}
	return newPrinter(f.io.err, f.verbose)
}

// commands is the operator's commands for experiment i; nil without the
// dashboard.
func (f *frontend) commands(i int) <-chan journal.Command {
	if f.dashGone() {
		return nil
	}
	return f.dash.Commands(i)
}

// finished ends experiment i's view with its summary and report paths.
// The dashboard keeps them for the summary it leaves when it closes.
func (f *frontend) finished(i int, j *journal.Journal, paths map[string]string) {
	if !f.dashGone() {
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
	if f.dash != nil {
		f.dash.Quit()
		err := <-f.dashErr
		f.dash = nil
		f.shown = f.io
		if err != nil {
			fmt.Fprintf(f.io.err, "chaos: %v\n", err)
		}
	}
	if f.stopFwd != nil {
		close(f.stopFwd)
		<-f.fwdDone
		f.stopFwd = nil
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
