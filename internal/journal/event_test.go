package journal_test

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/gamedayhq/chaos/internal/journal"
	"github.com/gamedayhq/chaos/internal/load"
)

// oldEvent is an event as journals were written before events had typed
// fields: the journal's bytes must not change.
type oldEvent struct {
	Time    time.Time         `json:"time"`
	Type    string            `json:"type"`
	Phase   string            `json:"phase,omitempty"`
	Step    string            `json:"step,omitempty"`
	Check   string            `json:"check,omitempty"`
	Message string            `json:"message"`
	Fields  map[string]string `json:"fields,omitempty"`
}

func testJournals(t *testing.T) []string {
	t.Helper()
	paths, _ := filepath.Glob("../report/testdata/*.journal.json")
	paths = append(paths, "testdata/v1.journal.json")
	if len(paths) < 2 {
		t.Fatal("no journals in ../report/testdata")
	}
	return paths
}

// Journals read and written back say the same, and their events are
// written byte for byte as before: the typed fields go back to the fields
// they were read from.
func TestJournalRoundTrip(t *testing.T) {
	for _, p := range testJournals(t) {
		j, err := journal.Read(p)
		if err != nil {
			t.Fatal(err)
		}
		got, err := json.Marshal(j)
		if err != nil {
			t.Fatal(err)
		}
		var a, b map[string]any
		if err := json.Unmarshal(got, &a); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(readFile(t, p), &b); err != nil {
			t.Fatal(err)
		}
		// Version 1 journals are upgraded on load: their fault parameters
		// and version change (see TestReadVersion1).
		for _, m := range []map[string]any{a, b} {
			delete(m, "schema_version")
			for _, f := range m["faults"].([]any) {
				delete(f.(map[string]any), "params")
			}
		}
		if !reflect.DeepEqual(a, b) {
			t.Errorf("%s: written back differs from what was read", p)
		}
		var old struct {
			Events []oldEvent `json:"events"`
		}
		if err := json.Unmarshal(readFile(t, p), &old); err != nil {
			t.Fatal(err)
		}
		if len(old.Events) != len(j.Events) {
			t.Fatalf("%s: %d events; want %d", p, len(j.Events), len(old.Events))
		}
		for i, ev := range j.Events {
			got, _ := json.Marshal(ev)
			want, _ := json.Marshal(old.Events[i])
			if !bytes.Equal(got, want) {
				t.Errorf("%s: event %d written as\n%s\nwant\n%s", p, i, got, want)
			}
		}
	}
}

// The typed fields are read from the journal's fields and messages.
func TestEventTypedFields(t *testing.T) {
	read := func(s string) journal.Event {
		t.Helper()
		var ev journal.Event
		if err := json.Unmarshal([]byte(s), &ev); err != nil {
			t.Fatal(err)
		}
		return ev
	}
	for _, tc := range []struct {
		json string
		want journal.Event
	}{
		{`{"type":"run.started","message":"x","fields":{"run":"r1","seed":"42"}}`,
			journal.Event{Type: journal.RunStarted, Message: "x", RunID: "r1", Seed: 42}},
		{`{"type":"run.verdict","message":"deviated: check \"a\" broke","fields":{"verdict":"deviated"}}`,
			journal.Event{Type: journal.RunVerdict, Message: `deviated: check "a" broke`, Verdict: "deviated", Reason: `check "a" broke`}},
		{`{"type":"operator","message":"hold before the next step"}`,
			journal.Event{Type: journal.Operator, Message: "hold before the next step", Command: journal.Hold}},
		{`{"type":"step.started","step":"slow","message":"slow","fields":{"kind":"fault","planned":"1m30s"}}`,
			journal.Event{Type: journal.StepStarted, Step: "slow", Message: "slow", Kind: "fault", Planned: 90 * time.Second}},
		{`{"type":"target.resolved","message":"m","fields":{"matched":"3","picked":"1","target":"db"}}`,
			journal.Event{Type: journal.TargetResolved, Message: "m", Target: "db", Matched: 3, Picked: 1}},
		{`{"type":"check.sample","check":"up","message":"up: status 500, want 200","fields":{"state":"failed"}}`,
			journal.Event{Type: journal.CheckSample, Check: "up", Message: "up: status 500, want 200", Value: "status 500, want 200"}},
		{`{"type":"check.recovered","check":"up","message":"m","fields":{"after":"1.5s","fault":"slow"}}`,
			journal.Event{Type: journal.CheckRecovered, Check: "up", Message: "m", After: 1500 * time.Millisecond, Since: "slow"}},
		{`{"type":"load.window","message":"m","fields":{"p50":"2ms","p99":"12ms","requests":"50","rps":"49.5","stream":"s","success":"0.9980"}}`,
			journal.Event{Type: journal.LoadWindow, Message: "m", Stream: "s", Requests: 50, RPS: 49.5, Success: 0.998, P50: 2 * time.Millisecond, P99: 12 * time.Millisecond}},
		{`{"type":"load.window","message":"m","fields":{"p50":"0s","p99":"0s","requests":"0","rps":"0.0","stream":"s","success":"0.0000","waited":"4.2s","waiting":"50"}}`,
			journal.Event{Type: journal.LoadWindow, Message: "m", Stream: "s", Waiting: 50, Waited: 4200 * time.Millisecond}},
	} {
		got := read(tc.json)
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("read %s\n= %+v\nwant %+v", tc.json, got, tc.want)
		}
		// Written back, it is what it was.
		b, _ := json.Marshal(tc.want)
		var x, y any
		json.Unmarshal(b, &x)
		json.Unmarshal([]byte(tc.json), &y)
		x.(map[string]any)["time"] = nil
		y.(map[string]any)["time"] = nil
		if !reflect.DeepEqual(x, y) {
			t.Errorf("%+v written as %s; want %s", tc.want, b, tc.json)
		}
	}
}

