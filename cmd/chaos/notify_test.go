package main

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/gamedayhq/chaos/internal/journal"
	"github.com/gamedayhq/chaos/internal/notify"
)

// hookToken stands for the token a chat webhook carries in its URL: no
// output may show it.
const hookToken = "s3cr3t-hook-token"

// notifyRun is one run of testdata/components/notify.yaml with extra
// arguments: a proxy with a latency fault for 1 s between two checks of a
// TCP listener the test serves.
type notifyRun struct {
	componentRun
	dir     string
	events  string
	elapsed time.Duration
}

func runNotify(t *testing.T, hook string, args ...string) notifyRun {
	t.Helper()
	up, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { up.Close() })
	// The upstream keeps each connection until its client closes it: one
	// closed at once with nothing sent is a backend that is down.
	go func() {
		for {
			c, err := up.Accept()
			if err != nil {
				return
			}
			go func() { _, _ = io.Copy(io.Discard, c); c.Close() }()
		}
	}()
	proxy, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	out := filepath.Join(dir, "report")
	events := filepath.Join(dir, "events.jsonl")
	all := []string{"run", "--report-dir", out, "--ledger", filepath.Join(dir, "ledger"), "--events", events,
		"--var", "upstream=" + strconv.Itoa(up.Addr().(*net.TCPAddr).Port), "--var", "proxy=" + strconv.Itoa(proxy),
		"--var", "hook=" + hook}
	all = append(all, args...)
	sio, _, errb := testStdio()
	sio.lookupEnv = func(k string) (string, bool) {
		if k == "CHAOS_TEST_HOOK_TOKEN" {
			return hookToken, true
		}
		return os.LookupEnv(k)
	}
	start := time.Now()
	code := run(append(all, filepath.Join("testdata", "components", "notify.yaml")), sio)
	r := notifyRun{componentRun: componentRun{code: code, stderr: errb.String()}, dir: dir, events: events, elapsed: time.Since(start)}
	b, err := os.ReadFile(filepath.Join(out, "journal.json"))
	if err != nil {
		t.Fatalf("no journal (exit code %d): %v\n%s", code, err, r.stderr)
	}
	r.journal = &journal.Journal{}
	if err := json.Unmarshal(b, r.journal); err != nil {
		t.Fatal(err)
	}
	return r
}

// noSecret fails the test if the token shows in stderr or in any file the
// run wrote.
func (r notifyRun) noSecret(t *testing.T, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if strings.Contains(r.stderr, s) {
			t.Errorf("stderr shows the secret %q:\n%s", s, r.stderr)
		}
		filepath.WalkDir(r.dir, func(p string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return nil
			}
			if b, _ := os.ReadFile(p); bytes.Contains(b, []byte(s)) {
				t.Errorf("%s shows the secret %q", p, s)
			}
			return nil
		})
	}
}

// receiver is an HTTP server that keeps the bodies it was sent, by path.
type receiver struct {
	*httptest.Server
	mu     sync.Mutex
	bodies map[string][][]byte
}

func newReceiver(t *testing.T, answer func(w http.ResponseWriter, r *http.Request)) *receiver {
	rc := &receiver{bodies: map[string][][]byte{}}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/summary/") && r.Header.Get("X-Api-Key") != "literal-header-secret" {
			http.Error(w, "no key", http.StatusUnauthorized)
			return
		}
		var body io.Reader = r.Body
		if r.Header.Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(r.Body)
			if err != nil {
				http.Error(w, err.Error(), 400)
				return
			}
			body = zr
		}
		b, _ := io.ReadAll(body)
		rc.mu.Lock()
		rc.bodies[r.URL.Path] = append(rc.bodies[r.URL.Path], b)
		rc.mu.Unlock()
		if answer != nil {
			answer(w, r)
		}
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *receiver) got(path string) [][]byte {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.bodies[path]
}

