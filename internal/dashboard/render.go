package dashboard

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/charmbracelet/x/ansi"

	"github.com/gamedayhq/chaos/internal/journal"
)

// The helpers here are pure: they turn numbers and text into fixed-width
// strings, so that every panel lines up and a view is a function of state.

// fit truncates s to w cells, ending it with "…" when cut, and pads it
// with spaces to exactly w cells. Styled text keeps its escape codes.
func fit(s string, w int) string {
	if w <= 0 {
		return ""
	}
	n := ansi.StringWidth(s)
	if n > w {
		s = ansi.Truncate(s, w, "…")
		n = ansi.StringWidth(s)
	}
	return s + strings.Repeat(" ", w-n)
}

// fitRight is fit with the text aligned to the right.
func fitRight(s string, w int) string {
	if w <= 0 {
		return ""
	}
	n := ansi.StringWidth(s)
	if n > w {
		return fit(s, w)
	}
	return strings.Repeat(" ", w-n) + s
}

// spread puts left and right on one line of w cells, cutting left first.
func spread(left, right string, w int) string {
	rw := ansi.StringWidth(right)
	if rw >= w {
		return fit(right, w)
	}
	return fit(left, w-rw-1) + " " + right
}

// bar draws a progress bar of w cells filled to frac (0..1).
func bar(frac float64, w int) string {
	if w <= 0 {
		return ""
	}
	frac = clamp01(frac)
	n := int(math.Round(frac * float64(w)))
	return strings.Repeat("█", n) + strings.Repeat("░", w-n)
}

var sparks = []rune("▁▂▃▄▅▆▇█")

// sparkline draws the last w values scaled between lo and hi, one cell
// each, right-aligned; missing history is blank.
func sparkline(vals []float64, w int, lo, hi float64) string {
	if w <= 0 {
		return ""
	}
	if len(vals) > w {
		vals = vals[len(vals)-w:]
	}
	var b strings.Builder
	b.Grow(w * 3)
	for range w - len(vals) {
		b.WriteByte(' ')
	}
	for _, v := range vals {
		i := len(sparks) - 1
		if hi > lo {
			i = int(math.Round(clamp01((v-lo)/(hi-lo)) * float64(len(sparks)-1)))
		}
		b.WriteRune(sparks[i])
	}
	return b.String()
}

func clamp01(f float64) float64 {
	switch {
	case f < 0 || math.IsNaN(f):
		return 0
	case f > 1:
		return 1
	}
	return f
}

// clock writes a span as m:ss, or h:mm:ss from an hour on.
func clock(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	s := int(d.Round(time.Second) / time.Second)
	if s >= 3600 {
		return fmt.Sprintf("%d:%02d:%02d", s/3600, s/60%60, s%60)
	}
	return fmt.Sprintf("%d:%02d", s/60, s%60)
}

// short writes a span compactly: 350ms, 4.2s, 42s, 3m05s, 1h02m.
func short(d time.Duration) string {
	switch {
	case d < 0:
		d = 0
	case d < time.Second:
		return fmt.Sprintf("%dms", d.Milliseconds())
	case d < 10*time.Second:
		return fmt.Sprintf("%.1fs", d.Seconds())
	}
	s := int(d.Round(time.Second) / time.Second)
	switch {
	case s < 60:
		return fmt.Sprintf("%ds", s)
	case s < 3600:
		return fmt.Sprintf("%dm%02ds", s/60, s%60)
	}
	return fmt.Sprintf("%dh%02dm", s/3600, s/60%60)
}

// latency writes a request latency with sensible precision.
func latency(d time.Duration) string {
	switch {
	case d <= 0:
		return "-"
	case d < time.Millisecond:
		return fmt.Sprintf("%dµs", d.Microseconds())
	case d < time.Second:
		return fmt.Sprintf("%dms", d.Milliseconds())
	case d < 10*time.Second:
		return fmt.Sprintf("%.2fs", d.Seconds())
	}
	return short(d)
}

// percent writes a share (0..1) as a percentage.
func percent(f float64) string {
	if f >= 1 {
		return "100%"
	}
	// One decimal, more where it would show a failure rate as 100%.
	return journal.Percent(f)
}

// block lays rows out as exactly h lines of w cells.
func block(rows []string, w, h int) []string {
	out := make([]string, h)
	for i := range out {
		if i < len(rows) {
			out[i] = fit(rows[i], w)
		} else {
			out[i] = strings.Repeat(" ", w)
		}
	}
	return out
}
