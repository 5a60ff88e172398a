package dashboard

import "github.com/charmbracelet/bubbles/key"

// keyMap is every key the dashboard answers to; each shows in the help
// line.
type keyMap struct {
	Abort    key.Binding
	Skip     key.Binding
	Hold     key.Binding
	Continue key.Binding
	Log      key.Binding
	Help     key.Binding
	Quit     key.Binding
	// Yes confirms an interrupt, AbortYes an abort, SkipYes a skip.
	Yes      key.Binding
	AbortYes key.Binding
	SkipYes  key.Binding

	// While the log has the focus.
	Up, Down, PageUp, PageDown, Top, Bottom key.Binding
	Leave                                   key.Binding
}

func newKeyMap() keyMap {
	return keyMap{
		Abort:    key.NewBinding(key.WithKeys("a"), key.WithHelp("a", "abort")),
		Skip:     key.NewBinding(key.WithKeys("s"), key.WithHelp("s", "skip wait")),
		Hold:     key.NewBinding(key.WithKeys("h"), key.WithHelp("h", "hold")),
		Continue: key.NewBinding(key.WithKeys("c"), key.WithHelp("c", "continue")),
		Log:      key.NewBinding(key.WithKeys("l"), key.WithHelp("l", "log")),
		Help:     key.NewBinding(key.WithKeys("?"), key.WithHelp("?", "help")),
		Quit:     key.NewBinding(key.WithKeys("q", "ctrl+c"), key.WithHelp("q", "interrupt")),
		Yes:      key.NewBinding(key.WithKeys("y", "q", "ctrl+c")),
		AbortYes: key.NewBinding(key.WithKeys("y", "a")),
		SkipYes:  key.NewBinding(key.WithKeys("y", "s")),
		Up:       key.NewBinding(key.WithKeys("up", "k")),
		Down:     key.NewBinding(key.WithKeys("down", "j")),
		PageUp:   key.NewBinding(key.WithKeys("pgup", "b")),
		PageDown: key.NewBinding(key.WithKeys("pgdown", " ", "f")),
		Top:      key.NewBinding(key.WithKeys("home", "g")),
		Bottom:   key.NewBinding(key.WithKeys("end", "G")),
		Leave:    key.NewBinding(key.WithKeys("esc", "l"), key.WithHelp("esc", "leave log")),
	}
}

// ShortHelp is the help line.
func (k keyMap) ShortHelp() []key.Binding {
	return []key.Binding{k.Abort, k.Skip, k.Hold, k.Continue, k.Log, k.Help, k.Quit}
}

// FullHelp is the help panel, in columns.
func (k keyMap) FullHelp() [][]key.Binding {
	return [][]key.Binding{{k.Abort, k.Skip, k.Hold, k.Continue}, {k.Log, k.Help, k.Quit}}
}

// helpText explains each key at length, for the help panel.
var helpText = [][2]string{
	{"a", "abort now: revert every fault; the verdict is aborted;"},
	{"", "asks once to confirm while faults are in place"},
	{"s", "skip the current wait, or the rest of a fault's for;"},
	{"", "with faults in place, the run can no longer pass: asks once"},
	{"h", "hold before the next step (walk a gameday step by step)"},
	{"c", "continue after a hold"},
	{"l", "focus the log to scroll it: ↑ ↓ pgup pgdn home end; esc leaves"},
	{"?", "show or hide this help"},
	{"q, ctrl+c", "interrupt: revert every fault and stop, as on SIGINT;"},
	{"", "asks once to confirm while faults are in place"},
}
