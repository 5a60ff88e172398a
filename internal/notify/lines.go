package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sync"

	"github.com/gamedayhq/chaos/internal/journal"
)

// Lines writes each event, as the journal writes it, as one line of JSON
// as it happens (chaos run --events). A write that fails stops the
// stream; Flush says so.
type Lines struct {
	name string
	mu   sync.Mutex
	w    io.Writer
	err  error
}

// NewLines writes the events to w, which messages call name.
func NewLines(w io.Writer, name string) *Lines { return &Lines{w: w, name: name} }

// Event writes ev as one line.
func (l *Lines) Event(ev journal.Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err != nil {
		return
	}
	b, err := json.Marshal(ev)
	if err == nil {
		_, err = l.w.Write(append(b, '\n'))
	}
	l.err = err
}

// Flush reports a write that failed. The stream goes on with the next run
// of the call.
func (l *Lines) Flush(context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.err; err != nil {
		l.err = nil
		return fmt.Errorf("events to %s: %w", l.name, err)
	}
	return nil
}
