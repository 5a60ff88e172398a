package notify_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/gamedayhq/chaos/internal/experiment"
	"github.com/gamedayhq/chaos/internal/journal"
	"github.com/gamedayhq/chaos/internal/notify"
)

// deviatedEvents is a run whose fault could not be removed.
func deviatedEvents() []journal.Event {
	evs := runEvents()
	for i := range evs {
		switch evs[i].Type {
		case journal.FaultReverted:
			evs[i].Type = journal.FaultRevertFailed
		case journal.RunVerdict:
			t := evs[i].Time
			evs[i] = journal.VerdictEvent(journal.RevertFailed, "a fault could not be removed")
			evs[i].Time = t
		}
	}
	return evs
}

// A run that did not pass is not drawn as one: its gauges say it did not
// pass, and a fault that could not be removed has no end and stays active.
func TestPushgatewayNotPassed(t *testing.T) {
	var mu sync.Mutex
	var last []*dto.MetricFamily
	var path string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		dec := expfmt.NewDecoder(r.Body, expfmt.ResponseFormat(r.Header))
		var fams []*dto.MetricFamily
		for {
			f := &dto.MetricFamily{}
			if err := dec.Decode(f); err != nil {
				if err != io.EOF {
					http.Error(w, err.Error(), 400)
					return
				}
				break
			}
			fams = append(fams, f)
		}
		mu.Lock()
		last, path = fams, r.Method+" "+r.URL.Path
		mu.Unlock()
	}))
	defer srv.Close()
	p := &experiment.Pushgateway{}
	p.SetDefaults()
	p.URL, p.Labels = srv.URL, map[string]string{"team": "sre"}
	s, err := notify.New(&experiment.Notify{Pushgateway: p}, notify.Run{Title: "t", File: "dir/shop.yaml"})
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range deviatedEvents() {
		s.Event(ev)
	}
	if err := s.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if path != "PUT /metrics/job/chaos/experiment/shop/team/sre" && path != "PUT /metrics/job/chaos/team/sre/experiment/shop" {
		t.Errorf("pushed %s; want PUT to the group job chaos, experiment shop, team sre", path)
	}
	got := map[string]float64{}
	for _, f := range last {
		for _, m := range f.Metric {
			key := f.GetName()
			for _, l := range m.Label {
				if l.GetName() == "verdict" {
					key += "{" + l.GetValue() + "}"
				}
			}
			got[key] = m.GetGauge().GetValue()
		}
	}
	want := map[string]float64{"chaos_run_passed": 0, "chaos_run_verdict{revert-failed}": 1, "chaos_fault_active": 1}
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("%s = %v (present %v); want %v", k, g, ok, v)
		}
	}
	if _, ok := got["chaos_fault_end_time_seconds"]; ok {
		t.Errorf("a fault that could not be removed has an end time")
	}
}

// The trace of a run that did not pass has an error status, as has the
// span of a fault that could not be removed; spans keep the events' times.
func TestOTelNotPassed(t *testing.T) {
	var mu sync.Mutex
	spans := map[string]*tracepb.Span{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var req coltracepb.ExportTraceServiceRequest
		if err := proto.Unmarshal(b, &req); err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		mu.Lock()
		for _, rs := range req.ResourceSpans {
			for _, ss := range rs.ScopeSpans {
				for _, s := range ss.Spans {
					spans[s.Name] = s
				}
			}
		}
		mu.Unlock()
		out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.Write(out)
	}))
	defer srv.Close()
	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", srv.URL+"/v1/traces")
	s, err := notify.New(&experiment.Notify{OTel: &experiment.OTel{}}, notify.Run{Title: "t", File: "e.yaml"})
	if err != nil {
		t.Fatal(err)
	}
	evs := deviatedEvents()
	for _, ev := range evs {
		s.Event(ev)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	root, fault := spans["chaos run t"], spans["fault latency on link"]
	if root == nil || fault == nil {
		t.Fatalf("spans %v; want the run's and the fault's", len(spans))
	}
	if root.GetStatus().GetCode() != tracepb.Status_STATUS_CODE_ERROR || fault.GetStatus().GetCode() != tracepb.Status_STATUS_CODE_ERROR {
		t.Errorf("run status %v, fault status %v; want errors", root.GetStatus(), fault.GetStatus())
	}
	if got := time.Unix(0, int64(root.EndTimeUnixNano)); !got.Equal(evs[len(evs)-1].Time) {
		t.Errorf("the run's span ends %s; want the verdict's %s", got, evs[len(evs)-1].Time)
	}
}

