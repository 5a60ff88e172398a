package proxy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"reflect"
	"slices"
	"strings"
	"time"
)

// This file maps Toxiproxy's toxics onto the proxy's faults, with
// Toxiproxy's attribute names and units (milliseconds, KB/s,
// microseconds for the slicer's delay) and its meaning where a fault of
// the same name differs: a timeout drops what it stops and closes its
// connections when it goes, a reset_peer waits for the next bytes, a
// bandwidth of 0 lets everything through.

// toxicAttrs is the attributes of one toxic type, decoded from JSON.
type toxicAttrs interface {
	// params returns the fault the attributes stand for, or nil when
	// they do nothing (a latency of 0): the toxic is then listed but
	// acts on nothing, as in Toxiproxy.
	params() (Params, error)
}

// toxicTypes are Toxiproxy's toxic types, then this proxy's own faults
// offered as extra types.
var toxicTypes = map[string]func() toxicAttrs{
	"latency":    func() toxicAttrs { return &latencyToxic{} },
	"bandwidth":  func() toxicAttrs { return &bandwidthToxic{} },
	"slow_close": func() toxicAttrs { return &slowCloseToxic{} },
	"timeout":    func() toxicAttrs { return &timeoutToxic{} },
	"reset_peer": func() toxicAttrs { return &resetPeerToxic{} },
	"slicer":     func() toxicAttrs { return &slicerToxic{} },
	"limit_data": func() toxicAttrs { return &limitDataToxic{} },

	"http_error": func() toxicAttrs { return &httpErrorToxic{} },
	"http_delay": func() toxicAttrs { return &httpDelayToxic{} },
	"down":       func() toxicAttrs { return &downToxic{} },
	"reset":      func() toxicAttrs { return &resetToxic{} },
}

// ToxicTypes returns the toxic types the Toxiproxy API takes, sorted.
func ToxicTypes() []string {
	names := make([]string, 0, len(toxicTypes))
	for k := range toxicTypes {
		names = append(names, k)
	}
	slices.Sort(names)
	return names
}

type latencyToxic struct {
	Latency int64 `json:"latency"`
	Jitter  int64 `json:"jitter"`
}

func (t *latencyToxic) params() (Params, error) {
	d, err := millis("latency", t.Latency)
	if err != nil {
		return nil, err
	}
	j, err := millis("jitter", t.Jitter)
	if err != nil || d == 0 && j == 0 {
		return nil, err
	}
	return &Latency{Delay: d, Jitter: j}, nil
}

type bandwidthToxic struct {
	Rate int64 `json:"rate"` // KB/s, 1000 bytes each
}

func (t *bandwidthToxic) params() (Params, error) {
	switch {
	case t.Rate <= 0:
		return nil, nil // Toxiproxy: no limit
	case t.Rate > math.MaxInt64/1000:
		return nil, fmt.Errorf("rate %d KB/s is too large", t.Rate)
	}
	return &Bandwidth{Rate: t.Rate * 1000}, nil
}

type slowCloseToxic struct {
	Delay int64 `json:"delay"`
}

func (t *slowCloseToxic) params() (Params, error) {
	d, err := millis("delay", t.Delay)
	if err != nil || d == 0 {
		return nil, err
	}
	return &SlowClose{Delay: d}, nil
}

type timeoutToxic struct {
	Timeout int64 `json:"timeout"`
}

func (t *timeoutToxic) params() (Params, error) {
	d, err := millis("timeout", t.Timeout)
	if err != nil {
		return nil, err
	}
	return &Timeout{CloseAfter: d, Drop: true}, nil
}

type resetPeerToxic struct {
	Timeout int64 `json:"timeout"`
}

func (t *resetPeerToxic) params() (Params, error) {
	d, err := millis("timeout", t.Timeout)
	if err != nil {
		return nil, err
	}
	return &Reset{OnData: true, Delay: d}, nil
}

type slicerToxic struct {
	AverageSize   int   `json:"average_size"`
	SizeVariation int   `json:"size_variation"`
	Delay         int64 `json:"delay"` // microseconds
}