// TestNotify runs an experiment whose file posts a summary to a webhook
// with a token in its path, and whose command line adds a Slack-compatible
// webhook, OpenTelemetry and the event stream: each receives what the
// journal says, and the token shows nowhere.
func TestNotify(t *testing.T) {
	hook := newReceiver(t, nil)
	otlp := newReceiver(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.Write(b)
	})
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", otlp.URL)
	t.Setenv("OTEL_SERVICE_NAME", "")
	t.Setenv("OTEL_RESOURCE_ATTRIBUTES", "team=sre")
	r := runNotify(t, hook.URL, "--notify", "slack="+hook.URL+"/slack/"+hookToken, "--notify", "otel")
	if r.code != exitPassed {
		t.Fatalf("exit code %d; want %d\n%s", r.code, exitPassed, r.stderr)
	}
	if len(r.journal.Warnings) > 0 {
		t.Errorf("warnings: %q; want none", r.journal.Warnings)
	}
	if len(r.journal.Faults) != 1 {
		t.Fatalf("%d faults in the journal; want 1", len(r.journal.Faults))
	}
	jf := r.journal.Faults[0]
	// The notifiers see the fault's events, whose times are the journal's
	// fault times to a few microseconds.
	injected, reverted := eventTime(t, r.journal, journal.FaultInjected), eventTime(t, r.journal, journal.FaultReverted)
	r.noSecret(t, hookToken, "literal-header-secret")

	// The summary webhook: one post at the end, as the journal says.
	posts := hook.got("/summary/" + hookToken)
	if len(posts) != 1 {
		t.Fatalf("%d posts to the summary webhook; want 1", len(posts))
	}
	var sum notify.Summary
	if err := json.Unmarshal(posts[0], &sum); err != nil {
		t.Fatalf("summary %s: %v", posts[0], err)
	}
	if sum.Verdict != journal.Passed || sum.RunID != r.journal.RunID || len(sum.Faults) != 1 {
		t.Errorf("summary %s; want verdict passed, run %s and one fault", posts[0], r.journal.RunID)
	} else if f := sum.Faults[0]; f.Fault != "latency" || f.Target != "link" || f.Step != "slow link" ||
		!f.Injected.Equal(injected) || !f.Reverted.Equal(reverted) || f.ID != jf.Target.ID {
		t.Errorf("summary fault %+v; want the journal's, injected %s, reverted %s", f, injected, reverted)
	}

	// The Slack webhook: text when the run starts and when it ends.
	var texts []string
	for _, b := range hook.got("/slack/" + hookToken) {
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("slack body %s: %v", b, err)
		}
		text, _ := m["text"].(string)
		if len(m) != 1 || text == "" {
			t.Errorf("slack body %s; want one text", b)
		}
		texts = append(texts, text)
	}
	if len(texts) != 2 || !strings.Contains(texts[0], "started") || !strings.Contains(texts[1], "PASSED") || !strings.Contains(texts[1], "latency on link") {
		t.Errorf("slack texts %q; want one that the run started, one that it passed with its fault", texts)
	}

	// The event stream: every event of the journal, in order, as it has it.
	b, err := os.ReadFile(r.events)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	if len(lines) != len(r.journal.Events) {
		t.Errorf("%d event lines; want the journal's %d", len(lines), len(r.journal.Events))
	}
	for i, l := range lines[:min(len(lines), len(r.journal.Events))] {
		var ev journal.Event
		if err := json.Unmarshal([]byte(l), &ev); err != nil {
			t.Fatalf("line %d %q: %v", i+1, l, err)
		}
		if je := r.journal.Events[i]; ev.Type != je.Type || ev.Message != je.Message || !ev.Time.Equal(je.Time) {
			t.Errorf("line %d: %s %q; the journal has %s %q", i+1, ev.Type, ev.Message, je.Type, je.Message)
		}
	}

	// The trace: one per run, the fault's span under its step's, under the
	// method's, under the run's, with the fault's times.
	spans := map[string]*tracepb.Span{}
	var service, team string
	for _, body := range otlp.got("/v1/traces") {
		var req coltracepb.ExportTraceServiceRequest
		if err := proto.Unmarshal(body, &req); err != nil {
			t.Fatalf("OTLP request: %v", err)
		}
		for _, rs := range req.ResourceSpans {
			for _, a := range rs.GetResource().GetAttributes() {
				switch a.Key {
				case "service.name":
					service = a.Value.GetStringValue()
				case "team":
					team = a.Value.GetStringValue()
				}
			}
			for _, ss := range rs.ScopeSpans {
				for _, s := range ss.Spans {
					spans[s.Name] = s
				}
			}
		}
	}
	if service != "chaos" || team != "sre" {
		t.Errorf("resource service.name %q, team %q; want chaos, and sre from OTEL_RESOURCE_ATTRIBUTES", service, team)
	}
	root := spans["chaos run "+r.journal.Title]
	method, step, fault := spans["phase method"], spans["step slow link"], spans["fault latency on link"]
	if root == nil || method == nil || step == nil || fault == nil || spans["phase before"] == nil || spans["phase after"] == nil {
		t.Fatalf("spans %v; want the run's, its phases', the step's and the fault's", keys(spans))
	}
	for name, s := range spans {
		if !bytes.Equal(s.TraceId, root.TraceId) {
			t.Errorf("span %q is in another trace", name)
		}
	}
	if len(root.ParentSpanId) != 0 || !bytes.Equal(method.ParentSpanId, root.SpanId) ||
		!bytes.Equal(step.ParentSpanId, method.SpanId) || !bytes.Equal(fault.ParentSpanId, step.SpanId) {
		t.Errorf("the fault's span is not under the step's, the method's and the run's")
	}
	if got, want := time.Unix(0, int64(fault.StartTimeUnixNano)), injected; !got.Equal(want) {
		t.Errorf("fault span starts %s; the fault was injected %s", got, want)
	}
	if got, want := time.Unix(0, int64(fault.EndTimeUnixNano)), reverted; !got.Equal(want) {
		t.Errorf("fault span ends %s; the fault was reverted %s", got, want)
	}
	verdict := ""
	for _, a := range root.Attributes {
		if a.Key == "chaos.verdict" {
			verdict = a.Value.GetStringValue()
		}
	}
	if verdict != journal.Passed || root.GetStatus().GetCode() == tracepb.Status_STATUS_CODE_ERROR {
		t.Errorf("root span verdict %q, status %v; want passed, not an error", verdict, root.GetStatus())
	}
}

