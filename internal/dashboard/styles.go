package dashboard

import "github.com/charmbracelet/lipgloss"

// styles are the looks of the dashboard. They come from one renderer bound
// to the output, so that NO_COLOR and a terminal without colours turn every
// colour and attribute off; the views never rely on colour alone.
type styles struct {
	title   lipgloss.Style
	section lipgloss.Style
	dim     lipgloss.Style
	ok      lipgloss.Style
	bad     lipgloss.Style
	warn    lipgloss.Style
	accent  lipgloss.Style
	prompt  lipgloss.Style
	key     lipgloss.Style
}

func newStyles(r *lipgloss.Renderer) styles {
	return styles{
		title:   r.NewStyle().Bold(true),
		section: r.NewStyle().Bold(true).Foreground(lipgloss.AdaptiveColor{Light: "24", Dark: "117"}),
		dim:     r.NewStyle().Foreground(lipgloss.AdaptiveColor{Light: "245", Dark: "243"}),
		ok:      r.NewStyle().Foreground(lipgloss.AdaptiveColor{Light: "28", Dark: "42"}),
		bad:     r.NewStyle().Foreground(lipgloss.AdaptiveColor{Light: "160", Dark: "203"}).Bold(true),
		warn:    r.NewStyle().Foreground(lipgloss.AdaptiveColor{Light: "130", Dark: "214"}),
		accent:  r.NewStyle().Foreground(lipgloss.AdaptiveColor{Light: "25", Dark: "75"}),
		prompt:  r.NewStyle().Reverse(true).Bold(true),
		key:     r.NewStyle().Bold(true),
	}
}

// verdict styles a verdict by how good it is.
func (s styles) verdict(v string) lipgloss.Style {
	switch v {
	case "passed":
		return s.ok
	case "":
		return s.dim
	case "deviated", "aborted", "interrupted":
		return s.warn
	}
	return s.bad
}
