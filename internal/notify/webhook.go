package notify

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gamedayhq/chaos/internal/experiment"
	"github.com/gamedayhq/chaos/internal/journal"
)

// webhook posts JSON to a URL: one summary at the end, each event, or
// Slack-compatible text messages.
type webhook struct {
	cfg *experiment.Webhook
	run Run
	*sender

	mu      sync.Mutex
	summary Summary
}

// Summary is the body a summary webhook posts at the end of the run.
type Summary struct {
	RunID   string         `json:"run_id"`
	Title   string         `json:"title"`
	File    string         `json:"file"`
	Verdict string         `json:"verdict"`
	Reason  string         `json:"reason"`
	Started time.Time      `json:"started"`
	Ended   time.Time      `json:"ended"`
	Faults  []SummaryFault `json:"faults"`
}

// SummaryFault is one fault on one target in a Summary, from its
// fault.injected to its fault.reverted or fault.revert_failed (after which
// it is still in place). The pushgateway's gauges show the same.
type SummaryFault struct {
	Step     string    `json:"step"`
	Fault    string    `json:"fault"`
	Target   string    `json:"target"`
	ID       string    `json:"id"`
	Injected time.Time `json:"injected"`
	Reverted time.Time `json:"reverted,omitzero"`
	// RevertFailed says the fault could not be removed.
	RevertFailed bool `json:"revert_failed,omitempty"`
	// Irreversible says the fault had nothing to revert (a kill): it was
	// over once applied, and has no Reverted.
	Irreversible bool `json:"irreversible,omitempty"`
}

// EventBody is the body an events webhook posts for each event.
type EventBody struct {
	RunID string        `json:"run_id"`
	Title string        `json:"title"`
	Event journal.Event `json:"event"`
}

// SlackBody is the body a slack webhook posts.
type SlackBody struct {
	Text string `json:"text"`
}

func newWebhook(cfg *experiment.Webhook, run Run) *webhook {
	name := "webhook " + Display(cfg.URL)
	if cfg.Body != experiment.BodySummary {
		name += " (" + cfg.Body + ")"
	}
	w := &webhook{cfg: cfg, run: run, sender: newSender(name, cfg.URL, cfg.Timeout.D())}
	w.summary = Summary{Title: run.Title, File: run.File, Faults: []SummaryFault{}}
	return w
}

// Event keeps what the summary needs and queues the posts the body asks for.
func (w *webhook) Event(ev journal.Event) {
	w.mu.Lock()
	w.keep(ev)
	s := w.summary
	s.Faults = append([]SummaryFault(nil), s.Faults...)
	w.mu.Unlock()
	switch w.cfg.Body {
	case experiment.BodySummary:
		if ev.Type == journal.RunVerdict {
			w.post(s)
		}
	case experiment.BodyEvents:
		if !ev.Routine() {
			w.post(EventBody{RunID: s.RunID, Title: w.run.Title, Event: ev})
		}
	case experiment.BodySlack:
		if text := slackText(ev, s); text != "" {
			w.post(SlackBody{Text: text})
		}
	}
}

// keep updates the summary with ev. w.mu must be held.
func (w *webhook) keep(ev journal.Event) {
	s := &w.summary
	switch ev.Type {
	case journal.RunStarted:
		s.RunID, s.Started = ev.RunID, ev.Time
	case journal.FaultInjected, journal.FaultReverted, journal.FaultRevertFailed:
		s.Faults = trackFault(s.Faults, ev)
	case journal.RunVerdict:
		s.Verdict, s.Reason, s.Ended = ev.Verdict, ev.Reason, ev.Time
	}
}

// trackFault updates faults with a fault event: a fault.injected adds
// one, a fault.reverted or fault.revert_failed ends the step's on the
// event's target.
func trackFault(faults []SummaryFault, ev journal.Event) []SummaryFault {
	if ev.Type == journal.FaultInjected {
		return append(faults, SummaryFault{Step: ev.Step, Fault: ev.Fault, Target: ev.Target, ID: ev.TargetID, Injected: ev.Time, Irreversible: ev.Irreversible})
	}
	for i := range faults {
		f := &faults[i]
		if f.Step == ev.Step && f.ID == ev.TargetID && f.Reverted.IsZero() && !f.Irreversible {
			f.Reverted = ev.Time
			f.RevertFailed = ev.Type == journal.FaultRevertFailed
			return faults
		}
	}
	if ev.Type == journal.FaultRevertFailed {
		// A fault that failed half way and could not be undone has no
		// fault.injected: it is in place all the same.
		faults = append(faults, SummaryFault{Step: ev.Step, Fault: ev.Fault, Target: cmp.Or(ev.Target, ev.TargetID), ID: ev.TargetID,
			Injected: ev.Time, Reverted: ev.Time, RevertFailed: true})
	}
	return faults
}

// inPlace reports whether the fault is still applied. One with nothing
// to revert never is.
func (f SummaryFault) inPlace() bool {
	return !f.Irreversible && (f.Reverted.IsZero() || f.RevertFailed)
}

func slackText(ev journal.Event, s Summary) string {
	switch ev.Type {
	case journal.RunStarted:
		return fmt.Sprintf("chaos: %q started (run %s, %s)", s.Title, s.RunID, s.File)
	case journal.RunAborted:
		return fmt.Sprintf("chaos: %q aborting: %s", s.Title, ev.Message)
	case journal.RunVerdict:
		text := fmt.Sprintf("chaos: %q %s: %s (run %s, %s)", s.Title, strings.ToUpper(ev.Verdict), ev.Reason, s.RunID, s.Ended.Sub(s.Started).Round(time.Millisecond))
		for _, f := range s.Faults {
			end := "not reverted"
			switch {
			case f.Irreversible:
				end = "nothing to revert"
			case !f.inPlace():
				end = f.Reverted.Sub(f.Injected).Round(time.Millisecond).String()
			}
			text += fmt.Sprintf("\n• %s on %s (%s): %s", f.Fault, f.Target, f.Step, end)
		}
		return text
	}
	return ""
}

func (w *webhook) post(body any) {
	b, err := json.Marshal(body)
	if err != nil {
		return
	}
	w.send(func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.cfg.URL, bytes.NewReader(b))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("User-Agent", "chaos")
		for k, v := range w.cfg.Headers {
			req.Header.Set(k, v)
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
		return checkStatus(resp)
	})
}

// Flush sends what is queued, at most until ctx ends.
func (w *webhook) Flush(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, w.timeout)
	defer cancel()
	return w.flush(ctx)
}
