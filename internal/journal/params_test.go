package journal_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/gamedayhq/chaos/internal/journal"
)

type text string

func (t text) MarshalText() ([]byte, error) { return []byte("<" + string(t) + ">"), nil }

type inner struct {
	Connect time.Duration `json:"connect,omitempty"`
	Note    string        `json:"note,omitempty"`
}

type settings struct {
	Delay  time.Duration            `json:"delay"`
	Jitter time.Duration            `json:"jitter,omitempty"`
	Count  int                      `json:"count"`
	Signal text                     `json:"signal"`
	Skip   string                   `json:"-"`
	Every  []time.Duration          `json:"every,omitempty"`
	ByName map[string]time.Duration `json:"by_name,omitempty"`
	Nested *inner                   `json:"nested,omitempty"`
	Plain  float64
	inner
}

// Fault parameters are written as encoding/json writes them, but with
// durations as people write them.
func TestParams(t *testing.T) {
	for _, tc := range []struct {
		v    any
		want string
	}{
		{&settings{Delay: 300 * time.Millisecond, Count: 2, Signal: "TERM", Plain: 1.5},
			`{"delay":"300ms","count":2,"signal":"\u003cTERM\u003e","Plain":1.5}`},
		{&settings{Delay: time.Second, Jitter: 20 * time.Millisecond, Every: []time.Duration{time.Minute, time.Hour}, ByName: map[string]time.Duration{"b": 2 * time.Second, "a": time.Second},
			Nested: &inner{Connect: time.Millisecond}, inner: inner{Connect: 5 * time.Second, Note: "x"}},
			`{"delay":"1s","jitter":"20ms","count":0,"signal":"\u003c\u003e","every":["1m","1h"],"by_name":{"a":"1s","b":"2s"},"nested":{"connect":"1ms"},"Plain":0,"connect":"5s","note":"x"}`},
		{struct {
			P any `json:"params"`
		}{&inner{Connect: 90 * time.Second}}, `{"params":{"connect":"1m30s"}}`},
		{nil, `null`},
	} {
		got, err := journal.Params(tc.v)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != tc.want {
			t.Errorf("Params(%+v) = %s; want %s", tc.v, got, tc.want)
		}
		if !json.Valid(got) {
			t.Errorf("Params(%+v) = %s: not JSON", tc.v, got)
		}
	}
}

// A journal of schema version 1 reads as this version writes it: its fault
// parameters' durations, written then as nanoseconds, become text; other
// numbers stay numbers.
func TestReadVersion1(t *testing.T) {
	j, err := journal.Read("testdata/v1.journal.json")
	if err != nil {
		t.Fatal(err)
	}
	if j.SchemaVersion != journal.SchemaVersion {
		t.Errorf("schema version %d; want %d", j.SchemaVersion, journal.SchemaVersion)
	}
	if got, want := string(j.Faults[0].Params), `{"params":{"delay":"200ms","jitter":"20ms"}}`; got != want {
		t.Errorf("params %s; want %s", got, want)
	}
	if j.Verdict != "passed" || len(j.Events) == 0 || len(j.Checks) == 0 {
		t.Errorf("verdict %q, %d events, %d checks: the rest was not read", j.Verdict, len(j.Events), len(j.Checks))
	}
	// Numbers that are not durations are left alone.
	dir := t.TempDir()
	old := strings.Replace(string(readFile(t, "testdata/v1.journal.json")), `"jitter": 20000000`, `"jitter": 20000000, "percent": 50, "count": 5000000`, 1)
	j2 := writeAndRead(t, dir, old)
	if got, want := string(j2.Faults[0].Params), `{"params":{"count":5000000,"delay":"200ms","jitter":"20ms","percent":50}}`; got != want {
		t.Errorf("params %s; want %s", got, want)
	}
	// A journal of this version is read as written, numbers and all.
	now := strings.Replace(old, `"schema_version": 1`, `"schema_version": 2`, 1)
	j3 := writeAndRead(t, dir, now)
	var p map[string]map[string]any
	if err := json.Unmarshal(j3.Faults[0].Params, &p); err != nil {
		t.Fatal(err)
	}
	if p["params"]["delay"] != 200000000.0 {
		t.Errorf("version 2 params %s were changed on load", j3.Faults[0].Params)
	}
}

// A fault's strength reads as the file writes it, with a proxy fault's
// own settings beside its share, and nothing for a fault with no settings.
func TestStrength(t *testing.T) {
	for _, tc := range []struct{ params, want string }{
		{``, ``},
		{`{}`, ``},
		{`{"params":{}}`, ``},
		{`{"params":{"delay":"300ms","jitter":"20ms"}}`, `delay 300ms, jitter 20ms`},
		{`{"percent":"30%","direction":"upstream","params":{"status":503}}`, `direction upstream, status 503, 30%`},
		{`{"percent":"30%"}`, `30%`},
		{`{"signal":"SIGKILL"}`, `signal SIGKILL`},
		{`{"rate":"1mbit","peers":null,"path":""}`, `rate 1mbit`},
		{`{"peers":["db","cache"]}`, `peers db cache`},
		{`{"replicas":0}`, `replicas 0`},
		{`{"host":"10.0.0.7","http_error":{"params":{"status":503}}}`, `host 10.0.0.7, http_error (status 503)`},
		{`{"down":{"params":{}}}`, `down`},
		{`not json`, ``},
	} {
		if got := journal.Strength(json.RawMessage(tc.params)); got != tc.want {
			t.Errorf("Strength(%s) = %q; want %q", tc.params, got, tc.want)
		}
	}
}

// wrapper writes the settings it wraps, as the network faults' do.
type wrapper struct{ Fault settings }

func (w *wrapper) MarshalJSON() ([]byte, error) { return json.Marshal(&w.Fault) }
func (w *wrapper) Params() any                  { return &w.Fault }

// Settings that marshal as another value are written as that value is,
// with durations as text, not as encoding/json's nanoseconds.
func TestParamsOfWrapper(t *testing.T) {
	got, err := journal.Params(&wrapper{Fault: settings{Delay: 50 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(got), `"delay":"50ms"`) {
		t.Errorf("Params(wrapper) = %s; want the delay as 50ms", got)
	}
}
