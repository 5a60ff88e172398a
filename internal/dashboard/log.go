package dashboard

import (
	"fmt"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/viewport"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/ansi"

	"github.com/gamedayhq/chaos/internal/journal"
)

// maxLogLines bounds the log kept on screen; the journal has everything.
const maxLogLines = 1000

// logPanel is the scrolling event log. It follows the newest line unless
// the operator focused it to scroll back.
type logPanel struct {
	raw     []string // styled, not cut to width
	vp      viewport.Model
	focused bool
	dirty   bool
}

func newLogPanel() logPanel {
	return logPanel{vp: viewport.New(0, 0)}
}

// eventLine writes an event as a log line: seconds since the run started,
// the type, the message.
func eventLine(ev journal.Event, start time.Time, st styles) string {
	typ := fmt.Sprintf("%-15s", ev.Type)
	switch ev.Type {
	case journal.Error, journal.FaultRevertFailed, journal.StepUndoFailed, journal.CheckBroken, journal.CheckUnobserved:
		typ = st.bad.Render(typ)
	case journal.CheckSample:
		if ev.OK {
			typ = st.dim.Render(typ)
		} else {
			typ = st.bad.Render(typ)
		}
	case journal.Warning, journal.RunAborted, journal.Operator, journal.RunHeld:
		typ = st.warn.Render(typ)
	case journal.RunVerdict:
		typ = st.verdict(ev.Verdict).Render(typ)
	case journal.FaultInjected:
		typ = st.accent.Render(typ)
	default:
		typ = st.dim.Render(typ)
	}
	secs := 0.0
	if !start.IsZero() {
		secs = ev.Time.Sub(start).Seconds()
	}
	return fmt.Sprintf("%7.1fs %s %s", secs, typ, oneLine(ev.Message))
}

func oneLine(s string) string {
	if strings.ContainsAny(s, "\r\n\t") {
		s = strings.NewReplacer("\r\n", " ⏎ ", "\n", " ⏎ ", "\r", " ", "\t", " ").Replace(s)
	}
	return s
}

// clean makes text from outside (a command's stderr in an observation, a
// message) safe to draw: terminal escape sequences are dropped, line
// breaks and tabs become spaces or ⏎, and other control characters show
// as �. A line break or a cursor move would shift every panel.
func clean(s string) string {
	if !strings.ContainsFunc(s, isControl) {
		return s
	}
	s = oneLine(ansi.Strip(s))
	return strings.Map(func(r rune) rune {
		if isControl(r) {
			return '\uFFFD'
		}
		return r
	}, s)
}

func isControl(r rune) bool { return r < 0x20 || r >= 0x7f && r < 0xa0 }

// cleanEvent is ev with the texts that come from outside cleaned: what
// was observed and the messages. Names come from the experiment, and
// match its plan's.
func cleanEvent(ev journal.Event) journal.Event {
	for _, p := range []*string{&ev.Message, &ev.Value, &ev.Reason} {
		*p = clean(*p)
	}
	if len(ev.Observed) > 0 {
		obs := make(map[string]string, len(ev.Observed))
		for k, v := range ev.Observed {
			obs[k] = clean(v)
		}
		ev.Observed = obs
	}
	return ev
}

func (l *logPanel) add(line string) {
	l.raw = append(l.raw, line)
	if len(l.raw) > maxLogLines {
		l.raw = append(l.raw[:0], l.raw[len(l.raw)-maxLogLines:]...)
	}
	l.dirty = true
}

// resize gives the log its place; the lines are cut to the new width.
func (l *logPanel) resize(w, h int) {
	if l.vp.Width != w || l.vp.Height != h {
		l.vp.Width, l.vp.Height = w, max(h, 0)
		l.dirty = true
	}
}

// sync hands the lines to the viewport after a change, and keeps the
// newest in sight unless the operator is scrolling.
func (l *logPanel) sync() {
	if !l.dirty {
		return
	}
	l.dirty = false
	var b strings.Builder
	for i, s := range l.raw {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(fit(s, l.vp.Width))
	}
	l.vp.SetContent(b.String())
	if !l.focused {
		l.vp.GotoBottom()
	}
}

// keys scrolls the log while it has the focus.
func (l *logPanel) keys(k tea.KeyMsg, km keyMap) {
	switch {
	case key.Matches(k, km.Up):
		l.vp.ScrollUp(1)
	case key.Matches(k, km.Down):
		l.vp.ScrollDown(1)
	case key.Matches(k, km.PageUp):
		l.vp.PageUp()
	case key.Matches(k, km.PageDown):
		l.vp.PageDown()
	case key.Matches(k, km.Top):
		l.vp.GotoTop()
	case key.Matches(k, km.Bottom):
		l.vp.GotoBottom()
	}
}

// view is the log's title and its visible lines.
func (l *logPanel) view(w, h int, st styles) []string {
	if h <= 0 {
		return nil
	}
	title := st.section.Render("Log")
	if l.focused {
		title = st.prompt.Render(" Log ") + st.accent.Render("  ↑↓ pgup pgdn home end scroll · esc leaves")
		if !l.vp.AtBottom() {
			title += st.dim.Render(fmt.Sprintf(" · %d%%", int(l.vp.ScrollPercent()*100)))
		}
	}
	rows := []string{title}
	if h > 1 {
		rows = append(rows, strings.Split(l.vp.View(), "\n")...)
	}
	return block(rows, w, h)
}