// Fields this version would write differently are kept as read.
func TestEventOddFieldsKept(t *testing.T) {
	for _, s := range []string{
		`{"time":"0001-01-01T00:00:00Z","type":"target.resolved","message":"m","fields":{"matched":"03","target":"db"}}`,
		`{"time":"0001-01-01T00:00:00Z","type":"fault.revert_failed","message":"m"}`,
		`{"time":"0001-01-01T00:00:00Z","type":"some.future","message":"m","fields":{"x":"1"}}`,
	} {
		var ev journal.Event
		if err := json.Unmarshal([]byte(s), &ev); err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(ev)
		if string(b) != s {
			t.Errorf("read %s\nwritten back as %s", s, b)
		}
	}
}

// A load window's requests still waiting when it closed are in its event,
// fields and message: a window in which nothing completed but requests
// hang is a stall, not a quiet spell. When none waits, the message is as
// it was.
func TestWindowEventWaiting(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	win := func(requests, successes, inflight int64, p99, waited time.Duration) journal.Window {
		return journal.Window{Stream: "web", Start: t0, End: t0.Add(time.Second), Requests: requests, Successes: successes,
			Latency: load.Latency{P99: p99}, Inflight: inflight, Waiting: load.Latency{Max: waited}}
	}
	for _, tc := range []struct {
		w       journal.Window
		message string
		fields  string
	}{
		{win(0, 0, 50, 0, 4200*time.Millisecond), "web: no request completed, 50 waiting up to 4.2s",
			`{"p50":"0s","p99":"0s","requests":"0","rps":"0.0","stream":"web","success":"0.0000","waited":"4.2s","waiting":"50"}`},
		{win(20, 19, 4, 30*time.Millisecond, 2100*time.Millisecond), "web: 20 requests, 95.0% ok, p99 30ms, 4 waiting up to 2.1s",
			`{"p50":"0s","p99":"30ms","requests":"20","rps":"20.0","stream":"web","success":"0.9500","waited":"2.1s","waiting":"4"}`},
		{win(20, 20, 0, 30*time.Millisecond, 0), "web: 20 requests, 100.0% ok, p99 30ms",
			`{"p50":"0s","p99":"30ms","requests":"20","rps":"20.0","stream":"web","success":"1.0000"}`},
		{win(0, 0, 0, 0, 0), "web: no request completed",
			`{"p50":"0s","p99":"0s","requests":"0","rps":"0.0","stream":"web","success":"0.0000"}`},
		// One failure in 30000 is not a window where every request
		// succeeded, nor one success in 30000 a window where none did.
		{win(30000, 29999, 0, 30*time.Millisecond, 0), "web: 30000 requests, 99.997% ok, p99 30ms",
			`{"p50":"0s","p99":"30ms","requests":"30000","rps":"30000.0","stream":"web","success":"0.9999"}`},
		{win(30000, 1, 0, 30*time.Millisecond, 0), "web: 30000 requests, 0.003% ok, p99 30ms",
			`{"p50":"0s","p99":"30ms","requests":"30000","rps":"30000.0","stream":"web","success":"0.0001"}`},
	} {
		ev := journal.WindowEvent(tc.w)
		if ev.Message != tc.message {
			t.Errorf("WindowEvent(%d requests, %d waiting).Message = %q; want %q", tc.w.Requests, tc.w.Inflight, ev.Message, tc.message)
		}
		if ev.Waiting != tc.w.Inflight || ev.Waited != tc.w.Waiting.Max {
			t.Errorf("WindowEvent(%d waiting up to %s): Waiting %d, Waited %s", tc.w.Inflight, tc.w.Waiting.Max, ev.Waiting, ev.Waited)
		}
		b, _ := json.Marshal(ev)
		var got struct{ Fields json.RawMessage }
		json.Unmarshal(b, &got)
		if string(got.Fields) != tc.fields {
			t.Errorf("WindowEvent(%q) fields = %s; want %s", tc.message, got.Fields, tc.fields)
		}
		var back journal.Event
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatal(err)
		}
		if back.Waiting != ev.Waiting || back.Waited != ev.Waited {
			t.Errorf("%s read back as waiting %d, waited %s", b, back.Waiting, back.Waited)
		}
	}
}
