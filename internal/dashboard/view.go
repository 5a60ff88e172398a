package dashboard

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/charmbracelet/x/ansi"

	"github.com/gamedayhq/chaos/internal/journal"
)

// The panel views are functions from a panel's state to lines of exactly
// the width asked for; the root model only stacks them.

// headerView is the title, the phase, the times and the progress bar.
func headerView(e *expState, now time.Time, interrupting bool, w int, st styles) []string {
	frac, left := e.progress(now)
	status := e.head.phase
	switch {
	case e.head.verdict != "":
		status = st.verdict(e.head.verdict).Render(strings.ToUpper(e.head.verdict))
	case interrupting && e.running():
		status = st.bad.Render("INTERRUPTED: reverting")
	case e.head.aborted:
		status = st.bad.Render("ABORTING: reverting")
	case e.head.hold == holdWaiting:
		status = st.warn.Render("HELD: c continues")
	case e.head.hold == holdAsked:
		status = st.warn.Render(e.head.phase + ", hold asked")
	case e.head.started.IsZero():
		status = st.dim.Render("waiting")
	case status == "":
		status = "starting"
	}
	times := "elapsed " + clock(e.head.elapsed(now))
	if e.running() && left > 0 {
		times += "  left ~" + clock(left)
	}
	line1 := spread(st.title.Render("chaos")+"  "+st.title.Render(e.head.title), status+"  "+times, w)
	pct := fmt.Sprintf("%3d%%", int(frac*100))
	line2 := st.accent.Render(bar(frac, w-5)) + " " + pct
	return []string{line1, fit(line2, w)}
}

// stepsView is the steps, with the running one kept in sight.
func stepsView(p *stepsPanel, hold int, now time.Time, w, h int, st styles) []string {
	if h <= 0 {
		return nil
	}
	title := st.section.Render("Steps")
	switch hold {
	case holdAsked:
		title += st.warn.Render("  hold before next")
	case holdWaiting:
		title += st.warn.Render("  held: c continues")
	}
	rows := []string{title}
	n := h - 1
	start := 0
	if len(p.rows) > n {
		start = min(max(p.current()-n/2, 0), len(p.rows)-n)
	}
	const rightW = 10
	for i := start; i < len(p.rows) && i < start+n; i++ {
		r := p.rows[i]
		glyph, right := stepState(r, now, st)
		name := r.Name
		if r.Section == journal.PhaseRollbacks {
			name = "rollback: " + name
		}
		rows = append(rows, glyph+" "+fit(name, w-rightW-3)+" "+fitRight(right, rightW))
	}
	if len(p.rows) == 0 {
		rows = append(rows, st.dim.Render("no steps"))
	}
	return block(rows, w, h)
}

// stepState is a step's glyph and its state in words.
func stepState(r stepRow, now time.Time, st styles) (glyph, text string) {
	switch r.state {
	case statePending:
		if r.Planned > 0 {
			return st.dim.Render("·"), st.dim.Render(short(r.Planned))
		}
		return st.dim.Render("·"), ""
	case stateRunning:
		el := now.Sub(r.started)
		if r.Planned > 0 {
			return st.accent.Render("▶"), st.accent.Render(short(r.Planned-el) + " left")
		}
		return st.accent.Render("▶"), st.accent.Render(short(el))
	case "done":
		return st.ok.Render("✓"), "done " + short(r.ended.Sub(r.started))
	case "skipped":
		return st.dim.Render("↷"), "skipped"
	case "failed":
		return st.bad.Render("✗"), st.bad.Render("failed")
	}
	return st.bad.Render("!"), st.bad.Render(r.state)
}

