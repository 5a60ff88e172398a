package main

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/gamedayhq/chaos/internal/experiment"
	"github.com/gamedayhq/chaos/internal/journal"
	"github.com/gamedayhq/chaos/internal/notify"
)

const notifyHelp = "also send the run's events to `KIND=URL` (repeatable): webhook=URL (a JSON summary at the end), slack=URL (Slack-compatible text), pushgateway=URL (gauges of the verdict and the fault windows), or otel (a trace over OTLP/HTTP to the endpoint OTEL_EXPORTER_OTLP_ENDPOINT names)"

// parseNotify reads the --notify flags as notifiers added to every
// experiment of the call, and checks --events against --json.
func parseNotify(o runOptions) ([]*experiment.Notify, error) {
	if o.events == "-" && o.json {
		return nil, withCode(exitUsage, fmt.Errorf("--events - and --json both write to stdout: give --events a file"))
	}
	var out []*experiment.Notify
	for _, f := range o.notify {
		kind, u, _ := strings.Cut(f, "=")
		n := &experiment.Notify{}
		switch kind {
		case "webhook", "slack":
			w := &experiment.Webhook{}
			w.SetDefaults()
			w.URL = u
			if kind == "slack" {
				w.Body = experiment.BodySlack
			}
			n.Webhook = w
		case "pushgateway":
			p := &experiment.Pushgateway{}
			p.SetDefaults()
			p.URL = u
			n.Pushgateway = p
		case "otel":
			if u != "" {
				return nil, withCode(exitUsage, fmt.Errorf("--notify otel takes no URL: set OTEL_EXPORTER_OTLP_ENDPOINT"))
			}
			n.OTel = &experiment.OTel{}
		default:
			return nil, withCode(exitUsage, fmt.Errorf("--notify %s: not a kind of notifier: use webhook=URL, slack=URL, pushgateway=URL or otel", kind))
		}
		var err error
		switch {
		case n.Webhook != nil:
			err = n.Webhook.Validate()
		case n.Pushgateway != nil:
			err = n.Pushgateway.Validate()
		}
		if err != nil {
			return nil, withCode(exitUsage, fmt.Errorf("--notify %s: %v", kind, err))
		}
		out = append(out, n)
	}
	return out, nil
}

// openEvents opens the --events stream: - for stdout, else a file.
func openEvents(io *stdio, path string) (*notify.Lines, func(), error) {
	switch {
	case path == "":
		return nil, func() {}, nil
	case path == "-":
		return notify.NewLines(io.out, "stdout"), func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, nil, withCode(exitUsage, fmt.Errorf("--events %s: %w", path, err))
	}
	// A FIFO whose reader stalls would block the run as a paused
	// terminal would: the lines are queued as chaos's own output is.
	q := newQueueWriter(f)
	return notify.NewLines(q, path), func() { q.Flush(); f.Close() }, nil
}

// notifySinks makes the sinks of an experiment's notifiers and of the
// --events stream. name tells the experiment from the others of the call
// (the pushgateway's group). A notifier that cannot be made is a warning
// on w.
func notifySinks(w io.Writer, e *experiment.Experiment, name string, events *notify.Lines) []journal.Sink {
	var sinks []journal.Sink
	if events != nil {
		sinks = append(sinks, events)
	}
	mask := e.Masker()
	for _, n := range e.Notify {
		s, err := notify.New(n, notify.Run{Title: mask.Replace(e.Title), File: mask.Replace(e.File), Name: mask.Replace(name)})
		if err != nil {
			fmt.Fprintf(w, "chaos: warning: notify %s: %s\n", n.Kind(), mask.Replace(err.Error()))
			continue
		}
		sinks = append(sinks, s)
	}
	return sinks
}
