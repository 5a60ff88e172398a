package dashboard

import (
	"bytes"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/charmbracelet/x/ansi"

	"github.com/gamedayhq/chaos/internal/journal"
)

// syncBuffer is a buffer the status line's redraws and the test share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestStatusText(t *testing.T) {
	e := newExpState(shopPlan())
	for _, ev := range shopEvents() {
		e.apply(ev)
	}
	for _, tc := range []struct {
		w    int
		want []string
	}{
		{79, []string{"method 0:23", "29% ~0:55", "1 fault", "checks 3/4 ok"}},
		{119, []string{"method 0:23", "29% ~0:55", "1 fault", "checks 3/4 ok", "latency payment-link 9.5s left", "60 req/s 93.0% ok"}},
	} {
		w := tc.w
		got := statusText(e, t0.Add(22500*time.Millisecond), w)
		if n := ansi.StringWidth(got); n > w {
			t.Errorf("statusText(%d) is %d cells wide: %q", w, n, got)
		}
		for _, want := range tc.want {
			if !strings.Contains(got, want) {
				t.Errorf("statusText(%d) = %q; want it to contain %q", w, got, want)
			}
		}
	}
}

func TestStatusLineKeepsPlainLinesClean(t *testing.T) {
	var out syncBuffer
	inner := journal.SinkFunc(func(ev journal.Event) { out.Write([]byte(string(ev.Type) + " " + ev.Message + "\n")) })
	s := NewStatusLine(&out, shopPlan(), 80, inner)
	for _, ev := range shopEvents()[:8] {
		ev.Time = time.Now()
		s.Event(ev)
	}
	s.Write([]byte("chaos: interrupt: reverting every fault, then stopping\n"))
	s.Close()
	s.Close()
	got := out.String()
	// Every plain line starts on a cleared line, and the last status line
	// is cleared away.
	for _, want := range []string{"\r\x1b[Kfault.injected latency on proxy", "\r\x1b[Kchaos: interrupt", "method 0:00"} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%q", want, got)
		}
	}
	if !strings.HasSuffix(got, "\r\x1b[K") {
		t.Errorf("output does not end with the status line cleared: %q", got[max(len(got)-80, 0):])
	}
	for _, l := range strings.Split(got, "\n") {
		if i := strings.LastIndex(l, "\r"); i >= 0 {
			if n := ansi.StringWidth(l[i:]); n > 79 {
				t.Errorf("status line %d cells wide, more than 79: %q", n, l[i:])
			}
		}
	}
}

// TestProgressAgrees checks that the percentage shown is the share of the
// elapsed time in elapsed and left together, as the header shows them, and
// that it never goes back.
func TestProgressAgrees(t *testing.T) {
	e := newExpState(shopPlan())
	for _, ev := range shopEvents() {
		e.apply(ev)
	}
	last := 0.0
	for _, at := range []time.Duration{time.Second, 2 * time.Second, 10 * time.Second, 22500 * time.Millisecond, 31 * time.Second} {
		now := t0.Add(at)
		frac, left := e.progress(now)
		elapsed := e.head.elapsed(now)
		want := elapsed.Seconds() / (elapsed + left).Seconds()
		if math.Abs(frac-want) > 0.005 {
			t.Errorf("at %s: progress %.3f with elapsed %s and left %s; want %.3f", at, frac, elapsed, left, want)
		}
		if frac < last {
			t.Errorf("at %s: progress went back from %.3f to %.3f", at, last, frac)
		}
		last = frac
	}
}
