package report_test

import (
	"bytes"
	"context"
	"encoding/json"
	stdhtml "html"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gamedayhq/chaos/internal/journal"
	"github.com/gamedayhq/chaos/internal/report"
)

// TestBrowser opens reports in Debian's chromium, headless, served from a
// loopback server that records every request, and checks that each page
// loads with no console message and no request besides the page itself.
// Names outside loopback do not resolve in that browser, so nothing can
// reach the network either. Screenshots go to $CHAOS_SCREENSHOT_DIR when
// set. The test skips when chromium is missing, unless
// CHAOS_REQUIRE_CHROMIUM=1.
func TestBrowser(t *testing.T) {
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("CHAOS_REQUIRE_CHROMIUM") == "1" {
			t.Fatal("chromium is not installed and CHAOS_REQUIRE_CHROMIUM=1: apt-get install -y chromium")
		}
		t.Skip("chromium is not installed (apt-get install -y chromium); set CHAOS_REQUIRE_CHROMIUM=1 to fail instead")
	}
	if testing.Short() {
		t.Skip("starts a browser")
	}

	deviated, err := report.HTMLWithLogs(readJournal(t, "deviated"), map[string]string{"services/hello.log": "hello: listening\nhello: bye\n"})
	if err != nil {
		t.Fatal(err)
	}
	hour, err := report.HTML(report.HourJournal(t))
	if err != nil {
		t.Fatal(err)
	}
	index, err := report.IndexHTML(report.Gameday{
		Journals: []*journal.Journal{readJournal(t, "latency"), readJournal(t, "deviated"), readJournal(t, "aborted"), readJournal(t, "error")},
		Dirs:     []string{"latency", "deviated", "aborted", "error"}})
	if err != nil {
		t.Fatal(err)
	}
	long, err := report.HTML(longNames(t))
	if err != nil {
		t.Fatal(err)
	}
	longIndex, err := report.IndexHTML(report.Gameday{Journals: []*journal.Journal{longNames(t), readJournal(t, "latency")}, Dirs: []string{"long", "latency"}})
	if err != nil {
		t.Fatal(err)
	}
	pages := map[string][]byte{
		"/long-layout.html":       measuring(t, long),
		"/long-index-layout.html": measuring(t, longIndex),
		"/report.html":            deviated,
		"/hour.html":              hour,
		"/index.html":             index,
		// The same reports with a script that measures where their parts
		// are: the pages themselves hold none, and forbid it.
		"/report-layout.html": measuring(t, deviated),
		"/hour-layout.html":   measuring(t, hour),
		// A page that fetches an image: the harness must catch it.
		"/fetching.html": []byte(`<!DOCTYPE html><html><head><title>x</title></head><body><img src="/pixel.png"></body></html>`),
	}
	var mu sync.Mutex
	var requests []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		requests = append(requests, r.URL.Path)
		mu.Unlock()
		b, ok := pages[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write(b)
	}))
	defer srv.Close()

	shots := os.Getenv("CHAOS_SCREENSHOT_DIR")
	if shots == "" {
		shots = t.TempDir()
	}
	browse := func(t *testing.T, page, size, action string) (stdout, stderr bytes.Buffer) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, chromium,
			"--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
			"--disable-component-update", "--disable-sync", "--no-first-run", "--disable-extensions",
			"--user-data-dir="+t.TempDir(),
			"--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
			"--enable-logging=stderr", "--v=0",
			"--window-size="+size, "--hide-scrollbars",
			action,
			srv.URL+page)
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		cmd.WaitDelay = 5 * time.Second
		if err := cmd.Run(); err != nil {
			t.Fatalf("chromium %s: %v\n%s", page, err, stderr.String())
		}
		return stdout, stderr
	}
	open := func(t *testing.T, page, size string) (console []string, fetched []string) {
		mu.Lock()
		requests = nil
		mu.Unlock()
		shot := filepath.Join(shots, strings.TrimSuffix(strings.TrimPrefix(page, "/"), ".html")+"-"+size+".png")
		_, stderr := browse(t, page, size, "--screenshot="+shot)
		png, err := os.ReadFile(shot)
		if err != nil || !bytes.HasPrefix(png, []byte("\x89PNG")) {
			t.Fatalf("chromium %s: no screenshot (%v)\n%s", page, err, stderr.String())
		}
		for _, l := range strings.Split(stderr.String(), "\n") {
			if strings.Contains(l, ":CONSOLE") {
				console = append(console, l)
			}
		}
		mu.Lock()
		defer mu.Unlock()
		for _, r := range requests {
			if r != page {
				fetched = append(fetched, r)
			}
		}
		if !slices.Contains(requests, page) {
			t.Fatalf("chromium %s: the page was never requested; requests: %v", page, requests)
		}
		return console, fetched
	}

	for _, tc := range []struct{ page, size string }{
		{"/report.html", "1280,3000"},
		{"/report.html", "390,3000"},
		{"/hour.html", "1280,3000"},
		{"/index.html", "1280,900"},
	} {
		t.Run(strings.TrimPrefix(tc.page, "/")+"@"+tc.size, func(t *testing.T) {
			console, fetched := open(t, tc.page, tc.size)
			if len(console) > 0 {
				t.Errorf("console messages:\n%s", strings.Join(console, "\n"))
			}
			if len(fetched) > 0 {
				t.Errorf("the page made requests: %v", fetched)
			}
		})
	}

	// The verdict and the timeline are above the fold, the charts follow
	// them, and nothing is wider than the window.
	for _, tc := range []struct {
		page, size string
		// top is how far down the first screen the timeline may start,
		// as a share of its height; timelineAll says the whole timeline
		// fits in the first screen. A narrow window wraps the verdict and
		// the facts over more lines.
		top         float64
		timelineAll bool
	}{
		{"/report-layout.html", "1280,900", 0.7, true},
		{"/hour-layout.html", "1280,900", 0.7, true},
		{"/report-layout.html", "390,844", 0.9, false},
	} {
		t.Run("layout "+strings.TrimPrefix(tc.page, "/")+"@"+tc.size, func(t *testing.T) {
			stdout, stderr := browse(t, tc.page, tc.size, "--dump-dom")
			l := readLayout(t, stdout.String(), stderr.String())
			t.Logf("viewport %gx%g, page width %g; banner %+v, timeline %+v, first chart %+v", l.VW, l.VH, l.SW, l.Banner, l.Timeline, l.Chart)
			if l.Banner == nil || l.Timeline == nil || l.Chart == nil {
				t.Fatalf("the page lacks the banner, the timeline or a chart: %+v", l)
			}
			if l.Banner.Top > 60 {
				t.Errorf("the verdict starts %gpx down; want it at the top", l.Banner.Top)
			}
			if l.Timeline.Top > l.VH*tc.top {
				t.Errorf("the timeline starts %gpx down a %gpx window; want it in the upper part of the first screen", l.Timeline.Top, l.VH)
			}
			if tc.timelineAll && l.Timeline.Bottom > l.VH {
				t.Errorf("the timeline ends %gpx down a %gpx window; want it all in the first screen", l.Timeline.Bottom, l.VH)
			}
			if l.Chart.Top < l.Timeline.Bottom || l.Chart.Top > l.Timeline.Bottom+200 {
				t.Errorf("the first chart starts at %gpx, the timeline ends at %gpx; want the chart right after it", l.Chart.Top, l.Timeline.Bottom)
			}
			if l.SW > l.VW+1 {
				t.Errorf("the page is %gpx wide in a %gpx window", l.SW, l.VW)
			}
		})
	}

	// Names of any length, without a space to break at, in any script,
	// keep every page as wide as the window: a wide page hides the
	// verdict's end and the table columns beside it.
	for _, page := range []string{"/long-layout.html", "/long-index-layout.html"} {
		for _, size := range []string{"1280,900", "390,844"} {
			t.Run("long names "+strings.TrimPrefix(page, "/")+"@"+size, func(t *testing.T) {
				stdout, stderr := browse(t, page, size, "--dump-dom")
				l := readLayout(t, stdout.String(), stderr.String())
				if l.SW > l.VW+1 {
					t.Errorf("the page is %gpx wide in a %gpx window", l.SW, l.VW)
				}
			})
		}
	}

	t.Run("harness catches a fetching page", func(t *testing.T) {
		console, fetched := open(t, "/fetching.html", "800,600")
		if len(fetched) == 0 && len(console) == 0 {
			t.Error("a page that loads an image showed neither a request nor a console message")
		}
	})
}