// faultsView is the faults in place with their time left.
func faultsView(p *faultsPanel, now time.Time, w, h int, st styles) []string {
	if h <= 0 {
		return nil
	}
	title := st.section.Render("Faults") + fmt.Sprintf("  %d active", len(p.active))
	if p.reverted > 0 {
		title += st.dim.Render(fmt.Sprintf(" · %d reverted", p.reverted))
	}
	if p.done > 0 {
		title += st.dim.Render(fmt.Sprintf(" · %d done", p.done))
	}
	rows := []string{title}
	const rightW = 10
	all := len(p.failed) + len(p.active)
	n := h - 1
	if all > n {
		n--
	}
	for _, r := range p.failed {
		if len(rows) > n {
			break
		}
		rows = append(rows, st.bad.Render("✗")+" "+fit(r.desc, w-rightW-3)+" "+st.bad.Render(fitRight("NOT UNDONE", rightW)))
	}
	for _, r := range p.active {
		if len(rows) > n {
			break
		}
		right := "until end"
		if r.planned > 0 {
			right = short(r.planned-now.Sub(r.injected)) + " left"
		}
		rows = append(rows, st.warn.Render("●")+" "+fit(r.desc, w-rightW-3)+" "+fitRight(right, rightW))
	}
	if shown := len(rows) - 1; shown < all {
		rows = append(rows, st.dim.Render(fmt.Sprintf("  +%d more", all-shown)))
	}
	if all == 0 {
		rows = append(rows, st.dim.Render("none in place"))
	}
	return block(rows, w, h)
}

// checkBad reports whether a check needs attention.
func checkBad(r checkRow) bool {
	if r.sampleLast {
		return !r.ok
	}
	return r.result == "broken" || r.result == "unobserved"
}

// checkState is a check's glyph and its state in words.
func checkState(r checkRow, st styles) (glyph, text string) {
	suffix := ""
	if r.Abort {
		suffix = " (abort)"
	}
	switch {
	case r.recovered != "":
		return st.ok.Render("✓"), st.ok.Render("recovered " + r.recovered)
	case r.sampleLast && !r.ok && r.fails < r.Failures:
		return st.bad.Render("✗"), st.bad.Render(fmt.Sprintf("failing %d/%d", r.fails, r.Failures) + suffix)
	case r.sampleLast && !r.ok:
		return st.bad.Render("✗"), st.bad.Render(fmt.Sprintf("failed %d in a row", r.fails))
	case !r.sampleLast && r.result == "broken":
		return st.bad.Render("✗"), st.bad.Render("broken " + r.phase)
	case !r.sampleLast && r.result == "held":
		return st.ok.Render("✓"), st.ok.Render("held " + r.phase)
	case !r.sampleLast && r.result == "skipped":
		return st.dim.Render("–"), st.dim.Render("skipped " + r.phase)
	case !r.sampleLast && r.result == "unobserved":
		return st.warn.Render("!"), st.warn.Render("not observed " + r.phase)
	case r.sampleLast:
		return st.ok.Render("✓"), "ok" + suffix
	}
	return st.dim.Render("·"), st.dim.Render("pending" + suffix)
}

// observedText is what a check's latest observation saw of what the check
// judges: the p99 of a p99 check, the status of a status check. Without
// those values, it is the observation's own text (what was seen, or why
// it failed).
func observedText(r checkRow) string {
	var parts []string
	for _, k := range r.Judges {
		if v, ok := r.observed[k]; ok {
			parts = append(parts, k+" "+v)
		}
	}
	if len(parts) == 0 {
		return r.value
	}
	return strings.Join(parts, ", ")
}

// checksView is each check's latest value against its thresholds. When
// they do not all fit, the ones that need attention come first.
func checksView(p *checksPanel, w, h int, st styles) []string {
	if h <= 0 {
		return nil
	}
	const stateW = 17
	rest := w - 2 - stateW - 3
	nameW := rest * 26 / 100
	// The observed values take what they need, up to 60% of the room:
	// the expected thresholds are known before the run, the values not.
	need := 0
	for _, r := range p.rows {
		need = max(need, ansi.StringWidth(observedText(r)))
	}
	valW := min(max(rest*36/100, need), rest*60/100)
	expW := rest - nameW - valW
	bad := 0
	for _, r := range p.rows {
		if checkBad(r) {
			bad++
		}
	}
	title := fit(st.section.Render("Checks")+fmt.Sprintf("  %d/%d ok", len(p.rows)-bad, len(p.rows)), nameW+2) + " " +
		fit(st.dim.Render("observed"), valW) + " " + fit(st.dim.Render("expected"), expW) + " " + st.dim.Render("state")
	rows := []string{title}
	idx := fitRows(len(p.rows), h-1, func(i int) bool { return checkBad(p.rows[i]) })
	for _, i := range idx {
		r := p.rows[i]
		glyph, state := checkState(r, st)
		name := r.Name
		if r.Abort {
			name = "abort: " + name
		}
		val := observedText(r)
		switch {
		case val == "":
			val = st.dim.Render("-")
		case r.sampleLast && !r.ok || !r.sampleLast && r.result == "broken":
			val = st.bad.Render(val)
		}
		rows = append(rows, glyph+" "+fit(name, nameW)+" "+fit(val, valW)+" "+fit(st.dim.Render(r.Expect), expW)+" "+fit(state, stateW))
	}
	if hidden := len(p.rows) - len(idx); hidden > 0 {
		// The failing checks come first; those that do not fit are
		// counted, not said ok.
		shown := 0
		for _, i := range idx {
			if checkBad(p.rows[i]) {
				shown++
			}
		}
		if failing := bad - shown; failing > 0 {
			rows = append(rows, st.bad.Render(fmt.Sprintf("  +%d more, %d not ok", hidden, failing)))
		} else {
			rows = append(rows, st.dim.Render(fmt.Sprintf("  +%d more, all ok", hidden)))
		}
	}
	if len(p.rows) == 0 {
		rows = append(rows, st.dim.Render("no checks"))
	}
	return block(rows, w, h)
}

