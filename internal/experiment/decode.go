package experiment

import (
	"encoding/base64"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"gopkg.in/yaml.v3"
)

// decoder turns yaml nodes into Go values, collecting every problem with its
// position instead of stopping at the first.
type decoder struct {
	file    string
	errs    ErrorList
	catalog Catalog
	// bad holds nodes already reported (a failed substitution): decoding
	// them again would only repeat the problem in other words.
	bad     map[*yaml.Node]bool
	skipped int
	// dropped counts the problems found past maxProblems.
	dropped int
}

// maxProblems is how many problems are listed for one file; past that they
// are only counted. Describing each costs a search for the name meant, in
// lists as long as the file: a file of nothing but mistakes would
// otherwise take time that grows with the square of its size.
const maxProblems = 100

// problems counts what went wrong so far, so that a struct whose fields did
// not decode is not also checked as a whole.
func (d *decoder) problems() int { return len(d.errs) + d.skipped + d.dropped }

func (d *decoder) errorf(n *yaml.Node, format string, args ...any) {
	d.add(posOf(n), fmt.Sprintf(format, args...))
}

// add records a problem at a position.
func (d *decoder) add(pos Pos, msg string) {
	if len(d.errs) >= maxProblems {
		d.dropped++
		return
	}
	d.errs = append(d.errs, &Error{File: d.file, Pos: pos, Msg: msg})
}

// didYouMean is the did-you-mean hint for a word among names of the file's
// own (its variables, targets, streams), which can be many: it is only
// looked for while problems are still listed.
func (d *decoder) didYouMean(word string, known func() []string) string {
	if len(d.errs) >= maxProblems {
		return ""
	}
	return didYouMean(word, known())
}

// list returns the problems found, sorted, with a last line that counts
// those not listed.
func (d *decoder) list() ErrorList {
	d.errs.sort()
	if d.dropped > 0 {
		d.errs = append(d.errs, &Error{File: d.file, Msg: fmt.Sprintf("%d more problems are not listed: fix the ones above first", d.dropped), more: d.dropped})
	}
	return d.errs
}

// nodeDecoder is implemented by format types that decode themselves because
// their shape depends on their content (a step is a fault, a wait or a probe).
type nodeDecoder interface {
	decodeNode(d *decoder, n *yaml.Node, what string)
}

// Validator is implemented by settings structs that check relations between
// their fields after decoding. The error is reported at the struct's position.
type Validator interface {
	Validate() error
}

// TargetChecker is implemented by fault settings that only work on some
// targets of their kind (an HTTP fault needs a proxy that speaks HTTP).
// CheckTarget gets the target's decoded settings; the error is reported at
// the fault step.
type TargetChecker interface {
	CheckTarget(target any) error
}

// Defaulter is implemented by settings structs that fill in defaults before
// their fields are decoded.
type Defaulter interface {
	SetDefaults()
}

var (
	posType         = reflect.TypeFor[Pos]()
	nodeType        = reflect.TypeFor[yaml.Node]()
	durationType    = reflect.TypeFor[time.Duration]()
	unmarshalerType = reflect.TypeFor[yaml.Unmarshaler]()
	nodeDecoderType = reflect.TypeFor[nodeDecoder]()
)

// decode fills v (a non-nil pointer) from n. what names the value in
// messages, such as `fault "latency"`.
func (d *decoder) decode(n *yaml.Node, v any, what string) {
	d.value(n, reflect.ValueOf(v).Elem(), what)
}

