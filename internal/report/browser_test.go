package report_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
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
	index, err := report.IndexHTML(
		[]*journal.Journal{readJournal(t, "latency"), readJournal(t, "deviated"), readJournal(t, "aborted"), readJournal(t, "error")},
		[]string{"latency", "deviated", "aborted", "error"})
	if err != nil {
		t.Fatal(err)
	}
	pages := map[string][]byte{
		"/report.html": deviated,
		"/hour.html":   hour,
		"/index.html":  index,
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
	open := func(t *testing.T, page, size string) (console []string, fetched []string) {
		mu.Lock()
		requests = nil
		mu.Unlock()
		shot := filepath.Join(shots, strings.TrimSuffix(strings.TrimPrefix(page, "/"), ".html")+"-"+size+".png")
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, chromium,
			"--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
			"--disable-component-update", "--disable-sync", "--no-first-run", "--disable-extensions",
			"--user-data-dir="+t.TempDir(),
			"--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
			"--enable-logging=stderr", "--v=0",
			"--window-size="+size, "--hide-scrollbars",
			"--screenshot="+shot,
			srv.URL+page)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		cmd.WaitDelay = 5 * time.Second
		if err := cmd.Run(); err != nil {
			t.Fatalf("chromium %s: %v\n%s", page, err, stderr.String())
		}
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
	t.Run("harness catches a fetching page", func(t *testing.T) {
		console, fetched := open(t, "/fetching.html", "800,600")
		if len(fetched) == 0 && len(console) == 0 {
			t.Error("a page that loads an image showed neither a request nor a console message")
		}
	})
}
