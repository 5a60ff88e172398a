package dashboard

import (
	"fmt"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/help"
	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"

	"github.com/gamedayhq/chaos/internal/journal"
)

// frameInterval is the redraw period: the clock, countdowns and new events
// show ten times a second.
const frameInterval = 100 * time.Millisecond

// tickMsg is a frame: time to take the queued events and redraw.
type tickMsg time.Time

// interruptedMsg says the interrupt was handed to the caller.
type interruptedMsg struct{}

// model is the root model: it takes the runner's events from the queue,
// routes them to the experiments' panels, routes keys and the window size,
// and stacks the panel views.
type model struct {
	exps []*expState
	cur  int
	q    *queue
	cmds []chan journal.Command
	// interrupt hands an interrupt to the caller, as SIGINT would.
	interrupt func()
	clock     func() time.Time

	now           time.Time
	width, height int
	lay           layout
	log           logPanel
	keys          keyMap
	help          help.Model
	st            styles

	showHelp bool
	// confirm is the action waiting for the operator's yes, if any.
	confirm      confirmAction
	interrupting bool
	quitting     bool
}

func newModel(plans []Plan, q *queue, cmds []chan journal.Command, interrupt func(), r *lipgloss.Renderer) *model {
	m := &model{q: q, cmds: cmds, interrupt: interrupt, clock: time.Now, log: newLogPanel(), keys: newKeyMap(), help: help.New(), st: newStyles(r)}
	for _, p := range plans {
		m.exps = append(m.exps, newExpState(p))
	}
	m.help.Styles.ShortKey = m.st.key
	m.help.Styles.FullKey = m.st.key
	m.help.Styles.ShortDesc = m.st.dim
	m.help.Styles.FullDesc = m.st.dim
	m.help.Styles.ShortSeparator = m.st.dim
	m.help.Styles.FullSeparator = m.st.dim
	m.help.Styles.Ellipsis = m.st.dim
	m.now = m.clock()
	return m
}

func tick() tea.Cmd {
	return tea.Tick(frameInterval, func(t time.Time) tea.Msg { return tickMsg(t) })
}

// Init starts the frames.
func (m *model) Init() tea.Cmd { return tick() }

// Update routes a message.
func (m *model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	var cmd tea.Cmd
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.width, m.height = msg.Width, msg.Height
	case tickMsg:
		m.now = time.Time(msg)
		if m.drain() {
			m.quitting = true
			m.relayout()
			return m, tea.Quit
		}
		cmd = tick()
	case tea.KeyMsg:
		cmd = m.key(msg)
	}
	m.relayout()
	return m, cmd
}

// drain applies the queued events; it reports whether the caller asked
// the dashboard to close.
func (m *model) drain() bool {
	items, closed := m.q.take()
	for _, it := range items {
		switch {
		case it.res != nil:
			if it.exp >= 0 && it.exp < len(m.exps) {
				m.exps[it.exp].result = it.res
			}
		case it.text != "":
			m.log.add(fmt.Sprintf("%8s %s %s", "", m.st.warn.Render(fmt.Sprintf("%-15s", "chaos")), clean(it.text)))
		default:
			if it.exp < 0 || it.exp >= len(m.exps) {
				continue
			}
			e := m.exps[it.exp]
			it.ev = cleanEvent(it.ev)
			if it.ev.Type == journal.RunStarted {
				m.cur = it.exp
				m.interrupting, m.confirm = false, confirmNone
			}
			asked := e.head.hold == holdAsked
			e.apply(it.ev)
			if !it.ev.Routine() {
				m.log.add(eventLine(it.ev, e.head.started, m.st))
			}
			if asked && e.head.hold == holdNone && it.ev.Type == journal.PhaseStarted {
				m.log.add(m.st.warn.Render(fmt.Sprintf("%8s %-15s hold not taken: the method ended with no step left to hold before", "", "key")))
			}
		}
	}
	return closed
}

// confirmAction is an action that asks once to be confirmed while
// faults are in place.
type confirmAction int