func (d *decoder) value(n *yaml.Node, v reflect.Value, what string) {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n.Kind == yaml.DocumentNode && len(n.Content) == 1 {
		n = n.Content[0]
	}
	if d.bad[n] {
		d.skipped++
		return
	}
	if v.Type() == nodeType {
		v.Set(reflect.ValueOf(*n))
		return
	}
	if v.Type() == durationType {
		// Settings of other packages may use time.Duration directly; they
		// read like Duration.
		var x Duration
		if err := x.UnmarshalYAML(n); err != nil {
			d.errorf(n, "%s: %v", what, err)
			return
		}
		v.SetInt(int64(x))
		return
	}
	if v.Kind() == reflect.Pointer {
		if isNull(n) {
			// A key with nothing after it (what was under it commented
			// out, or not written yet) would leave out what it sets: an
			// expectation, a readiness probe, a recovery bound.
			if v.Type().Elem().Kind() == reflect.Struct {
				d.errorf(n, "%s: nothing is given: write its settings ({} for the defaults), or remove the key", what)
			} else {
				d.errorf(n, "%s: nothing is given: write its value, or remove the key", what)
			}
			return
		}
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		d.value(n, v.Elem(), what)
		return
	}
	if v.CanAddr() {
		p := v.Addr()
		if p.Type().Implements(nodeDecoderType) {
			p.Interface().(nodeDecoder).decodeNode(d, n, what)
			return
		}
		if p.Type().Implements(unmarshalerType) {
			if err := p.Interface().(yaml.Unmarshaler).UnmarshalYAML(n); err != nil {
				d.errorf(n, "%s: %v", what, err)
			}
			return
		}
	}
	switch v.Kind() {
	case reflect.Struct:
		d.structValue(n, v, what)
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			d.errorf(n, "%s: expected a list, got %s", what, kindName(n))
			return
		}
		s := reflect.MakeSlice(v.Type(), 0, len(n.Content))
		for _, c := range n.Content {
			if isNull(c) && v.Type().Elem().Kind() == reflect.Pointer {
				d.errorf(c, "%s: an empty item in the list: fill it in or remove its dash", what)
				continue
			}
			e := reflect.New(v.Type().Elem()).Elem()
			d.value(c, e, elementName(what, c))
			s = reflect.Append(s, e)
		}
		v.Set(s)
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			d.errorf(n, "%s: expected a mapping, got %s", what, kindName(n))
			return
		}
		m := reflect.MakeMapWithSize(v.Type(), len(n.Content)/2)
		seen := map[string]bool{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			if k.Kind != yaml.ScalarNode {
				d.errorf(k, "%s: a key must be a plain word, got %s", what, kindName(k))
				continue
			}
			if seen[k.Value] {
				d.errorf(k, "%s: key %q is set twice", what, k.Value)
				continue
			}
			seen[k.Value] = true
			ev := reflect.New(v.Type().Elem()).Elem()
			if isNull(val) && ev.Kind() == reflect.Pointer {
				// An entry with nothing: the map's own checks say what
				// it needs (an engine, its context or host).
				m.SetMapIndex(reflect.ValueOf(k.Value).Convert(v.Type().Key()), ev)
				continue
			}
			d.value(val, ev, fmt.Sprintf("%q in %s", k.Value, what))
			m.SetMapIndex(reflect.ValueOf(k.Value).Convert(v.Type().Key()), ev)
		}
		v.Set(m)
	case reflect.String:
		if n.Kind != yaml.ScalarNode || isNull(n) {
			d.errorf(n, "%s: expected text, got %s", what, kindName(n))
			return
		}
		if n.Tag == "!!binary" {
			// Raw bytes, for binary protocols: YAML's \x escapes above
			// \x7f are characters, which go out as UTF-8.
			b, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(n.Value), ""))
			if err != nil {
				d.errorf(n, "%s: !!binary %q is not base64: %v", what, n.Value, err)
				return
			}
			v.SetString(string(b))
			return
		}
		v.SetString(n.Value)
	case reflect.Bool:
		b, err := strconv.ParseBool(n.Value)
		if n.Kind != yaml.ScalarNode || err != nil {
			d.errorf(n, "%s: expected true or false, got %s", what, kindName(n))
			return
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int64, reflect.Int32:
		i, err := strconv.ParseInt(n.Value, 10, 64)
		if n.Kind != yaml.ScalarNode || err != nil {
			d.errorf(n, "%s: expected a whole number, got %s", what, kindName(n))
			return
		}
		v.SetInt(i)
	case reflect.Float64:
		f, err := strconv.ParseFloat(n.Value, 64)
		if n.Kind != yaml.ScalarNode || err != nil {
			d.errorf(n, "%s: expected a number, got %s", what, kindName(n))
			return
		}
		v.SetFloat(f)
	case reflect.Interface:
		var x any
		if err := n.Decode(&x); err != nil {
			d.errorf(n, "%s: %v", what, err)
			return
		}
		if x != nil {
			v.Set(reflect.ValueOf(x))
		}
	default:
		panic(fmt.Sprintf("experiment: cannot decode into %s", v.Type()))
	}
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

// field is one key a struct accepts.
type field struct {
	key      string
	index    []int
	required bool
	// what names the field's value, or each element of a list, in messages.
	what string
	// doc describes the field in the JSON Schema.
	doc string
	// least is the shortest a duration field takes (tag min:"1ms"): less
	// would make it fail or spin, whatever the system does.
	least Duration
	// nonempty is set for text whose empty value reads as not written
	// (tag chaos:"nonempty"): written empty, the key would do nothing.
	nonempty bool
}

// durationFloor says why a duration below a field's minimum is refused, by
// the field's key.
var durationFloor = map[string]string{
	"timeout":  "a shorter timeout fails every attempt",
	"interval": "a shorter interval runs the probe back to back",
	"within":   "a shorter time leaves no time to look",
}

// atLeast reports a duration shorter than least, at its node.
func (d *decoder) atLeast(n *yaml.Node, key string, got, least Duration, what string) {
	if got >= least {
		return
	}
	why := ""
	if w, ok := durationFloor[key]; ok {
		why = " (" + w + ")"
	}
	d.errorf(n, "%s is %s: use %s or more%s", what, got, least, why)
}

// elementName names one element of a list: `load stream "view-cart"` when
// it has a name, else the list's own description.
func elementName(what string, n *yaml.Node) string {
	if n.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == "name" && n.Content[i+1].Kind == yaml.ScalarNode {
				return fmt.Sprintf("%s %q", what, n.Content[i+1].Value)
			}
		}
	}
	return what
}

var fieldCache sync.Map // reflect.Type -> []field

