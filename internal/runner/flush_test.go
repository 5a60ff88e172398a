package runner_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gamedayhq/chaos/internal/experiment"
	"github.com/gamedayhq/chaos/internal/journal"
	"github.com/gamedayhq/chaos/internal/runner"
)

// flushSink is a notifier as the runner sees it: it keeps the events and
// fails its flush, or holds it until the flush's context ends.
type flushSink struct {
	hold bool
	mu   sync.Mutex
	// verdictSeen says the verdict came before Flush.
	verdictSeen, flushed bool
	ctxDeadline          bool
}

func (s *flushSink) Event(ev journal.Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ev.Type == journal.RunVerdict && !s.flushed {
		s.verdictSeen = true
	}
}

func (s *flushSink) Flush(ctx context.Context) error {
	s.mu.Lock()
	s.flushed = true
	_, s.ctxDeadline = ctx.Deadline()
	s.mu.Unlock()
	if s.hold {
		<-ctx.Done()
		return errors.New("held: " + ctx.Err().Error())
	}
	return errors.New("the receiver said no")
}

// Sinks that send elsewhere are flushed after the verdict, within
// FlushTimeout, also after an interrupt; what they could not send is a
// warning, and the verdict stands.
func TestFlushAfterVerdict(t *testing.T) {
	for _, interrupt := range []bool{false, true} {
		exp, err := experiment.Parse("test.yaml", []byte("version: v1\ntitle: flush\nmethod:\n  - wait: 100ms\n"), experiment.Options{Catalog: runner.Catalog{}})
		if err != nil {
			t.Fatal(err)
		}
		failing, holding := &flushSink{}, &flushSink{hold: true}
		ctx, cancel := context.WithCancel(context.Background())
		if interrupt {
			cancel()
		}
		dir := t.TempDir()
		start := time.Now()
		j := runner.Run(ctx, exp, runner.Options{RunID: "test", ReportDir: dir, LedgerDir: dir + "/ledger",
			Sinks: []journal.Sink{failing, holding}, FlushTimeout: 300 * time.Millisecond})
		took := time.Since(start)
		cancel()
		want := journal.Passed
		if interrupt {
			want = journal.Interrupted
		}
		if j.Verdict != want {
			t.Errorf("interrupt %v: verdict %s (%s); want %s", interrupt, j.Verdict, j.Reason, want)
		}
		for _, s := range []*flushSink{failing, holding} {
			if !s.flushed || !s.verdictSeen || !s.ctxDeadline {
				t.Errorf("interrupt %v: flushed %v, after the verdict %v, with a deadline %v; want all", interrupt, s.flushed, s.verdictSeen, s.ctxDeadline)
			}
		}
		text := strings.Join(j.Warnings, "\n")
		if !strings.Contains(text, "notify: the receiver said no") || !strings.Contains(text, "notify: held: context deadline exceeded") {
			t.Errorf("interrupt %v: warnings %q; want both flushes' errors", interrupt, j.Warnings)
		}
		// The holding sink is cut at 300 ms; the margin is for a loaded machine.
		if took > 20*time.Second {
			t.Errorf("interrupt %v: the run took %s", interrupt, took)
		}
	}
}

// An abort that comes once the verdict is decided, while the notifiers
// flush (max_duration running out, chaos halt), is too late to stop
// anything: the journal must not record an abort that the verdict does not
// tell, or the reports would show an abort condition firing on a run that
// passed.
func TestNoAbortAfterVerdict(t *testing.T) {
	exp, err := experiment.Parse("test.yaml", []byte("version: v1\ntitle: late abort\nmax_duration: 400ms\nmethod:\n  - wait: 50ms\n"), experiment.Options{Catalog: runner.Catalog{}})
	if err != nil {
		t.Fatal(err)
	}
	cmds := make(chan journal.Command, 1)
	dir := t.TempDir()
	j := runner.Run(context.Background(), exp, runner.Options{RunID: "test", ReportDir: dir, LedgerDir: dir + "/ledger",
		Sinks: []journal.Sink{&haltingSink{cmds: cmds}, &flushSink{hold: true}}, Commands: cmds, FlushTimeout: time.Second})
	if j.Verdict != journal.Passed {
		t.Fatalf("verdict %s (%s); want passed", j.Verdict, j.Reason)
	}
	if j.Abort != nil {
		t.Errorf("journal of a passed run records an abort: %+v", *j.Abort)
	}
	verdictSeen := false
	for _, ev := range j.Events {
		switch {
		case ev.Type == journal.RunVerdict:
			verdictSeen = true
		case verdictSeen && ev.Type == journal.RunAborted:
			t.Errorf("event %s %q after the verdict", ev.Type, ev.Message)
		}
	}
}

// haltingSink sends chaos halt's command once the verdict is decided, as
// a halt that comes while the notifiers flush does.
type haltingSink struct{ cmds chan<- journal.Command }

func (s *haltingSink) Event(ev journal.Event) {
	if ev.Type == journal.RunVerdict {
		s.cmds <- journal.Halt
	}
}