// A fault that failed half way and could not be undone has no
// fault.injected, only its fault.revert_failed: the summary still lists it
// as not reverted, and the gauges show it active.
func TestFaultNotUndoneWithoutInjected(t *testing.T) {
	var evs []journal.Event
	for _, ev := range deviatedEvents() {
		if ev.Type != journal.FaultInjected {
			evs = append(evs, ev)
		}
	}
	var mu sync.Mutex
	var summary notify.Summary
	active := -1.0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if r.Method == http.MethodPost {
			if err := json.NewDecoder(r.Body).Decode(&summary); err != nil {
				http.Error(w, err.Error(), 400)
			}
			return
		}
		dec := expfmt.NewDecoder(r.Body, expfmt.ResponseFormat(r.Header))
		active = 0
		for {
			f := &dto.MetricFamily{}
			if err := dec.Decode(f); err != nil {
				break
			}
			if f.GetName() == "chaos_fault_active" {
				for _, m := range f.Metric {
					active += m.GetGauge().GetValue()
				}
			}
		}
	}))
	defer srv.Close()
	w := &experiment.Webhook{}
	w.SetDefaults()
	w.URL = srv.URL
	p := &experiment.Pushgateway{}
	p.SetDefaults()
	p.URL = srv.URL
	for _, n := range []*experiment.Notify{{Webhook: w}, {Pushgateway: p}} {
		s, err := notify.New(n, notify.Run{Title: "t", File: "e.yaml"})
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range evs {
			s.Event(ev)
		}
		if err := s.Flush(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(summary.Faults) != 1 || !summary.Faults[0].RevertFailed || summary.Faults[0].ID != "link" {
		t.Errorf("summary faults %+v; want the one not reverted", summary.Faults)
	}
	if active != 1 {
		t.Errorf("chaos_fault_active sums to %v; want 1", active)
	}
}

// A fault with nothing to revert (a kill) is over once applied: no
// fault.reverted follows it, and it is not reported as left in place. The
// summary marks it irreversible, slack says it had nothing to revert
// (never "not reverted"), and its gauge is not active after the run.
func TestIrreversibleFaultNotLeftInPlace(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	verdict := journal.VerdictEvent(journal.Passed, "held")
	verdict.Time = at(600)
	evs := []journal.Event{
		{Time: at(0), Type: journal.RunStarted, RunID: "r1", Message: "started"},
		{Time: at(3), Type: journal.FaultInjected, Step: "k", Fault: "kill", Target: "svc", TargetID: "4242", Irreversible: true, Message: "kill on process 4242"},
		verdict,
	}
	var mu sync.Mutex
	var summary notify.Summary
	var slack []string
	active := -1.0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		switch {
		case r.URL.Path == "/slack":
			var b notify.SlackBody
			json.NewDecoder(r.Body).Decode(&b)
			slack = append(slack, b.Text)
		case r.Method == http.MethodPost:
			if err := json.NewDecoder(r.Body).Decode(&summary); err != nil {
				http.Error(w, err.Error(), 400)
			}
		default:
			dec := expfmt.NewDecoder(r.Body, expfmt.ResponseFormat(r.Header))
			active = 0
			for {
				f := &dto.MetricFamily{}
				if err := dec.Decode(f); err != nil {
					break
				}
				if f.GetName() == "chaos_fault_active" {
					for _, m := range f.Metric {
						active += m.GetGauge().GetValue()
					}
				}
			}
		}
	}))
	defer srv.Close()
	w := &experiment.Webhook{}
	w.SetDefaults()
	w.URL = srv.URL
	p := &experiment.Pushgateway{}
	p.SetDefaults()
	p.URL = srv.URL
	for _, n := range []*experiment.Notify{{Webhook: w}, webhook(srv.URL+"/slack", experiment.BodySlack, 5*time.Second), {Pushgateway: p}} {
		s, err := notify.New(n, notify.Run{Title: "t", File: "e.yaml"})
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range evs {
			s.Event(ev)
		}
		if err := s.Flush(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(summary.Faults) != 1 || !summary.Faults[0].Irreversible || summary.Faults[0].RevertFailed {
		t.Errorf("summary faults %+v; want the kill, irreversible", summary.Faults)
	}
	if len(slack) == 0 || strings.Contains(slack[len(slack)-1], "not reverted") || !strings.Contains(slack[len(slack)-1], "kill on svc (k): nothing to revert") {
		t.Errorf("slack's last message %q; want the kill with nothing to revert, not a fault not reverted", slack)
	}
	if active != 0 {
		t.Errorf("chaos_fault_active sums to %v after the run; want 0", active)
	}
}

// The trace draws a fault with nothing to revert as over once applied,
// not as a span in effect until the run's end.
func TestOTelIrreversibleFault(t *testing.T) {
	var mu sync.Mutex
	spans := map[string]*tracepb.Span{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var req coltracepb.ExportTraceServiceRequest
		if err := proto.Unmarshal(b, &req); err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		mu.Lock()
		for _, rs := range req.ResourceSpans {
			for _, ss := range rs.ScopeSpans {
				for _, s := range ss.Spans {
					spans[s.Name] = s
				}
			}
		}
		mu.Unlock()
		out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.Write(out)
	}))
	defer srv.Close()
	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", srv.URL+"/v1/traces")
	s, err := notify.New(&experiment.Notify{OTel: &experiment.OTel{}}, notify.Run{Title: "t", File: "e.yaml"})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	verdict := journal.VerdictEvent(journal.Passed, "held")
	verdict.Time = t0.Add(5 * time.Second)
	for _, ev := range []journal.Event{
		{Time: t0, Type: journal.RunStarted, RunID: "r1", Message: "started"},
		{Time: t0.Add(time.Second), Type: journal.FaultInjected, Step: "k", Fault: "kill", Target: "svc", TargetID: "4242", Irreversible: true},
		verdict,
	} {
		s.Event(ev)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	f := spans["fault kill on svc"]
	if f == nil {
		t.Fatalf("no span of the kill among %d", len(spans))
	}
	if f.EndTimeUnixNano != f.StartTimeUnixNano {
		t.Errorf("the kill's span lasts %s; want it to end where it starts", time.Duration(f.EndTimeUnixNano-f.StartTimeUnixNano))
	}
}
