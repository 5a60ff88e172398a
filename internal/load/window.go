package load

import (
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/gamedayhq/chaos/internal/experiment"
)

// Histogram geometry: microseconds from 1µs to the longest timeout a stream
// may have (60s) with 3 significant digits, so every latency is kept within
// 0.1% and a histogram encodes in a few hundred bytes.
const (
	histLowest  = 1
	histHighest = int64(time.Duration(experiment.MaxStreamTimeout) / time.Microsecond)
	histDigits  = 3
)

func newHist() *hdrhistogram.Histogram {
	return hdrhistogram.New(histLowest, histHighest, histDigits)
}

// Window is what one stream did during one window of time. Requests are
// counted in the window in which they completed; those still waiting for an
// answer when the window closed are in Inflight and Waiting.
type Window struct {
	// Stream is the name of the stream.
	Stream string `json:"stream"`
	// Start and End bound the window; End is exclusive.
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
	// Requests is the number of requests completed in the window, including
	// those not sent because of MaxInflight: Successes plus all Errors.
	Requests int64 `json:"requests"`
	// Successes is the number of answers with a success status.
	Successes int64 `json:"successes"`
	// Errors counts failed requests by class: StatusClass(code), ClassTimeout,
	// ClassRefused, ClassReset, ClassMaxInflight or ClassOther.
	Errors map[string]int64 `json:"errors,omitempty"`
	// Canceled counts requests still waiting for an answer when the stream
	// stopped. They are neither successes nor errors, nor in Requests; the
	// last window's Inflight and Waiting hold them.
	Canceled int64 `json:"canceled,omitempty"`
	// Latency describes the latencies of the requests that were sent.
	Latency Latency `json:"latency"`
	// Inflight is the number of requests sent and still waiting for an
	// answer when the window closed (in the last window, when the stream
	// stopped), and Waiting the distribution of how long they had waited
	// then, counted from their due times as latencies are. A request
	// counts here in every window it outlives, and among Requests in the
	// window it completes in: only the newest window of a span says what
	// the span left waiting.
	Inflight int64   `json:"inflight,omitempty"`
	Waiting  Latency `json:"waiting,omitzero"`
	// Lag is the longest a request completed in the window waited past its
	// due time before it was sent. Latencies include it; when it is large,
	// the generator or its machine could not keep up, and slow answers are
	// partly the sender's doing.
	Lag time.Duration `json:"lag,omitempty"`
	// Late counts the requests completed in the window that were due in an
	// earlier one, by the start of the window they were due in, oldest
	// first: their outcomes belong to the time they were sent in, such as
	// a fault's, though they came in later. They are in Requests,
	// Successes and Errors too.
	Late []Late `json:"late,omitempty"`
}

// Late is the outcomes of requests completed in a window after the one
// they were due in.
type Late struct {
	// Due is the start of the window they were due in.
	Due       time.Time        `json:"due"`
	Requests  int64            `json:"requests"`
	Successes int64            `json:"successes"`
	Errors    map[string]int64 `json:"errors,omitempty"`
	// Latency is their latencies, counted from their due times: a
	// request sent under a fault and answered after it took that long
	// under the fault.
	Latency Latency `json:"latency,omitzero"`
}

// Duration is the length of the window.
func (w Window) Duration() time.Duration { return w.End.Sub(w.Start) }

// RPS is the number of requests sent and completed per second of the
// window. Requests not sent because of MaxInflight do not count: a stream
// that could not send must not show the rate it was asked for.
func (w Window) RPS() float64 {
	if d := w.Duration(); d > 0 {
		return float64(w.Requests-w.Errors[ClassMaxInflight]) / d.Seconds()
	}
	return 0
}

// Latency is a latency distribution: a few precomputed values for display and
// the full histogram for exact merging.
type Latency struct {
	// P50, P90, P99 and Max are read from Histogram, to within its
	// precision of 0.1%.
	P50 time.Duration `json:"p50"`
	P90 time.Duration `json:"p90"`
	P99 time.Duration `json:"p99"`
	Max time.Duration `json:"max"`
	// Histogram is an HdrHistogram of latencies in microseconds in the
	// standard base64 V2 compressed encoding, which HdrHistogram tools in
	// other languages also read. It is empty when nothing was recorded.
	Histogram string `json:"hdr,omitempty"`
}