func (t *slicerToxic) params() (Params, error) {
	switch {
	case t.AverageSize <= 0:
		return nil, fmt.Errorf("average_size %d: want the bytes in an average slice, at least 1", t.AverageSize)
	case t.SizeVariation < 0 || t.SizeVariation >= t.AverageSize:
		return nil, fmt.Errorf("size_variation %d: want 0 up to average_size %d, excluded", t.SizeVariation, t.AverageSize)
	case t.Delay < 0 || t.Delay > math.MaxInt64/int64(time.Microsecond):
		return nil, fmt.Errorf("delay %d µs is out of range", t.Delay)
	}
	return &Slicer{Size: t.AverageSize, Variation: t.SizeVariation, Delay: time.Duration(t.Delay) * time.Microsecond}, nil
}

type limitDataToxic struct {
	Bytes int64 `json:"bytes"`
}

func (t *limitDataToxic) params() (Params, error) {
	if t.Bytes <= 0 {
		return &closeOnData{}, nil
	}
	return &LimitData{Bytes: t.Bytes}, nil
}

// closeOnData closes the connection at the first byte in its direction,
// which it drops: Toxiproxy's limit_data with nothing to let through.
// It is not a kind of its own: experiments have no use for it.
type closeOnData struct{}

func (*closeOnData) Kind() string    { return "limit_data" }
func (*closeOnData) Validate() error { return nil }

func (*closeOnData) shape(pl *plan, id string) {
	pl.budgets = append(pl.budgets, budget{id: id})
}

type httpErrorToxic struct {
	Status int    `json:"status"`
	Body   string `json:"body"`
	Match
}

func (t *httpErrorToxic) params() (Params, error) {
	return &HTTPError{Status: t.Status, Body: t.Body, Match: t.Match}, nil
}

// matchFields marks the toxics that act on HTTP requests.
func (*httpErrorToxic) matchFields() {}

type httpDelayToxic struct {
	Delay  int64 `json:"delay"`
	Jitter int64 `json:"jitter"`
	Match
}

func (t *httpDelayToxic) params() (Params, error) {
	d, err := millis("delay", t.Delay)
	if err != nil {
		return nil, err
	}
	j, err := millis("jitter", t.Jitter)
	if err != nil || d == 0 && j == 0 {
		return nil, err
	}
	return &HTTPDelay{Delay: d, Jitter: j, Match: t.Match}, nil
}

func (*httpDelayToxic) matchFields() {}

type downToxic struct{}

func (*downToxic) params() (Params, error) { return &Down{}, nil }

type resetToxic struct {
	AfterBytes int64 `json:"after_bytes"`
}

func (t *resetToxic) params() (Params, error) { return &Reset{AfterBytes: t.AfterBytes}, nil }

func millis(name string, ms int64) (time.Duration, error) {
	switch {
	case ms < 0:
		return 0, fmt.Errorf("%s %d ms is negative", name, ms)
	case ms > math.MaxInt64/int64(time.Millisecond):
		return 0, fmt.Errorf("%s %d ms is too long", name, ms)
	}
	return time.Duration(ms) * time.Millisecond, nil
}

// decodeAttrs decodes raw into attrs, over what attrs holds already (an
// update changes only the attributes it names). An unknown attribute is an
// error: Toxiproxy ignores it, and a misspelt one would leave a toxic
// that does less than the test meant, and a test that passes for it.
func decodeAttrs(typ string, attrs toxicAttrs, raw json.RawMessage) error {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(attrs); err != nil {
		var syn *json.SyntaxError
		if errors.As(err, &syn) {
			return fmt.Errorf("attributes: %w", err)
		}
		if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
			return fmt.Errorf("attributes: %s has no attribute %s; it has %s", typ, name, strings.Join(attrNames(attrs), ", "))
		}
		return fmt.Errorf("attributes: %w", err)
	}
	return nil
}

// attrNames lists the JSON names of attrs' fields, sorted.
func attrNames(attrs toxicAttrs) []string {
	fields := map[string]reflect.Value{}
	paramFields(reflect.ValueOf(attrs).Elem(), fields)
	if len(fields) == 0 {
		return []string{"none"}
	}
	return slices.Sorted(maps.Keys(fields))
}

// cloneAttrs returns a copy of attrs, of the same type.
func cloneAttrs(typ string, attrs toxicAttrs) toxicAttrs {
	c := toxicTypes[typ]()
	b, _ := json.Marshal(attrs)
	json.Unmarshal(b, c)
	return c
}