// measureScript writes the boxes of the report's parts into the page, for
// --dump-dom to show.
const measureScript = `<script>
(function () {
  function box(sel) {
    var e = document.querySelector(sel);
    if (!e) return null;
    var b = e.getBoundingClientRect();
    return {top: b.top, bottom: b.bottom, left: b.left, right: b.right};
  }
  var out = {vw: window.innerWidth, vh: window.innerHeight, sw: document.documentElement.scrollWidth,
    banner: box(".banner"), timeline: box("#timeline figure"), chart: box("#load figure")};
  var pre = document.createElement("pre");
  pre.id = "layout";
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
})();
</script>`

// measuring is a report with measureScript at its end and without the
// policy that forbids scripts.
func measuring(t *testing.T, page []byte) []byte {
	t.Helper()
	csp := regexp.MustCompile(`<meta http-equiv="Content-Security-Policy"[^>]*>`)
	if !csp.Match(page) {
		t.Fatal("the report has no Content-Security-Policy")
	}
	s := csp.ReplaceAllString(string(page), "")
	i := strings.LastIndex(s, "</body>")
	if i < 0 {
		t.Fatal("the report has no </body>")
	}
	return []byte(s[:i] + measureScript + s[i:])
}

type box struct{ Top, Bottom, Left, Right float64 }