// eventTime is the time of the journal's one event of type typ.
func eventTime(t *testing.T, j *journal.Journal, typ journal.Type) time.Time {
	t.Helper()
	for _, ev := range j.Events {
		if ev.Type == typ {
			return ev.Time
		}
	}
	t.Fatalf("no %s event in the journal", typ)
	return time.Time{}
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestNotifyFailing points every kind of notifier at a dead port, and a
// webhook at a listener that never answers: the run passes all the same,
// each failure is a warning that shows no token, and the run waits for the
// silent one only as long as its timeout.
func TestNotifyFailing(t *testing.T) {
	dead, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	deadURL := "http://127.0.0.1:" + strconv.Itoa(dead)
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	var conns []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c) // read nothing, answer nothing
			mu.Unlock()
		}
	}()
	defer func() {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	}()
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", deadURL)
	r := runNotify(t, deadURL,
		"--notify", "webhook="+deadURL+"/hook?token="+hookToken,
		"--notify", "pushgateway=http://user:"+hookToken+"@127.0.0.1:"+strconv.Itoa(dead),
		"--notify", "otel",
		"--notify", "slack=http://"+silent.Addr().String()+"/services/"+hookToken)
	if r.code != exitPassed || r.journal.Verdict != journal.Passed {
		t.Fatalf("exit code %d, verdict %s; want passed (0): failing notifiers must not change it\n%s", r.code, r.journal.Verdict, r.stderr)
	}
	r.noSecret(t, hookToken)
	want := []string{"webhook " + deadURL + "/***:", "pushgateway http://127.0.0.1:" + strconv.Itoa(dead) + ":", "otel:", "webhook http://" + silent.Addr().String() + "/*** (slack):"}
	for _, w := range want {
		found := false
		for _, got := range r.journal.Warnings {
			found = found || strings.HasPrefix(got, "notify: "+w)
		}
		if !found {
			t.Errorf("no warning starts %q; warnings: %q", "notify: "+w, r.journal.Warnings)
		}
		if !strings.Contains(r.stderr, "notify: "+w) {
			t.Errorf("stderr does not say %q:\n%s", "notify: "+w, r.stderr)
		}
	}
	// The silent webhook holds the end of the run up to its 5 s timeout,
	// no longer; the margin is for a loaded machine.
	if extra := r.elapsed - r.journal.Duration(); extra > 30*time.Second {
		t.Errorf("the run took %s after its verdict; want the notifiers' timeouts at most", extra)
	}
}