func latencyOf(h *hdrhistogram.Histogram) Latency {
	if h.TotalCount() == 0 {
		return Latency{}
	}
	enc, err := h.Encode(hdrhistogram.V2CompressedEncodingCookieBase)
	if err != nil {
		// Encoding only writes to memory; failing means the library broke
		// its contract, and a window without its histogram would be wrong.
		panic(fmt.Sprintf("encode latency histogram: %v", err))
	}
	return Latency{
		P50:       micros(h.ValueAtPercentile(50)),
		P90:       micros(h.ValueAtPercentile(90)),
		P99:       micros(h.ValueAtPercentile(99)),
		Max:       micros(h.Max()),
		Histogram: string(enc),
	}
}

func micros(v int64) time.Duration { return time.Duration(v) * time.Microsecond }

// Tally accumulates request outcomes into one Window. It is not safe for
// concurrent use.
type Tally struct {
	w    Window
	hist *hdrhistogram.Histogram
	wait *hdrhistogram.Histogram   // made by the first AddWaiting
	late []*hdrhistogram.Histogram // one for each of w.Late
}

// NewTally starts an empty window of stream at start.
func NewTally(stream string, start time.Time) *Tally {
	return &Tally{w: Window{Stream: stream, Start: start}, hist: newHist()}
}

// Add records a request that completed after latency, counted from its
// scheduled send time. class is "" for a success, else its error class.
// Latencies beyond experiment.MaxStreamTimeout, which only a sender that
// fell behind its schedule makes, are recorded as that.
func (t *Tally) Add(latency time.Duration, class string) {
	record(t.hist, latency)
	t.count(class)
}

// record adds a latency to h, clamped to the histogram's range.
func record(h *hdrhistogram.Histogram, latency time.Duration) {
	v := int64(latency / time.Microsecond)
	// v is within the histogram's range, so recording cannot fail.
	_ = h.RecordValue(min(max(v, 0), histHighest))
}

// AddLate records that a request completed in this window after latency
// with class ("" for a success) was due in the earlier window that started
// at due. Add counts it too.
func (t *Tally) AddLate(due time.Time, latency time.Duration, class string) {
	i := len(t.w.Late) - 1
	for i >= 0 && t.w.Late[i].Due.After(due) {
		i--
	}
	if i < 0 || !t.w.Late[i].Due.Equal(due) {
		i++
		t.w.Late = slices.Insert(t.w.Late, i, Late{Due: due})
		t.late = slices.Insert(t.late, i, newHist())
	}
	record(t.late[i], latency)
	l := &t.w.Late[i]
	l.Requests++
	if class == "" {
		l.Successes++
		return
	}
	if l.Errors == nil {
		l.Errors = make(map[string]int64)
	}
	l.Errors[class]++
}

// AddLag records that a request was sent lag after its due time.
func (t *Tally) AddLag(lag time.Duration) { t.w.Lag = max(t.w.Lag, lag) }

// Drop records a request that was never sent, such as one refused for
// ClassMaxInflight. It has no latency.
func (t *Tally) Drop(class string) { t.dropN(class, 1) }

func (t *Tally) dropN(class string, n int64) {
	t.w.Requests += n
	if t.w.Errors == nil {
		t.w.Errors = make(map[string]int64)
	}
	t.w.Errors[class] += n
}

// Cancel records a request cut short because the stream stopped.
func (t *Tally) Cancel() { t.w.Canceled++ }

// AddWaiting records a request still waiting for an answer when the window
// closes, age after its scheduled send time. Ages are clamped as latencies
// are in Add.
func (t *Tally) AddWaiting(age time.Duration) {
	if t.wait == nil {
		t.wait = newHist()
	}
	record(t.wait, age)
	t.w.Inflight++
}