// fitRows returns the indexes, in order, of the n rows there is room for
// out of total, those for which bad is true first; when not all fit, one
// row of the room is left for the line that counts the rest.
func fitRows(total, room int, bad func(i int) bool) []int {
	idx := make([]int, 0, total)
	for i := range total {
		idx = append(idx, i)
	}
	if total <= room {
		return idx
	}
	slices.SortStableFunc(idx, func(a, b int) int {
		ab, bb := bad(a), bad(b)
		switch {
		case ab && !bb:
			return -1
		case bb && !ab:
			return 1
		}
		return 0
	})
	idx = idx[:max(room-1, 0)]
	slices.Sort(idx)
	return idx
}

// loadView is each stream's rate, success and p99, as numbers and as
// sparklines over the last minute, and at the end of the row how many of
// its requests wait for an answer when they have waited longer than the
// answers took.
func loadView(p *loadPanel, w, h int, st styles) []string {
	if h <= 0 {
		return nil
	}
	nameW := min(16, w/5)
	groupW := (w - nameW - 2) / 3
	sparkW := max(groupW-10, 0)
	col := func(label string) string { return fit(fitRight(label, 8), groupW) }
	rows := []string{fit(st.section.Render("Load"), nameW+2) + st.dim.Render(col("req/s")+col("success")+col("p99"))}
	vals := make([]float64, 0, 64)
	// When the streams do not all fit, those in trouble come first, and
	// the rest are counted.
	idx := fitRows(len(p.rows), h-1, func(i int) bool { return streamBad(p.rows[i]) })
	hidden, hiddenBad := len(p.rows)-len(idx), 0
	for _, r := range p.rows {
		if streamBad(r) {
			hiddenBad++
		}
	}
	for _, i := range idx {
		if streamBad(p.rows[i]) {
			hiddenBad--
		}
	}
	for _, i := range idx {
		r := p.rows[i]
		line := "  " + fit(r.Name, nameW)
		if len(r.pts) == 0 {
			rows = append(rows, line+st.dim.Render(fmt.Sprintf("waiting for traffic (%g/s planned)", r.Rate)))
			continue
		}
		last := r.pts[len(r.pts)-1]
		series := func(f func(point) float64) []float64 {
			vals = vals[:0]
			for _, pt := range r.pts {
				vals = append(vals, f(pt))
			}
			return vals
		}
		rps := series(func(p point) float64 { return p.rps })
		line += fitRight(fmt.Sprintf("%.1f", last.rps), 8) + " " + st.accent.Render(sparkline(rps, sparkW, 0, maxOf(rps))) + " "
		succ := series(func(p point) float64 { return p.success })
		style, share := st.ok, percent(last.success)
		switch {
		case last.requests == 0 && last.waiting > 0:
			// Nothing came back while requests wait: a stall, not
			// requests that failed.
			style, share = st.bad, "none"
		case last.requests == 0:
			style, share = st.dim, "-"
		case last.success < 0.99:
			style = st.bad
		}
		line += style.Render(fitRight(share, 8)) + " " + style.Render(sparkline(succ, sparkW, min(minOf(succ), 0.99), 1)) + " "
		p99 := series(func(p point) float64 { return float64(p.p99) })
		line += fitRight(latency(last.p99), 8) + " "
		// Requests that waited longer than the window's answers are what
		// is slow, and the p99 shown is theirs: the row says how many.
		// Younger ones are what any busy stream has in flight, and would
		// only take room.
		if last.waiting == 0 || last.waited < last.p99 {
			line += st.accent.Render(sparkline(p99, sparkW, 0, maxOf(p99)))
			rows = append(rows, line)
			continue
		}
		// They take what they need of the p99 sparkline: the rows keep
		// their columns, and the line its width. A sparkline of a cell
		// or two would say nothing.
		note := fmt.Sprintf("%d waiting", last.waiting)
		if sw := min(sparkW, w-ansi.StringWidth(line)-len(note)-1); sw >= 3 {
			line += st.accent.Render(sparkline(p99, sw, 0, maxOf(p99))) + " "
		}
		rows = append(rows, line+st.warn.Render(note))
	}
	switch {
	case hiddenBad > 0:
		rows = append(rows, st.bad.Render(fmt.Sprintf("  +%d more, %d failing or stalled", hidden, hiddenBad)))
	case hidden > 0:
		rows = append(rows, st.dim.Render(fmt.Sprintf("  +%d more", hidden)))
	}
	return block(rows, w, h)
}