// TestNotifyPushgateway pushes a run's gauges to Debian's Pushgateway,
// started on a loopback port, and reads them back from its /metrics: the
// verdict and the fault's window as the journal has them, under the job
// and grouping labels.
func TestNotifyPushgateway(t *testing.T) {
	requireComponents(t, "prometheus-pushgateway")
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	cmd := exec.Command("prometheus-pushgateway", "--web.listen-address="+addr, "--persistence.file=")
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
	}()
	gw := "http://" + addr
	waitReady(t, gw+"/-/ready", &logs)

	r := runNotify(t, "http://127.0.0.1:1", "--notify", "pushgateway="+gw)
	if r.code != exitPassed {
		t.Fatalf("exit code %d; want %d\n%s", r.code, exitPassed, r.stderr)
	}
	for _, w := range r.journal.Warnings {
		if strings.Contains(w, "pushgateway") {
			t.Errorf("warning %q", w)
		}
	}
	resp, err := http.Get(gw + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	group := map[string]string{"job": "chaos", "experiment": "notify"}
	value := func(name string, labels map[string]string) (float64, bool) {
		f := families[name]
		if f == nil {
			return 0, false
		}
	metrics:
		for _, m := range f.Metric {
			have := map[string]string{}
			for _, l := range m.Label {
				have[l.GetName()] = l.GetValue()
			}
			for k, v := range labels {
				if have[k] != v {
					continue metrics
				}
			}
			return gaugeValue(m), true
		}
		return 0, false
	}
	with := func(extra map[string]string) map[string]string {
		m := map[string]string{}
		for k, v := range group {
			m[k] = v
		}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	jf := r.journal.Faults[0]
	fault := with(map[string]string{"step": "slow link", "fault": "latency", "target": "link", "id": jf.Target.ID})
	checks := []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"chaos_run_verdict", with(map[string]string{"verdict": "passed"}), 1},
		{"chaos_run_passed", group, 1},
		{"chaos_run_info", with(map[string]string{"run_id": r.journal.RunID}), 1},
		{"chaos_run_start_time_seconds", group, unixSeconds(r.journal.Started)},
		{"chaos_run_end_time_seconds", group, unixSeconds(r.journal.Ended)},
		{"chaos_fault_start_time_seconds", fault, unixSeconds(jf.Injected)},
		{"chaos_fault_end_time_seconds", fault, unixSeconds(jf.Reverted)},
		{"chaos_fault_active", fault, 0},
	}
	for _, c := range checks {
		got, ok := value(c.name, c.labels)
		if !ok {
			t.Errorf("no %s%v in the Pushgateway's metrics", c.name, c.labels)
			continue
		}
		// Float seconds keep the times to a microsecond or so.
		if d := got - c.want; d > 1e-3 || d < -1e-3 {
			t.Errorf("%s%v = %f; want %f", c.name, c.labels, got, c.want)
		}
	}
	if _, ok := value("chaos_run_verdict", with(map[string]string{"verdict": "running"})); ok {
		t.Errorf("chaos_run_verdict still says running")
	}

	// A dashboard draws the fault's window from what Prometheus scrapes
	// from the Pushgateway.
	t.Run("scraped by Prometheus", func(t *testing.T) {
		requireComponents(t, "prometheus")
		prom := startPrometheus(t, addr)
		query := `chaos_fault_end_time_seconds{experiment="notify",fault="latency"} - chaos_fault_start_time_seconds{experiment="notify",fault="latency"}`
		want := reverted(r).Sub(injected(r)).Seconds()
		deadline := time.Now().Add(60 * time.Second)
		for {
			v, err := promValue(prom, query)
			if err == nil {
				if d := v - want; d > 1e-3 || d < -1e-3 {
					t.Errorf("%s = %f; want the fault's %f s", query, v, want)
				}
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("Prometheus has no fault window after 60 s: %v", err)
			}
			time.Sleep(500 * time.Millisecond)
		}
	})
}

func injected(r notifyRun) time.Time { return r.journal.Faults[0].Injected }
func reverted(r notifyRun) time.Time { return r.journal.Faults[0].Reverted }

func gaugeValue(m *dto.Metric) float64 {
	if g := m.GetGauge(); g != nil {
		return g.GetValue()
	}
	return m.GetUntyped().GetValue()
}

func unixSeconds(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }

// waitReady polls url until it answers 200, for up to 30 s.
func waitReady(t *testing.T, url string, logs fmt.Stringer) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not answer 200 within 30 s: %v\n%s", url, err, logs)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Two files of one call with the same name push to two pushgateway
// groups, named as their report directories are: the second's verdict
// must not replace the first's.
func TestPushgatewayGroupsOfSameNamedFiles(t *testing.T) {
	var mu sync.Mutex
	groups := map[string]bool{}
	gw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		groups[r.URL.Path] = true
		mu.Unlock()
	}))
	defer gw.Close()
	dir := t.TempDir()
	var files []string
	for _, sub := range []string{"a", "b"} {
		f := filepath.Join(dir, sub, "x.yaml")
		if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f, []byte("version: v1\ntitle: X "+sub+"\nmethod: [{wait: 1ms}]\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	sio, _, errb := testStdio()
	args := append([]string{"run", "--report-dir", filepath.Join(dir, "out"), "--ledger", filepath.Join(dir, "ledger"),
		"--notify", "pushgateway=" + gw.URL}, files...)
	if code := run(args, sio); code != 0 {
		t.Fatalf("exit code %d:\n%s", code, errb)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, want := range []string{"/metrics/job/chaos/experiment/1-x", "/metrics/job/chaos/experiment/2-x"} {
		if !groups[want] {
			t.Errorf("no push to %s; pushed to %v", want, groups)
		}
	}
}