const (
	confirmNone confirmAction = iota
	confirmInterrupt
	confirmAbort
	confirmSkip
)

// key acts on a key press. While an interrupt or an abort asks to be
// confirmed, the next key answers it.
func (m *model) key(k tea.KeyMsg) tea.Cmd {
	if c := m.confirm; c != confirmNone {
		m.confirm = confirmNone
		switch {
		case c == confirmInterrupt && key.Matches(k, m.keys.Yes):
			return m.doInterrupt()
		case c == confirmAbort && key.Matches(k, m.keys.AbortYes):
			m.send(journal.AbortRun, "abort")
		case c == confirmSkip && key.Matches(k, m.keys.SkipYes):
			m.send(journal.SkipWait, "skip wait")
		}
		return nil
	}
	if m.log.focused {
		if key.Matches(k, m.keys.Leave) {
			m.log.focused = false
			m.log.dirty = true
			return nil
		}
		m.log.keys(k, m.keys)
	}
	switch {
	case key.Matches(k, m.keys.Abort):
		if m.faultsActive() {
			m.confirm = confirmAbort
			return nil
		}
		m.send(journal.AbortRun, "abort")
	case key.Matches(k, m.keys.Skip):
		// Cutting short the time faults are in place leaves the run
		// unable to pass: it asks once.
		if m.faultsActive() {
			m.confirm = confirmSkip
			return nil
		}
		m.send(journal.SkipWait, "skip wait")
	case key.Matches(k, m.keys.Hold):
		m.send(journal.Hold, "hold")
	case key.Matches(k, m.keys.Continue):
		m.send(journal.Continue, "continue")
	case key.Matches(k, m.keys.Log):
		m.log.focused = true
	case key.Matches(k, m.keys.Help):
		m.showHelp = !m.showHelp
	case key.Matches(k, m.keys.Quit):
		if !m.interrupting && m.faultsActive() {
			m.confirm = confirmInterrupt
			return nil
		}
		return m.doInterrupt()
	}
	return nil
}

// faultsActive reports whether the shown experiment has faults in place.
func (m *model) faultsActive() bool { return len(m.exps[m.cur].faults.active) > 0 }

// send hands a command to the running experiment. It never blocks: the
// dashboard must stay live whatever the runner does.
func (m *model) send(c journal.Command, what string) {
	e := m.exps[m.cur]
	if !e.running() {
		m.log.add(m.st.dim.Render(fmt.Sprintf("%8s %-15s %s: no experiment is running", "", "key", what)))
		return
	}
	select {
	case m.cmds[m.cur] <- c:
	default:
		m.log.add(m.st.warn.Render(fmt.Sprintf("%8s %-15s %s: the runner has not taken the previous commands yet", "", "key", what)))
	}
}

// doInterrupt hands the interrupt to the caller, which stops the run the
// way SIGINT does. A second one tells the caller again, as a second
// signal would.
func (m *model) doInterrupt() tea.Cmd {
	m.interrupting = true
	f := m.interrupt
	if f == nil {
		return nil
	}
	return func() tea.Msg {
		f()
		return interruptedMsg{}
	}
}

// layout is where the panels go; it changes with the window and with how
// much there is to show.
type layout struct {
	w, h         int
	listW, mainW int
	topH         int // steps and faults side by side, with their titles
	stepsW       int
	checksH      int
	loadH        int
	logH         int
}