// fieldsOf lists the keys of a struct type, following inline embedded
// structs. Types are few and decoded often: the lists are computed once.
func fieldsOf(t reflect.Type) []field {
	if fs, ok := fieldCache.Load(t); ok {
		return fs.([]field)
	}
	fs := computeFields(t)
	fieldCache.Store(t, fs)
	return fs
}

func computeFields(t reflect.Type) []field {
	var out []field
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("yaml")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if opts == "inline" {
			for _, sub := range fieldsOf(f.Type) {
				sub.index = append([]int{i}, sub.index...)
				out = append(out, sub)
			}
			continue
		}
		if name == "" {
			continue
		}
		fd := field{key: name, index: []int{i}, required: f.Tag.Get("chaos") == "required", nonempty: f.Tag.Get("chaos") == "nonempty", what: f.Tag.Get("what"), doc: f.Tag.Get("doc")}
		if m := f.Tag.Get("min"); m != "" {
			least, err := ParseDuration(m)
			if err != nil {
				panic(fmt.Sprintf("experiment: field %s of %s: min: %v", f.Name, t, err))
			}
			fd.least = least
		}
		out = append(out, fd)
	}
	return out
}

// keys returns the keys a struct type accepts, for did-you-mean hints.
func keys(fs []field) []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = f.key
	}
	return out
}

func (d *decoder) structValue(n *yaml.Node, v reflect.Value, what string) {
	if n.Kind != yaml.MappingNode {
		d.errorf(n, "%s: expected a mapping, got %s", what, kindName(n))
		return
	}
	if v.CanAddr() {
		if df, ok := v.Addr().Interface().(Defaulter); ok {
			df.SetDefaults()
		}
	}
	fs := fieldsOf(v.Type())
	before := d.problems()
	seen := map[string]bool{}
	misspelt := map[string]bool{} // keys an unknown key was taken for
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		idx := slices.IndexFunc(fs, func(f field) bool { return f.key == k.Value })
		switch {
		case k.Kind != yaml.ScalarNode:
			d.errorf(k, "%s: a key must be a plain word, got %s", what, kindName(k))
		case seen[k.Value]:
			d.errorf(k, "key %q is set twice in %s", k.Value, what)
		case idx < 0:
			d.errorf(k, "%s", unknownKey(k.Value, what, keys(fs)))
			misspelt[suggest(k.Value, keys(fs))] = true
		default:
			fw := fmt.Sprintf("%s in %s", k.Value, what)
			if fs[idx].what != "" {
				fw = fs[idx].what
			}
			fv := v.FieldByIndex(fs[idx].index)
			before := d.problems()
			d.value(val, fv, fw)
			if fs[idx].least > 0 && d.problems() == before && fv.Kind() == reflect.Int64 {
				d.atLeast(val, k.Value, Duration(fv.Int()), fs[idx].least, fw)
			}
			if fs[idx].nonempty && d.problems() == before && fv.Kind() == reflect.String && fv.String() == "" {
				d.errorf(val, "%s is empty, which any text contains: write the text, or remove the key", fw)
			}
		}
		seen[k.Value] = true
	}
	for _, f := range fs {
		// A required key written with a typo is told once, as the typo.
		if f.required && !seen[f.key] && !misspelt[f.key] {
			d.errorf(n, "missing key %q in %s", f.key, what)
		}
	}
	for i := range v.NumField() {
		if v.Type().Field(i).Type == posType {
			v.Field(i).Set(reflect.ValueOf(posOf(n)))
		}
	}
	if v.CanAddr() && d.problems() == before {
		if vd, ok := v.Addr().Interface().(Validator); ok {
			if err := vd.Validate(); err != nil {
				var list ErrorList
				if !errors.As(err, &list) {
					d.errorf(keyNamed(n, err.Error()), "%s: %v", what, err)
				}
			}
		}
	}
}

// keyNamed returns the value, in mapping n, of the key that a problem found
// by a Validate method names first ("rate must be more than 0/s" names
// rate), so that the problem is told at that key's line; else n.
func keyNamed(n *yaml.Node, msg string) *yaml.Node {
	word, _, _ := strings.Cut(msg, " ")
	word = strings.TrimSuffix(word, ":")
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == word {
			return n.Content[i+1]
		}
	}
	return n
}

// Regexp is a regular expression written as text in an experiment file.
type Regexp struct{ *regexp.Regexp }

// UnmarshalYAML compiles the expression.
func (r *Regexp) UnmarshalYAML(n *yaml.Node) error {
	if err := wantScalar(n, "a regular expression"); err != nil {
		return err
	}
	if n.Value == "" {
		return errors.New("an empty regular expression matches any text: write what must match, or remove the key")
	}
	re, err := regexp.Compile(n.Value)
	if err != nil {
		return fmt.Errorf("%q is not a valid regular expression: %v", n.Value, strings.TrimPrefix(err.Error(), "error parsing regexp: "))
	}
	r.Regexp = re
	return nil
}

// MarshalText writes the expression back.
func (r Regexp) MarshalText() ([]byte, error) {
	if r.Regexp == nil {
		return nil, nil
	}
	return []byte(r.String()), nil
}
