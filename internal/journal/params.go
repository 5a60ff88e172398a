package journal

import (
	"bytes"
	"encoding"
	"encoding/json"
	"maps"
	"math"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Params writes a fault's settings for the journal as people write them
// in experiment files: as encoding/json writes the settings struct, except
// that a time.Duration is its text ("300ms"), not a count of nanoseconds.
func Params(v any) (json.RawMessage, error) {
	var b bytes.Buffer
	if err := writeParam(&b, reflect.ValueOf(v)); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

var (
	durationType  = reflect.TypeFor[time.Duration]()
	marshalerType = reflect.TypeFor[json.Marshaler]()
	textType      = reflect.TypeFor[encoding.TextMarshaler]()
)

// Paramer is implemented by settings whose MarshalJSON writes another
// value (a wrapper that writes the fault it wraps): Params writes that
// value, with its durations as text.
type Paramer interface {
	Params() any
}

func writeParam(b *bytes.Buffer, v reflect.Value) error {
	if !v.IsValid() {
		b.WriteString("null")
		return nil
	}
	if v.CanInterface() {
		if p, ok := v.Interface().(Paramer); ok && (v.Kind() != reflect.Pointer || !v.IsNil()) {
			return writeParam(b, reflect.ValueOf(p.Params()))
		}
	}
	t := v.Type()
	switch {
	case t == durationType:
		return writeJSON(b, durationText(time.Duration(v.Int())))
	case t.Implements(marshalerType) || t.Implements(textType) ||
		v.CanAddr() && (reflect.PointerTo(t).Implements(marshalerType) || reflect.PointerTo(t).Implements(textType)):
		return writeJSON(b, v.Interface())
	}
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			b.WriteString("null")
			return nil
		}
		return writeParam(b, v.Elem())
	case reflect.Struct:
		b.WriteByte('{')
		n := 0
		if err := writeFields(b, v, &n); err != nil {
			return err
		}
		b.WriteByte('}')
		return nil
	case reflect.Slice, reflect.Array:
		if v.Kind() == reflect.Slice && (v.IsNil() || t.Elem().Kind() == reflect.Uint8) {
			return writeJSON(b, v.Interface())
		}
		b.WriteByte('[')
		for i := range v.Len() {
			if i > 0 {
				b.WriteByte(',')
			}
			if err := writeParam(b, v.Index(i)); err != nil {
				return err
			}
		}
		b.WriteByte(']')
		return nil
	case reflect.Map:
		if v.IsNil() || t.Key().Kind() != reflect.String {
			return writeJSON(b, v.Interface())
		}
		// Sorted by key, as encoding/json writes maps.
		keys := v.MapKeys()
		sort.Slice(keys, func(i, k int) bool { return keys[i].String() < keys[k].String() })
		b.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				b.WriteByte(',')
			}
			if err := writeJSON(b, k.String()); err != nil {
				return err
			}
			b.WriteByte(':')
			if err := writeParam(b, v.MapIndex(k)); err != nil {
				return err
			}
		}
		b.WriteByte('}')
		return nil
	}
	return writeJSON(b, v.Interface())
}

// durationText writes d as time.Duration does, without the zero units
// that end it: 1m, not 1m0s; 1h30m, not 1h30m0s.
func durationText(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// writeFields writes a struct's fields as encoding/json does: by their
// json tags, leaving out "-" and empty omitempty fields, and the fields of
// untagged embedded structs in line.
func writeFields(b *bytes.Buffer, v reflect.Value, n *int) error {
	t := v.Type()
	for i := range t.NumField() {
		sf := t.Field(i)
		tag := sf.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		fv := v.Field(i)
		if sf.Anonymous && name == "" {
			ft := sf.Type
			if ft.Kind() == reflect.Pointer {
				if fv.IsNil() {
					continue
				}
				fv, ft = fv.Elem(), ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				if err := writeFields(b, fv, n); err != nil {
					return err
				}
				continue
			}
		}
		if !sf.IsExported() {
			continue
		}
		if name == "" {
			name = sf.Name
		}
		if hasOpt(opts, "omitempty") && isEmpty(fv) || hasOpt(opts, "omitzero") && fv.IsZero() {
			continue
		}
		if *n > 0 {
			b.WriteByte(',')
		}
		*n++
		if err := writeJSON(b, name); err != nil {
			return err
		}
		b.WriteByte(':')
		if err := writeParam(b, fv); err != nil {
			return err
		}
	}
	return nil
}

func hasOpt(opts, want string) bool {
	for _, o := range strings.Split(opts, ",") {
		if o == want {
			return true
		}
	}
	return false
}

// isEmpty is encoding/json's idea of an empty value, for omitempty.
func isEmpty(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Array, reflect.Map, reflect.Slice, reflect.String:
		return v.Len() == 0
	case reflect.Bool:
		return !v.Bool()
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return v.Int() == 0
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return v.Uint() == 0
	case reflect.Float32, reflect.Float64:
		return v.Float() == 0
	case reflect.Interface, reflect.Pointer:
		return v.IsNil()
	}
	return false
}