// streamBad reports whether a stream's latest window needs attention:
// requests failed, or none came back while some wait.
func streamBad(r streamRow) bool {
	if len(r.pts) == 0 {
		return false
	}
	last := r.pts[len(r.pts)-1]
	return last.requests == 0 && last.waiting > 0 || last.requests > 0 && last.success < 0.99
}

func maxOf(v []float64) float64 {
	m := 0.0
	for _, x := range v {
		m = max(m, x)
	}
	return m
}

func minOf(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	m := v[0]
	for _, x := range v {
		m = min(m, x)
	}
	return m
}

// listView is the experiments with their verdicts as they land.
func listView(exps []*expState, cur int, now time.Time, w, h int, st styles) []string {
	rows := []string{st.section.Render("Experiments")}
	for i, e := range exps {
		mark := "  "
		if i == cur {
			mark = st.accent.Render("▶ ")
		}
		rows = append(rows, mark+fit(e.head.title, w-2))
		var state string
		switch v := e.verdict(); {
		case v != "":
			state = st.verdict(v).Render(v) + st.dim.Render(" "+short(e.head.elapsed(now)))
		case e.running():
			state = st.accent.Render("running " + clock(e.head.elapsed(now)))
		default:
			state = st.dim.Render("pending")
		}
		rows = append(rows, "    "+state)
	}
	if len(rows) > h {
		rows = rows[:h]
	}
	return block(rows, w, h)
}

// summaryView is what stays on the terminal when the dashboard closes:
// each experiment that ran, its verdict, checks and reports.
func summaryView(exps []*expState, st styles) string {
	var b strings.Builder
	for _, e := range exps {
		v := e.verdict()
		if v == "" && e.head.started.IsZero() {
			continue
		}
		if v == "" {
			v = "unfinished"
		}
		d := e.head.elapsed(time.Now())
		if e.result != nil && e.result.Duration > 0 {
			d = e.result.Duration
		}
		fmt.Fprintf(&b, "\n%s  %s  (%s, %s)\n", st.verdict(v).Render(strings.ToUpper(v)), st.title.Render(e.head.title), e.head.file, d.Round(time.Millisecond))
		reason := e.head.reason
		if e.result != nil && e.result.Reason != "" {
			reason = e.result.Reason
		}
		if reason != "" {
			fmt.Fprintf(&b, "  %s\n", reason)
		}
		for _, r := range e.checks.rows {
			var parts []string
			for _, ph := range journal.CheckPhases {
				if res, ok := r.results[ph]; ok {
					parts = append(parts, ph+" "+res)
				}
			}
			kind := "check"
			if r.Abort {
				kind = "abort"
			}
			line := fmt.Sprintf("  %s %q: ", kind, r.Name)
			if len(parts) == 0 {
				line += "not run"
			} else {
				line += strings.Join(parts, ", ")
			}
			if r.recovered != "" {
				line += " (recovered in " + r.recovered + ")"
			}
			fmt.Fprintln(&b, line)
		}
		if e.result != nil {
			for _, r := range e.result.Reports {
				fmt.Fprintf(&b, "  %s: %s\n", r.Name, r.Path)
			}
		}
	}
	return b.String()
}
