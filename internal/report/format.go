package report

import (
	"encoding/json"
	"errors"
	"strings"

	"github.com/gamedayhq/chaos/internal/journal"
)

// Input is what a format renders.
type Input struct {
	Journals []*journal.Journal
	// Dirs are the journals' report directories as the gameday index
	// links them, one per journal.
	Dirs []string
	// Logs are the services' logs of a single journal, by the path the
	// journal names them with.
	Logs map[string]string
}

// Format is one way to render journals: chaos run writes each format that
// has a File into every run's report directory, and chaos report renders
// the one --format names.
type Format struct {
	// Name is what --format takes.
	Name string
	// Key names the report among a run's written reports.
	Key string
	// File is the file chaos run writes in a run's report directory; empty
	// for the journal itself, which chaos run writes first, as the record.
	File string
	// Index is the file of a gameday (a call with several experiments)
	// that IndexRender writes, if the format has one.
	Index       string
	IndexRender func(g Gameday) ([]byte, error)
	// Render renders one run's report, or several runs' together.
	Render func(in Input) ([]byte, error)
}

// Formats lists the report formats.
var Formats = []Format{
	{Name: "html", Key: "html", File: "report.html", Index: "index.html", IndexRender: IndexHTML, Render: renderHTML},
	{Name: "md", Key: "summary", File: "summary.md", Index: "index.md", IndexRender: IndexMarkdown, Render: renderMarkdown},
	{Name: "junit", Key: "junit", File: "junit.xml", Render: func(in Input) ([]byte, error) { return JUnit(in.Journals...) }},
	{Name: "json", Key: "journal", Render: renderJSON},
	{Name: "text", Key: "text", Render: renderText},
}

// LookupFormat returns the format of that name.
func LookupFormat(name string) (Format, bool) {
	for _, f := range Formats {
		if f.Name == name {
			return f, true
		}
	}
	return Format{}, false
}

// FormatNames lists the formats' names, as --format takes them.
func FormatNames() []string {
	names := make([]string, len(Formats))
	for i, f := range Formats {
		names[i] = f.Name
	}
	return names
}

var errNoJournal = errors.New("no journal to render")

// renderHTML is one run's report, with its services' logs; for several
// runs, the gameday index that links each run's own report.
func renderHTML(in Input) ([]byte, error) {
	switch len(in.Journals) {
	case 0:
		return nil, errNoJournal
	case 1:
		return HTMLWithLogs(in.Journals[0], in.Logs)
	}
	return IndexHTML(Gameday{Journals: in.Journals, Dirs: in.Dirs})
}

// renderMarkdown is each run's summary, one after another; for several
// runs, after the gameday index, which heads them with the worst verdict:
// the first run's own heading must not read as all of theirs.
func renderMarkdown(in Input) ([]byte, error) {
	var parts []string
	if len(in.Journals) > 1 {
		b, err := IndexMarkdown(Gameday{Journals: in.Journals, Dirs: in.Dirs})
		if err != nil {
			return nil, err
		}
		parts = append(parts, string(b))
	}
	for _, j := range in.Journals {
		parts = append(parts, Markdown(j))
	}
	return []byte(strings.Join(parts, "\n---\n\n")), nil
}

// renderText is what chaos run ends each run with on the terminal, one
// after another, and for several runs the gameday table.
func renderText(in Input) ([]byte, error) {
	parts := make([]string, len(in.Journals))
	for i, j := range in.Journals {
		parts[i] = Text(j)
	}
	if len(in.Journals) > 1 {
		parts = append(parts, GamedayText(Gameday{Journals: in.Journals}))
	}
	return []byte(strings.Join(parts, "\n")), nil
}

// renderJSON is the journal as written, or a list of several.
func renderJSON(in Input) ([]byte, error) {
	var v any = in.Journals
	if len(in.Journals) == 1 {
		v = in.Journals[0]
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}