func (t *Tally) count(class string) {
	t.w.Requests++
	if class == "" {
		t.w.Successes++
		return
	}
	if t.w.Errors == nil {
		t.w.Errors = make(map[string]int64)
	}
	t.w.Errors[class]++
}

// Window closes the window at end and returns it. The Tally must not be used
// afterwards.
func (t *Tally) Window(end time.Time) Window {
	w := t.w
	w.End = end
	w.Latency = latencyOf(t.hist)
	if t.wait != nil {
		w.Waiting = latencyOf(t.wait)
	}
	for i, h := range t.late {
		w.Late[i].Latency = latencyOf(h)
	}
	return w
}

// LateOf adds up the outcomes of the requests of windows ws that were due
// from from to before to and completed in a window starting at to or
// later, counts and latencies, as a window of no length at to.
func LateOf(ws []Window, from, to time.Time) (Window, error) {
	out := Window{Start: to, End: to}
	h := newHist()
	for _, w := range ws {
		out.Stream = w.Stream
		if w.Start.Before(to) {
			continue
		}
		for _, l := range w.Late {
			if l.Due.Before(from) || !l.Due.Before(to) {
				continue
			}
			out.Requests += l.Requests
			out.Successes += l.Successes
			for class, n := range l.Errors {
				if out.Errors == nil {
					out.Errors = map[string]int64{}
				}
				out.Errors[class] += n
			}
			if err := addHist(h, w, l.Latency, "late latency"); err != nil {
				return Window{}, err
			}
		}
	}
	out.Latency = latencyOf(h)
	return out, nil
}

// Summary is several windows merged: counts added up and latency histograms
// merged exactly, so its percentiles are those of all the requests together.
type Summary struct {
	// Stream is the windows' stream name, empty if they come from several.
	Stream string `json:"stream,omitempty"`
	// Start is the earliest window start, End the latest window end.
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
	// Covered is the time covered by the windows; gaps between them do not
	// count, overlaps count once.
	Covered time.Duration `json:"covered"`
	// Requests, Successes, Errors and Canceled are summed over the windows,
	// Lag is their largest.
	Requests  int64            `json:"requests"`
	Successes int64            `json:"successes"`
	Errors    map[string]int64 `json:"errors,omitempty"`
	Canceled  int64            `json:"canceled,omitempty"`
	Lag       time.Duration    `json:"lag,omitempty"`
	// RPS is the number of requests sent and completed per second of
	// Covered time: Requests without those not sent because of MaxInflight.
	RPS float64 `json:"rps"`
	// SuccessRatio is Successes / Requests, from 0 to 1. It is 0 when there
	// were no requests: a stream that got no answers is not healthy.
	SuccessRatio float64 `json:"success_ratio"`
	// Latency is the merged latency distribution.
	Latency Latency `json:"latency"`
	// Inflight and Waiting are those of the newest window of each stream:
	// the requests still waiting at the end of the span. A request that
	// waited at the end of an older window either completed later in the
	// span, and is counted in Requests, or still waits at its end.
	Inflight int64   `json:"inflight,omitempty"`
	Waiting  Latency `json:"waiting,omitzero"`

	hist *hdrhistogram.Histogram
	wait *hdrhistogram.Histogram
}

// Percentile returns the latency at percentile p (0 to 100) of the merged
// windows, or 0 if no latency was recorded.
func (s Summary) Percentile(p float64) time.Duration {
	if s.hist == nil {
		return 0
	}
	return micros(s.hist.ValueAtPercentile(p))
}

// AtLeast returns the latency at percentile p (0 to 100) of the completed
// requests together with the requests still waiting at the end whose age
// then was at least least, counted at that age. As those will take longer
// than their age, it is a lower bound of the percentile of all these
// requests once answered; the waiting requests younger than least are left
// out, as nothing is known of them yet. added is how many waiting requests
// were counted; when it is 0, the value is Percentile's. ok is false when
// there is neither a latency nor such a request.
func (s Summary) AtLeast(p float64, least time.Duration) (v time.Duration, added int64, ok bool) {
	var old []hdrhistogram.Bar
	if s.wait != nil {
		for _, b := range s.wait.Distribution() {
			// A bucket straddling least may hold younger requests: only
			// those known to be old enough count, at the bucket's floor.
			if b.Count > 0 && micros(b.From) >= least {
				old = append(old, b)
				added += b.Count
			}
		}
	}
	if added == 0 {
		if s.hist == nil || s.hist.TotalCount() == 0 {
			return 0, 0, false
		}
		return s.Percentile(p), 0, true
	}
	h := newHist()
	if s.hist != nil {
		h.Merge(s.hist)
	}
	for _, b := range old {
		_ = h.RecordValues(b.From, b.Count)
	}
	return micros(h.ValueAtPercentile(p)), added, true
}

