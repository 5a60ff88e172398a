package report

import (
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/gamedayhq/chaos/internal/journal"
	"github.com/gamedayhq/chaos/internal/load"
)

// maxRows bounds the rows of a stream's table: windows are merged into
// rows of a round interval so that a long run still reads as one table.
const maxRows = 60

// rowIntervals are the row lengths a stream table may use.
var rowIntervals = []time.Duration{
	time.Second, 2 * time.Second, 5 * time.Second, 10 * time.Second, 15 * time.Second, 30 * time.Second,
	time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute, 15 * time.Minute, 30 * time.Minute,
	time.Hour, 2 * time.Hour, 6 * time.Hour, 24 * time.Hour,
}

// stat is the traffic of one stream over a span: counts added up and
// latency percentiles read from the exactly merged histograms.
type stat struct {
	Start, End          time.Time
	Requests, Successes int64
	Errors              map[string]int64
	Canceled            int64
	P50, P90, P99, Max  time.Duration
	Lag                 time.Duration
	// Inflight is the number of requests the span left waiting for an
	// answer, and Waited the longest any of them had waited: those of its
	// newest window. A request waiting at the end of an older window
	// either completed later in the span or still waits at its end, so
	// adding the windows up would count it several times.
	Inflight int64
	Waited   time.Duration
	// Windows is the number of windows merged.
	Windows int
}

// Success is the share of requests that succeeded; ok is false when there
// were no requests.
func (s stat) Success() (ratio float64, ok bool) {
	if s.Requests == 0 {
		return 0, false
	}
	return float64(s.Successes) / float64(s.Requests), true
}

// streamData is one load stream's windows with their exact summaries.
type streamData struct {
	Stream   journal.Stream
	Windows  []load.Window // sorted by start
	Interval time.Duration
	Rows     []stat
	Total    stat
}