// computeLayout shares the height: one title line per panel, at least a
// row each, the checks first, then steps and faults, then load, and the
// rest to the log.
func computeLayout(w, h, exps, topRows, checks, streams int) layout {
	l := layout{w: w, h: h, mainW: w}
	if exps > 1 {
		l.listW = min(max(w/5, 16), 28)
		l.mainW = w - l.listW - 1
	}
	l.stepsW = l.mainW * 45 / 100
	body := h - 2 - 1 // header, help line
	want := []int{checks, topRows, streams}
	got := []int{0, 0, 0}
	titles := 2 // the top panels and the log
	if checks > 0 {
		titles++
	}
	if streams > 0 {
		titles++
	}
	avail := body - titles - 3 // three log rows at least
	for grew := true; grew && avail > 0; {
		grew = false
		for i := range want {
			if got[i] < want[i] && avail > 0 {
				got[i]++
				avail--
				grew = true
			}
		}
	}
	l.checksH, l.topH, l.loadH = got[0], got[1]+1, got[2]
	if l.checksH > 0 || checks > 0 {
		l.checksH++
	}
	if l.loadH > 0 || streams > 0 {
		l.loadH++
	}
	l.logH = max(body-l.topH-l.checksH-l.loadH, 0)
	return l
}

func (m *model) relayout() {
	if m.width <= 0 || m.height <= 0 {
		return
	}
	e := m.exps[m.cur]
	top := max(len(e.steps.rows), len(e.faults.active)+len(e.faults.failed), 1)
	m.lay = computeLayout(m.width, m.height, len(m.exps), top, len(e.checks.rows), len(e.load.rows))
	m.log.resize(m.lay.mainW, m.lay.logH-1)
	m.log.sync()
	m.help.Width = m.lay.w
}

// View stacks the panels into exactly the window's lines.
func (m *model) View() string {
	// A terminal that reports no columns or no rows has nothing to draw
	// on.
	if m.width <= 0 || m.height <= 0 || len(m.exps) == 0 {
		return ""
	}
	l := m.lay
	e := m.exps[m.cur]
	main := make([]string, 0, l.h)
	main = append(main, headerView(e, m.now, m.interrupting, l.mainW, m.st)...)
	steps := stepsView(&e.steps, e.head.hold, m.now, l.stepsW, l.topH, m.st)
	faults := faultsView(&e.faults, m.now, l.mainW-l.stepsW-1, l.topH, m.st)
	for i := range steps {
		main = append(main, steps[i]+" "+faults[i])
	}
	main = append(main, checksView(&e.checks, l.mainW, l.checksH, m.st)...)
	main = append(main, loadView(&e.load, l.mainW, l.loadH, m.st)...)
	if m.showHelp {
		main = append(main, m.helpPanel(l.mainW, l.logH)...)
	} else {
		main = append(main, m.log.view(l.mainW, l.logH, m.st)...)
	}
	main = block(main, l.mainW, l.h-1)
	if l.listW > 0 {
		list := listView(m.exps, m.cur, m.now, l.listW, l.h-1, m.st)
		sep := m.st.dim.Render("│")
		for i := range main {
			main[i] = list[i] + sep + main[i]
		}
	}
	var b strings.Builder
	b.Grow(l.w * l.h * 2)
	for _, s := range main {
		b.WriteString(s)
		b.WriteByte('\n')
	}
	b.WriteString(m.footer())
	return b.String()
}

// footer is the help line, or the question while an interrupt or an
// abort waits for its confirmation.
func (m *model) footer() string {
	if m.confirm != confirmNone {
		n := len(m.exps[m.cur].faults.active)
		q := fmt.Sprintf(" %d fault%s in place: interrupt and revert? q/y yes, any other key no ", n, plural(n))
		switch m.confirm {
		case confirmAbort:
			q = fmt.Sprintf(" %d fault%s in place: abort and revert? a/y yes, any other key no ", n, plural(n))
		case confirmSkip:
			q = fmt.Sprintf(" %d fault%s in place: cut it short? no pass then; s/y yes, any other key no ", n, plural(n))
		}
		return fit(m.st.prompt.Render(q), m.lay.w)
	}
	keys := m.keys.ShortHelp()
	if m.log.focused {
		keys[4] = m.keys.Leave
	}
	return fit(m.help.ShortHelpView(keys), m.lay.w)
}

func (m *model) helpPanel(w, h int) []string {
	rows := []string{m.st.section.Render("Keys")}
	for _, k := range helpText {
		rows = append(rows, "  "+m.st.key.Render(fit(k[0], 10))+" "+k[1])
	}
	return block(rows, w, h)
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