// Merge sums windows into a Summary. The order of the windows does not
// matter. It fails only on a window whose histogram cannot be decoded.
func Merge(windows ...Window) (Summary, error) {
	var s Summary
	h := newHist()
	spans := make([]Window, 0, len(windows))
	newest := map[string]Window{}
	for i, w := range windows {
		if n, ok := newest[w.Stream]; !ok || w.End.After(n.End) || w.End.Equal(n.End) && w.Start.After(n.Start) {
			newest[w.Stream] = w
		}
		if i == 0 {
			s.Stream, s.Start, s.End = w.Stream, w.Start, w.End
		}
		if w.Stream != s.Stream {
			s.Stream = ""
		}
		if w.Start.Before(s.Start) {
			s.Start = w.Start
		}
		if w.End.After(s.End) {
			s.End = w.End
		}
		s.Requests += w.Requests
		s.Successes += w.Successes
		s.Canceled += w.Canceled
		s.Lag = max(s.Lag, w.Lag)
		for class, n := range w.Errors {
			if s.Errors == nil {
				s.Errors = make(map[string]int64, len(w.Errors))
			}
			s.Errors[class] += n
		}
		if err := addHist(h, w, w.Latency, "latency"); err != nil {
			return Summary{}, err
		}
		if w.End.After(w.Start) {
			spans = append(spans, w)
		}
	}
	s.Covered = covered(spans)
	if s.Covered > 0 {
		s.RPS = float64(s.Requests-s.Errors[ClassMaxInflight]) / s.Covered.Seconds()
	}
	if s.Requests > 0 {
		s.SuccessRatio = float64(s.Successes) / float64(s.Requests)
	}
	s.Latency = latencyOf(h)
	s.hist = h
	if len(newest) > 0 {
		wait := newHist()
		for _, w := range newest {
			s.Inflight += w.Inflight
			if err := addHist(wait, w, w.Waiting, "waiting"); err != nil {
				return Summary{}, err
			}
		}
		if wait.TotalCount() > 0 {
			s.Waiting = latencyOf(wait)
			s.wait = wait
		}
	}
	return s, nil
}

// addHist adds the histogram of l, one of w's, to h.
func addHist(h *hdrhistogram.Histogram, w Window, l Latency, what string) error {
	if l.Histogram == "" {
		return nil
	}
	p, err := hdrhistogram.DecodePacked([]byte(l.Histogram))
	if err != nil {
		return fmt.Errorf("merge windows: decode %s histogram of %s window at %s: %w",
			what, w.Stream, w.Start.Format(time.RFC3339Nano), err)
	}
	// Values beyond the geometry are clamped rather than lost, as
	// Tally.Add does.
	p.ForEachBucket(func(value, count int64) bool {
		_ = h.RecordValues(min(value, histHighest), count)
		return true
	})
	return nil
}

// covered is the length of the union of the windows' spans.
func covered(spans []Window) time.Duration {
	slices.SortFunc(spans, func(a, b Window) int { return a.Start.Compare(b.Start) })
	var total time.Duration
	var end time.Time
	for _, w := range spans {
		start := w.Start
		if start.Before(end) {
			start = end
		}
		if w.End.After(start) {
			total += w.End.Sub(start)
			end = w.End
		}
	}
	return total
}

// ErrorClasses returns the error classes of s sorted by name, for stable
// display.
func (s Summary) ErrorClasses() []string {
	return slices.Sorted(maps.Keys(s.Errors))
}