// streams groups the journal's windows by stream, in the order the streams
// were declared (streams only seen in windows come last, by name).
func streams(j *journal.Journal) []*streamData {
	byName := map[string]*streamData{}
	var out []*streamData
	for _, s := range j.Streams {
		if byName[s.Name] == nil {
			d := &streamData{Stream: s}
			byName[s.Name] = d
			out = append(out, d)
		}
	}
	var extra []*streamData
	for _, w := range j.Windows {
		d := byName[w.Stream]
		if d == nil {
			d = &streamData{Stream: journal.Stream{Name: w.Stream}}
			byName[w.Stream] = d
			extra = append(extra, d)
		}
		d.Windows = append(d.Windows, w)
	}
	slices.SortFunc(extra, func(a, b *streamData) int { return compareStrings(a.Stream.Name, b.Stream.Name) })
	out = append(out, extra...)
	for _, d := range out {
		slices.SortStableFunc(d.Windows, func(a, b load.Window) int { return a.Start.Compare(b.Start) })
	}
	return out
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// rowInterval picks the shortest round interval, no shorter than the
// windows, that gives at most maxRows rows.
func rowInterval(ws []load.Window) time.Duration {
	if len(ws) == 0 {
		return time.Second
	}
	span := ws[len(ws)-1].End.Sub(ws[0].Start)
	var shortest time.Duration
	for _, w := range ws {
		if d := w.Duration(); d > 0 && (shortest == 0 || d < shortest) {
			shortest = d
		}
	}
	for _, iv := range rowIntervals {
		if iv >= shortest && span/iv <= maxRows {
			return iv
		}
	}
	return rowIntervals[len(rowIntervals)-1]
}

// summarize fills d.Rows and d.Total. Each window's histogram is decoded
// once and merged into its row and into the total; the merge is exact, as
// load.Merge's, so the percentiles are those of all requests of the row.
// A histogram that cannot be read is the error returned: the counts are
// still those of every window, and no latency is given, which would be
// that of some of the requests only.
func (d *streamData) summarize() error {
	d.Interval = rowInterval(d.Windows)
	var (
		rows  []stat
		hists []*hdrhistogram.PackedHistogram
		total = stat{}
		all   *hdrhistogram.PackedHistogram
		err   error
	)
	for _, w := range d.Windows {
		key := w.Start.Truncate(d.Interval)
		if len(rows) == 0 || !rows[len(rows)-1].Start.Equal(key) {
			rows = append(rows, stat{Start: key})
			hists = append(hists, nil)
		}
		i := len(rows) - 1
		addCounts(&rows[i], w)
		addCounts(&total, w)
		if w.Latency.Histogram == "" || err != nil {
			continue
		}
		p, derr := hdrhistogram.DecodePacked([]byte(w.Latency.Histogram))
		if derr != nil {
			err = fmt.Errorf("decode latency histogram of %s window at %s: %w", w.Stream, w.Start.Format(time.RFC3339Nano), derr)
			continue
		}
		if all == nil {
			all = p.Clone()
		} else {
			all.Merge(p)
		}
		if hists[i] == nil {
			hists[i] = p
		} else {
			hists[i].Merge(p)
		}
	}
	if err == nil {
		for i := range rows {
			rows[i].setLatency(hists[i])
		}
		total.setLatency(all)
	}
	if len(d.Windows) > 0 {
		// The first row starts with the first window, not before it.
		if rows[0].Start.Before(d.Windows[0].Start) {
			rows[0].Start = d.Windows[0].Start
		}
		total.Start = d.Windows[0].Start
	}
	d.Rows, d.Total = rows, total
	return err
}

func addCounts(s *stat, w load.Window) {
	if !w.End.Before(s.End) {
		s.Inflight, s.Waited = w.Inflight, w.Waiting.Max
	}
	if w.End.After(s.End) {
		s.End = w.End
	}
	s.Requests += w.Requests
	s.Successes += w.Successes
	s.Canceled += w.Canceled
	s.Lag = max(s.Lag, w.Lag)
	s.Windows++
	for class, n := range w.Errors {
		if s.Errors == nil {
			s.Errors = map[string]int64{}
		}
		s.Errors[class] += n
	}
}

func (s *stat) setLatency(h *hdrhistogram.PackedHistogram) {
	if h == nil || h.TotalCount() == 0 {
		return
	}
	us := func(v int64) time.Duration { return time.Duration(v) * time.Microsecond }
	s.P50 = us(h.ValueAtPercentile(50))
	s.P90 = us(h.ValueAtPercentile(90))
	s.P99 = us(h.ValueAtPercentile(99))
	s.Max = us(h.Max())
}

// point is one value at a time, in seconds from the start of the run; a NaN
// value is a gap in the line.
type point struct{ T, V float64 }

// downsample keeps, of each of cols equal columns of [t0, t1], the first,
// lowest, highest and last points in time order (the M4 method): a line
// through them looks, at that width, as the line through every point,
// spikes included.
func downsample(pts []point, t0, t1 float64, cols int) []point {
	if len(pts) <= 4*cols || t1 <= t0 {
		return pts
	}
	out := make([]point, 0, 4*cols+8)
	col := func(t float64) int { return int(math.Floor((t - t0) / (t1 - t0) * float64(cols))) }
	for i := 0; i < len(pts); {
		c := col(pts[i].T)
		first, last, lo, hi := -1, -1, -1, -1
		gap := false
		k := i
		for ; k < len(pts) && col(pts[k].T) == c; k++ {
			if math.IsNaN(pts[k].V) {
				gap = true
				continue
			}
			if first < 0 {
				first = k
			}
			last = k
			if lo < 0 || pts[k].V < pts[lo].V {
				lo = k
			}
			if hi < 0 || pts[k].V > pts[hi].V {
				hi = k
			}
		}
		if first >= 0 {
			idx := []int{first, lo, hi, last}
			slices.Sort(idx)
			idx = slices.Compact(idx)
			for _, x := range idx {
				out = append(out, pts[x])
			}
		}
		if gap {
			out = append(out, point{T: pts[k-1].T, V: math.NaN()})
		}
		i = k
	}
	return out
}