type layout struct {
	VW, VH, SW              float64
	Banner, Timeline, Chart *box
}

func readLayout(t *testing.T, dom, stderr string) layout {
	t.Helper()
	m := regexp.MustCompile(`<pre id="layout">([^<]*)</pre>`).FindStringSubmatch(dom)
	if m == nil {
		t.Fatalf("the measuring script left no layout in the page:\n%.2000s\n%s", dom, stderr)
	}
	var l layout
	if err := json.Unmarshal([]byte(stdhtml.UnescapeString(m[1])), &l); err != nil {
		t.Fatalf("layout %s: %v", m[1], err)
	}
	if l.VW <= 0 || l.VH <= 0 {
		t.Fatalf("layout %s: no window size", m[1])
	}
	return l
}

// longNames is a deviated run whose every name is long, without a space,
// in several scripts.
func longNames(t *testing.T) *journal.Journal {
	j := readJournal(t, "deviated")
	long := func(p string) string { return p + strings.Repeat("chaostest-名前-имя-\u200d😀", 20) }
	j.Title = long("title")
	j.Reason = long("reason")
	j.File = long("file") + ".yaml"
	j.Tags = []string{long("tag")}
	j.Checks[0].Name = long("check")
	for k := range j.Checks[0].Reasons {
		j.Checks[0].Reasons[k] = long("why")
	}
	for i := range j.Steps {
		j.Steps[i].Name = long("step")
	}
	for i := range j.Faults {
		j.Faults[i].Step = j.Steps[0].Name
		j.Faults[i].TargetName = long("target")
		j.Faults[i].Target.Name = long("hit")
	}
	for i := range j.Services {
		j.Services[i].Name = long("svc")
	}
	j.Warnings = []string{long("warning")}
	for i := range j.Windows {
		j.Windows[i].Stream = long("stream")
	}
	j.Streams[0].Name = long("stream")
	j.Checks[0].From = long("stream")
	return j
}