func writeJSON(b *bytes.Buffer, v any) error {
	out, err := json.Marshal(v)
	if err != nil {
		return err
	}
	b.Write(out)
	return nil
}

// upgradeV1Params rewrites the fault parameters of a journal of schema
// version 1, which wrote a time.Duration as nanoseconds, as this version
// writes them. Version 1 did not say which numbers were durations: a whole
// number of at least a millisecond under a key that names a time (delay,
// jitter, timeout, after, for, duration) is taken for one.
func upgradeV1Params(raw json.RawMessage) json.RawMessage {
	if len(raw) == 0 {
		return raw
	}
	var v any
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	if d.Decode(&v) != nil {
		return raw
	}
	changed := false
	var walk func(key string, v any) any
	walk = func(key string, v any) any {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				x[k] = walk(k, e)
			}
		case []any:
			for i, e := range x {
				x[i] = walk(key, e)
			}
		case json.Number:
			f, err := x.Float64()
			if err == nil && f >= 1e6 && f == math.Trunc(f) && f < math.MaxInt64 && timeKey(key) {
				changed = true
				return durationText(time.Duration(f))
			}
		}
		return v
	}
	v = walk("", v)
	if !changed {
		return raw
	}
	out, err := Params(v)
	if err != nil {
		return raw
	}
	return out
}

func timeKey(k string) bool {
	for _, w := range []string{"delay", "jitter", "timeout", "after", "for", "duration"} {
		if strings.Contains(k, w) {
			return true
		}
	}
	return false
}

// Strength says how strong a fault is, from its recorded parameters, in
// the words of the experiment file: "delay 300ms, jitter 20ms, 30%". Every
// line that names a fault uses it. It is empty for a fault with nothing to
// set (a stop, a pause).
func Strength(params json.RawMessage) string {
	if len(params) == 0 {
		return ""
	}
	var m map[string]any
	d := json.NewDecoder(bytes.NewReader(params))
	d.UseNumber()
	if d.Decode(&m) != nil {
		return ""
	}
	return strengthOf(m)
}

func strengthOf(m map[string]any) string {
	// A proxy fault keeps its kind's own settings under "params", beside
	// the direction and share that every proxy fault has.
	if inner, ok := m["params"].(map[string]any); ok {
		delete(m, "params")
		for k, v := range inner {
			m[k] = v
		}
	}
	var parts, last []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if in, ok := m[k].(map[string]any); ok {
			// A fault inside another (intercept's proxy fault): its
			// name, with its own strength.
			if t := strengthOf(in); t != "" {
				parts = append(parts, k+" ("+t+")")
			} else {
				parts = append(parts, k)
			}
			continue
		}
		v := strengthValue(m[k])
		switch {
		case v == "":
		case k == "percent":
			// The share hit reads best alone, after what it is hit with.
			last = append(last, v)
		default:
			parts = append(parts, k+" "+v)
		}
	}
	return strings.Join(append(parts, last...), ", ")
}

// strengthValue writes one parameter's value; empty for one that says
// nothing (unset, an empty list).
func strengthValue(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case json.Number:
		return x.String()
	case bool:
		return strconv.FormatBool(x)
	case []any:
		var parts []string
		for _, e := range x {
			if s := strengthValue(e); s != "" {
				parts = append(parts, s)
			}
		}
		return strings.Join(parts, " ")
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// FaultText names a fault with its strength: "latency (delay 300ms)", or
// "stop" for one with nothing to set.
func FaultText(fault string, params json.RawMessage) string {
	if s := Strength(params); s != "" {
		return fault + " (" + s + ")"
	}
	return fault
}

// Text names the fault with its strength; see FaultText.
func (f Fault) Text() string { return FaultText(f.Fault, f.Params) }

// StepFault names the faults a method step applied with their strength,
// for a line that says a check broke under it: "latency link (delay
// 300ms)". A step that applied no fault is its name alone.
func (j *Journal) StepFault(step string) string {
	for _, f := range j.Faults {
		if f.Step == step {
			if s := Strength(f.Params); s != "" {
				return step + " (" + s + ")"
			}
			break
		}
	}
	return step
}
