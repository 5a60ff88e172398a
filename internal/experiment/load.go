package experiment

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// Options are the loader's inputs besides the file.
type Options struct {
	// Catalog lists the kinds of targets, faults and probes.
	Catalog Catalog
	// Vars override the file's vars (--var k=v).
	Vars map[string]string
	// LookupEnv reads ${env:NAME}; os.LookupEnv when nil.
	LookupEnv func(string) (string, bool)
	// DockerHost returns the address of a Docker context by name, or of
	// the default engine for "", so that faults that need an engine on
	// this machine are refused before the run. When nil, contexts are not
	// looked up and the default engine is taken to be local.
	DockerHost func(context string) (string, error)
}

// Load reads, substitutes and validates an experiment file. The error, when
// not nil, is an ErrorList with every problem found, or a plain error when
// the file cannot be read.
func Load(path string, opts Options) (*Experiment, error) {
	src, err := readFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, src, opts)
}

var yamlLine = regexp.MustCompile(`^yaml: (?:line (\d+): )?(.*)$`)

// syntaxError returns the message of a YAML syntax error and where it is.
// yaml.v3 names the line where the construct around the problem began
// (the block or scalar being read), not the line of the problem, and no
// column; so the problem's line is found as the first line that, read
// with the lines above it only, gives the same error. A construct that
// began on the first line is named by no line, or by the line where the
// problem was found (past the last line for a quote never closed), and an
// alias of an unknown anchor by no line at all: the search then starts at
// the first line. The column is that of the
// tab or the bracket left open that the message is about, or
// else of the line's first character. Errors in the bytes themselves (a
// control character, broken UTF-8) come without a line: they are found by
// reading the bytes.
func syntaxError(src []byte, err error) (string, Pos) {
	m := yamlLine.FindStringSubmatch(err.Error())
	if m == nil {
		return err.Error(), Pos{}
	}
	msg := m[2]
	if m[1] == "" {
		if off, ok := unreadable(src); ok {
			return msg, offsetPos(src, off)
		}
	}
	if name, ok := strings.CutPrefix(msg, "unknown anchor '"); ok {
		if off, ok := aliasOffset(src, strings.TrimSuffix(name, "' referenced")); ok {
			return msg, offsetPos(src, off)
		}
	}
	line, _ := strconv.Atoi(m[1])
	lines := bytes.SplitAfter(src, []byte("\n"))
	from := line
	if line < 1 || line > bytes.Count(bytes.TrimSuffix(src, []byte("\n")), []byte("\n"))+1 {
		// No line, or the line after the last: the construct began on
		// the first line.
		from = 1
	}
	n, ok := firstFailingPrefix(lines, from, msg)
	if !ok {
		// yaml.v3 names no line for a problem on the first line.
		return msg, Pos{Line: max(line, 1)}
	}
	text := string(lines[n-1])
	col := len(text) - len(strings.TrimLeft(text, " "))
	switch {
	case strings.Contains(msg, "tab") && strings.Contains(text, "\t"):
		col = strings.IndexByte(text, '\t')
	case strings.Contains(msg, "']'") && strings.Contains(text, "["):
		col = strings.LastIndexByte(text, '[')
	case strings.Contains(msg, "'}'") && strings.Contains(text, "{"):
		col = strings.LastIndexByte(text, '{')
	}
	return msg, Pos{Line: n, Col: utf8.RuneCountInString(text[:col]) + 1}
}

// aliasOffset returns the offset of the first alias *name in src: the
// name after a * that starts a value, up to a space, a comma or a closing
// bracket.
func aliasOffset(src []byte, name string) (int, bool) {
	alias := []byte("*" + name)
	for i := 0; ; {
		j := bytes.Index(src[i:], alias)
		if j < 0 {
			return 0, false
		}
		at, end := i+j, i+j+len(alias)
		before := at == 0 || bytes.IndexByte([]byte(" \t\n[{,:-"), src[at-1]) >= 0
		after := end == len(src) || bytes.IndexByte([]byte(" \t\r\n,]}"), src[end]) >= 0
		if before && after {
			return at, true
		}
		i = at + 1
	}
}

// prefixParses reports whether the lines parse as YAML and, when not,
// whether they fail with the message msg.
func prefixParses(lines [][]byte, msg string) (ok, sameErr bool) {
	// Every document, as Parse reads them: the error may be in text
	// after the end of the first.
	dec := yaml.NewDecoder(bytes.NewReader(bytes.Join(lines, nil)))
	var err error
	for err == nil {
		var node yaml.Node
		err = dec.Decode(&node)
	}
	if err == io.EOF {
		return true, false
	}
	m := yamlLine.FindStringSubmatch(err.Error())
	return false, m != nil && m[2] == msg
}

// firstFailingPrefix finds the first line n from the line from on such
// that the lines up to n give the error msg. Prefixes that parse are
// skipped by doubling steps, then halving them, so that a problem many
// lines below the line yaml.v3 names costs a few parses and not one per
// line. The parses together read at most twice the file and 256 KiB more:
// in a file of thousands of lines, a problem far below the line named may
// keep that line.
// A prefix that fails with another message cut through something: the
// search gives up.
func firstFailingPrefix(lines [][]byte, from int, msg string) (int, bool) {
	budget := 2*len(bytes.Join(lines, nil)) + 256<<10
	parses := func(n int) (ok bool, sameErr bool, spent bool) {
		for _, l := range lines[:n] {
			budget -= len(l)
		}
		if budget < 0 {
			return false, false, true
		}
		ok, sameErr = prefixParses(lines[:n], msg)
		return ok, sameErr, false
	}
	if from > len(lines) {
		return 0, false
	}
	// good is a prefix known to parse (0: none yet), bad one known not to.
	good, bad, step := from-1, 0, 1
	for bad == 0 {
		n := min(good+step, len(lines))
		ok, _, spent := parses(n)
		switch {
		case spent:
			return 0, false
		case !ok:
			bad = n
		case n == len(lines):
			return 0, false
		default:
			good, step = n, step*2
		}
	}
	for bad-good > 1 {
		mid := good + (bad-good)/2
		ok, _, spent := parses(mid)
		switch {
		case spent:
			return 0, false
		case ok:
			good = mid
		default:
			bad = mid
		}
	}
	if _, same, _ := parses(bad); !same {
		return 0, false
	}
	return bad, true
}

// utf16Error is text in UTF-16 that does not decode, at its position.
type utf16Error struct {
	pos Pos
	msg string
}

// fromUTF16 returns the text of a file in UTF-16, which starts with a byte
// order mark, as UTF-8, so that positions are found in it as in any other;
// a file without the mark is returned as it is.
func fromUTF16(src []byte) ([]byte, *utf16Error) {
	var order binary.ByteOrder
	switch {
	case len(src) >= 2 && src[0] == 0xFF && src[1] == 0xFE:
		order = binary.LittleEndian
	case len(src) >= 2 && src[0] == 0xFE && src[1] == 0xFF:
		order = binary.BigEndian
	default:
		return src, nil
	}
	out := make([]byte, 0, len(src))
	for i := 2; i < len(src); i += 2 {
		if i+1 == len(src) {
			return nil, &utf16Error{offsetPos(out, len(out)), "broken UTF-16: the file ends in half a character"}
		}
		r := rune(order.Uint16(src[i:]))
		if utf16.IsSurrogate(r) {
			var lo rune = utf8.RuneError
			if i+3 < len(src) {
				lo = rune(order.Uint16(src[i+2:]))
			}
			if r = utf16.DecodeRune(r, lo); r == utf8.RuneError {
				return nil, &utf16Error{offsetPos(out, len(out)), "broken UTF-16: a surrogate half without its pair"}
			}
			i += 2
		}
		out = utf8.AppendRune(out, r)
	}
	return out, nil
}

// looksUTF16 reports whether text without a byte order mark looks like
// UTF-16: a zero byte next to each of the first ASCII characters.
func looksUTF16(src []byte) bool {
	n := min(len(src)/2*2, 16)
	if n < 4 {
		return false
	}
	le, be := true, true
	for i := 0; i < n; i += 2 {
		le = le && src[i] != 0 && src[i+1] == 0
		be = be && src[i] == 0 && src[i+1] != 0
	}
	return le || be
}

// unreadable returns the offset of the first byte that YAML does not take:
// a control character or a broken UTF-8 sequence.
func unreadable(src []byte) (int, bool) {
	for i := 0; i < len(src); {
		r, size := utf8.DecodeRune(src[i:])
		switch {
		case r == utf8.RuneError && size <= 1:
			return i, true
		case r == '\t' || r == '\n' || r == '\r' || r == 0x85:
		case r < 0x20 || r >= 0x7F && r < 0xA0 || r >= 0xD800 && r < 0xE000 || r == 0xFFFE || r == 0xFFFF:
			return i, true
		}
		i += size
	}
	return 0, false
}

// Parse is Load for a file already read. Its time and memory grow with the
// size of src, which is at most MaxFileSize, and no faster.
func Parse(file string, src []byte, opts Options) (*Experiment, error) {
	if opts.LookupEnv == nil {
		opts.LookupEnv = os.LookupEnv
	}
	if len(src) > MaxFileSize {
		return nil, ErrorList{tooLarge(file, src)}
	}
	d := &decoder{file: file, catalog: opts.Catalog}
	src, uerr := fromUTF16(src)
	if uerr != nil {
		return nil, ErrorList{{File: file, Pos: uerr.pos, Msg: "invalid YAML: " + uerr.msg}}
	}
	var root yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(src))
	err := dec.Decode(&root)
	if err == nil {
		// One experiment per file: a second document would be ignored.
		var next yaml.Node
		switch err = dec.Decode(&next); {
		case err == io.EOF:
			err = nil
		case err == nil:
			return nil, ErrorList{{File: file, Pos: Pos{Line: next.Line, Col: next.Column}, Msg: "a second YAML document starts here: put each experiment in a file of its own"}}
		}
	}
	if err == io.EOF {
		err = nil // an empty file, told below
	}
	if err != nil {
		msg, pos := syntaxError(src, err)
		if msg == "control characters are not allowed" && looksUTF16(src) {
			msg += ": the file looks like UTF-16 without a byte order mark; save it as UTF-8"
		}
		if col, ok := tabIndent(src, pos.Line); ok && msg == "found character that cannot start any token" {
			msg += ": a tab: YAML indents with spaces only"
			pos.Col = col
		} else if _, ok := unquotedInFlow(src, pos.Line, "::"); ok {
			msg += `: an IPv6 address inside { } or [ ] must be quoted, as in {host: "::1"}`
		} else if col, ok := unquotedInFlow(src, pos.Line, "${"); ok {
			msg += `: a ${NAME} inside { } or [ ] must be quoted, as in {delay: "${d}"}`
			pos.Col = col
		}
		return nil, ErrorList{{File: file, Pos: pos, Msg: "invalid YAML: " + msg}}
	}
	if len(root.Content) == 0 {
		return nil, ErrorList{{File: file, Msg: "the file is empty: an experiment needs at least version, title and method"}}
	}
	doc := root.Content[0]
	// Before anything walks the tree: every later walk follows aliases.
	if err := checkLimits(doc); err != nil {
		d.errorf(err.node, "%s", err.msg)
		return nil, d.errs
	}
	if doc.Kind != yaml.MappingNode {
		d.errorf(doc, "an experiment is a mapping of keys such as version, title and method, got %s", kindName(doc))
		return nil, d.errs
	}

	if d.aliasesIntoVars(doc); len(d.errs) > 0 {
		return nil, d.errs
	}

	sc := &scope{fileDir: fileDir(file), lookup: opts.LookupEnv, hint: d.didYouMean, secret: map[string]bool{}, used: map[string]bool{}, outputs: stepOutputs(doc), roots: expandedAtRun(doc)}
	sc.vars = d.vars(doc, sc, opts.Vars)
	masked := map[*yaml.Node]string{}
	for i := 0; i+1 < len(doc.Content); i += 2 {
		key := doc.Content[i].Value
		if key == "vars" {
			continue
		}
		sc.inSteps = key == "method" || key == "rollbacks"
		d.substitute(sc, doc.Content[i+1], masked)
	}

	exp := &Experiment{File: file}
	d.structValue(doc, reflectValue(exp), "the experiment")
	exp.Vars = sc.vars
	exp.usedVars, exp.unusedVars = sc.used, unusedVars(file, doc, sc)
	exp.Secrets = sc.secrets
	exp.shortSecrets = sc.short
	if resolved, ok := plain(doc, masked).(map[string]any); ok {
		if v, ok := resolved["vars"]; ok {
			resolved["vars"] = maskVars(v, sc.secret)
		}
		exp.Resolved = resolved
	}
	maskNotify(exp)
	d.decodeFaults(exp)
	d.check(exp, doc)
	d.checkEngines(exp, doc, opts.DockerHost)
	resolvePaths(reflect.ValueOf(exp), fileDir(file))
	if d.problems() > 0 {
		// A problem quotes the value it found, which may be a secret.
		list, m := d.list(), exp.Masker()
		for _, e := range list {
			// A long value is quoted cut short (excerpt): a secret the
			// cut fell in is masked too.
			e.Msg = m.replaceCut(m.Replace(e.Msg), cutMarker)
		}
		return nil, list
	}
	return exp, nil
}

// aliasesIntoVars refuses an alias, outside vars, of a value under vars:
// the loader reads those values as variables only, so the alias would
// stand for the text as written, its references never substituted.
func (d *decoder) aliasesIntoVars(doc *yaml.Node) {
	vars := valueOf(doc, "vars")
	if vars == nil {
		return
	}
	names := map[*yaml.Node]string{vars: ""}
	if vars.Kind == yaml.MappingNode {
		for j := 0; j+1 < len(vars.Content); j += 2 {
			names[vars.Content[j+1]] = vars.Content[j].Value
		}
	}
	var walk func(n *yaml.Node)
	walk = func(n *yaml.Node) {
		if n.Kind == yaml.AliasNode {
			if name, ok := names[n.Alias]; ok && name != "" {
				d.errorf(n, "alias *%s stands for the value of variable %q as written, which is not substituted here: write \"${%s}\"", n.Value, name, name)
			} else if ok {
				d.errorf(n, "alias *%s stands for vars, whose values are not substituted here: refer to each as ${NAME}", n.Value)
			}
			return
		}
		for _, c := range n.Content {
			walk(c)
		}
	}
	for i := 0; i+1 < len(doc.Content); i += 2 {
		if doc.Content[i].Value != "vars" {
			walk(doc.Content[i+1])
		}
	}
}

// maskNotify adds the notifiers' credentials to the secrets, and masks
// them in the resolved experiment that the journal keeps.
func maskNotify(exp *Experiment) {
	for _, n := range exp.Notify {
		exp.Secrets = append(exp.Secrets, n.Secrets()...)
	}
	if list, ok := exp.Resolved["notify"].([]any); ok {
		exp.Resolved["notify"] = maskValues(list, exp.Masker())
	}
}

// maskValues masks the secrets in every text of v.
func maskValues(v any, m *Masker) any {
	switch x := v.(type) {
	case string:
		return m.Replace(x)
	case []any:
		for i := range x {
			x[i] = maskValues(x[i], m)
		}
	case map[string]any:
		for k := range x {
			x[k] = maskValues(x[k], m)
		}
	}
	return v
}

func maskVars(v any, secret map[string]bool) any {
	m, ok := v.(map[string]any)
	if !ok {
		return v
	}
	for k := range m {
		if secret[k] {
			m[k] = Mask
		}
	}
	return m
}

// vars reads the vars mapping, expands environment references in it and
// applies the overrides.
func (d *decoder) vars(doc *yaml.Node, sc *scope, overrides map[string]string) map[string]string {
	vars := map[string]string{}
	for i := 0; i+1 < len(doc.Content); i += 2 {
		if doc.Content[i].Value != "vars" {
			continue
		}
		n := doc.Content[i+1]
		if isNull(n) {
			break
		}
		if n.Kind != yaml.MappingNode {
			d.errorf(n, "vars: expected a mapping of names to values, got %s", kindName(n))
			break
		}
		sc.declaring = []string{}
		for j := 0; j+1 < len(n.Content); j += 2 {
			sc.declaring = append(sc.declaring, n.Content[j].Value)
		}
		defer func() { sc.declaring = nil }()
		for j := 0; j+1 < len(n.Content); j += 2 {
			k, v := n.Content[j], n.Content[j+1]
			switch {
			case !validName(k.Value):
				d.errorf(k, "variable name %q: use letters, digits, _ and -", k.Value)
				continue
			case k.Value == "file_dir":
				d.errorf(k, "variable name %q is reserved: ${file_dir} is the experiment file's directory", k.Value)
				continue
			case slices.Contains(runtimeVars, k.Value):
				d.errorf(k, "variable name %q is reserved: ${%s} is set for each request", k.Value, k.Value)
				continue
			case v.Kind != yaml.ScalarNode:
				d.errorf(v, "variable %q: expected a value such as text or a number, got %s", k.Value, kindName(v))
				continue
			}
			if _, dup := vars[k.Value]; dup {
				d.errorf(k, "variable %q is set twice", k.Value)
				continue
			}
			// A var's value may read the environment, and is then a secret.
			before := len(sc.secrets)
			val, _, err := sc.expand(v.Value)
			var unset envUnsetError
			if _, set := overrides[k.Value]; set && errors.As(err, &unset) {
				// --var sets it: the file's value is never used.
				err = nil
			}
			if err != nil {
				d.errorf(v, "variable %q: %v", k.Value, err)
				if sc.failed == nil {
					sc.failed = map[string]bool{}
				}
				sc.failed[k.Value] = true
			}
			vars[k.Value] = val
			if strings.Contains(v.Value, "${env:") || len(sc.secrets) > before {
				sc.secret[k.Value] = true
			}
		}
	}
	for k, v := range overrides {
		if _, declared := vars[k]; declared {
			vars[k] = v
			sc.secret[k] = false
		}
	}
	return vars
}

// DeclaresVar reports whether the file at path declares the variable; it is
// used to catch --var names that no experiment knows.
func (e *Experiment) DeclaresVar(name string) bool {
	_, ok := e.Vars[name]
	return ok
}

// UsesVar reports whether a value of the file refers to the variable, so
// that setting it changes the experiment.
func (e *Experiment) UsesVar(name string) bool { return e.usedVars[name] }

// unusedVars warns of each variable declared under vars that no value
// refers to: a --var for it would change nothing, and the value it was
// meant for is written out elsewhere, or misspelt.
func unusedVars(file string, doc *yaml.Node, sc *scope) ErrorList {
	n := valueOf(doc, "vars")
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	var out ErrorList
	seen := map[string]bool{}
	for j := 0; j+1 < len(n.Content); j += 2 {
		k := n.Content[j]
		if _, declared := sc.vars[k.Value]; !declared || sc.used[k.Value] || seen[k.Value] {
			continue
		}
		seen[k.Value] = true
		out = append(out, &Error{File: file, Pos: posOf(k), Msg: fmt.Sprintf("variable %q is declared but no value uses it: setting it with --var %s=... would change nothing", k.Value, k.Value)})
	}
	return out
}

var nameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_-]*$`)

func validName(s string) bool { return nameRE.MatchString(s) }

// stepOutputs finds the as: names of all steps, so that references to their
// outputs survive substitution.
func stepOutputs(doc *yaml.Node) map[string]bool {
	out := map[string]bool{}
	for i := 0; i+1 < len(doc.Content); i += 2 {
		if k := doc.Content[i].Value; k != "method" && k != "rollbacks" {
			continue
		}
		for _, step := range doc.Content[i+1].Content {
			for j := 0; j+1 < len(step.Content); j += 2 {
				if step.Content[j].Value == "as" {
					out[step.Content[j+1].Value] = true
				}
			}
		}
	}
	return out
}

func hasHTTPScheme(u string) bool {
	return strings.HasPrefix(u, "http://") || strings.HasPrefix(u, "https://")
}

// valueOf returns the value of key in mapping m, or nil.
func valueOf(m *yaml.Node, key string) *yaml.Node {
	if m == nil {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

// check validates what spans sections: references and unique names.
func (d *decoder) check(e *Experiment, doc *yaml.Node) {
	if e.Version != "" && e.Version != Version {
		d.add(posOf(valueOf(doc, "version")), fmt.Sprintf("version %q is not supported: this chaos reads version %s", e.Version, Version))
	}
	if len(e.Method) == 0 && len(e.SteadyState) == 0 && d.problems() == 0 {
		d.add(posOf(doc), "the experiment has neither a method nor a steady_state: there is nothing to run")
	}
	unique := func(kind string, names []string, pos []Pos) {
		seen := map[string]bool{}
		for i, n := range names {
			if n == "" {
				continue
			}
			if seen[n] {
				d.add(pos[i], fmt.Sprintf("%s name %q is used twice", kind, n))
			}
			seen[n] = true
		}
	}
	var names []string
	var pos []Pos
	for _, s := range e.Services {
		names, pos = append(names, s.Name), append(pos, s.Pos)
	}
	unique("service", names, pos)

	streams := map[string]*Stream{}
	names, pos = nil, nil
	for _, s := range e.Load {
		names, pos = append(names, s.Name), append(pos, s.Pos)
		streams[s.Name] = s
	}
	unique("load stream", names, pos)

	streamNames := sync.OnceValue(func() []string { return slices.Collect(maps.Keys(streams)) })
	checkRefs := func(c *Check) {
		if c.From == "" {
			return
		}
		switch s := streams[c.From]; {
		case s == nil:
			d.add(c.Pos, fmt.Sprintf("check %q: from names no load stream %q%s", c.Name, c.From, d.didYouMean(c.From, streamNames)))
		case c.Window < s.Window:
			// A judgement covers whole windows of the stream's traffic.
			d.add(c.Pos, fmt.Sprintf("check %q: its window (%s) is shorter than the windows load stream %q records (%s), so it would never hold one: use a window of %s or more", c.Name, c.Window, c.From, s.Window, s.Window))
		case s.Rate > 0 && c.Window.D().Seconds()*s.Rate.PerSecond() < 1:
			// A window in which no request was sent, as most would be,
			// breaks the check for "no request completed".
			every := Duration((time.Duration(float64(time.Second)/s.Rate.PerSecond()) + time.Millisecond - 1).Truncate(time.Millisecond))
			d.add(c.Pos, fmt.Sprintf("check %q: its window (%s) holds less than one request of load stream %q, which sends one every %s: a window with none breaks the check; use a window of %s or more, or a higher rate", c.Name, c.Window, c.From, every, every))
		}
	}
	names, pos = nil, nil
	for _, c := range e.SteadyState {
		names, pos = append(names, c.Name), append(pos, c.Pos)
		checkRefs(c)
		if len(c.When) == 0 {
			c.When = []string{Before, During, After}
		}
	}
	for _, c := range e.AbortWhen {
		names, pos = append(names, c.Name), append(pos, c.Pos)
		checkRefs(c)
		if len(c.When) == 0 {
			c.When = []string{During}
		} else if len(c.When) != 1 || c.When[0] != During {
			d.add(c.Pos, fmt.Sprintf("abort_when %q: abort conditions are watched during the method only; remove when", c.Name))
		}
	}
	unique("check", names, pos)
	if rn := valueOf(doc, "recovery"); e.Recovery != nil && e.Recovery.Within <= 0 && !d.errs.within(rn) {
		d.add(posOf(valueOf(doc, "recovery")), "recovery: within must be more than 0s")
	}

	if mn := valueOf(doc, "max_duration"); mn != nil && e.MaxDuration <= 0 && !d.errs.within(mn) {
		d.add(posOf(mn), "max_duration must be more than 0s: it is how long the run may take before it aborts itself")
	}

	targets := map[string]bool{}
	for _, t := range e.Targets {
		targets[t.Name] = true
	}
	targetNames := sync.OnceValue(func() []string { return slices.Collect(maps.Keys(targets)) })
	names, pos = nil, nil
	var outs []string
	var outPos []Pos
	for _, steps := range [][]*Step{e.Method, e.Rollbacks} {
		for _, s := range steps {
			if !s.autoNamed {
				names, pos = append(names, s.Name), append(pos, s.Pos)
			}
			if s.As != "" {
				outs, outPos = append(outs, s.As), append(outPos, s.Pos)
			}
			if s.Assert != nil {
				checkRefs(s.Assert)
			}
			if s.Kind == StepFault && s.Target != "" && !targets[s.Target] {
				d.add(s.Pos, fmt.Sprintf("step %q: target %q is not defined under targets%s", s.Name, s.Target, d.didYouMean(s.Target, targetNames)))
			}
		}
	}
	unique("step", names, pos)
	// Names made up for unnamed steps ("wait 1s") only have to differ from
	// each other and from the names given: the second "wait 1s" is
	// "wait 1s (2)".
	taken := map[string]bool{}
	for _, n := range names {
		taken[n] = true
	}
	next := map[string]int{} // the number to try first after a base name
	for _, s := range slices.Concat(e.Method, e.Rollbacks) {
		if !s.autoNamed {
			continue
		}
		base := s.Name
		for i := max(next[base], 2); taken[s.Name]; i++ {
			s.Name = fmt.Sprintf("%s (%d)", base, i)
			next[base] = i + 1
		}
		taken[s.Name] = true
	}
	unique("output (as:)", outs, outPos)
	// The steps' planned lengths add up to when each starts: a sum past
	// the longest duration would wrap to a negative time.
	for i, steps := range [][]*Step{e.Method, e.Rollbacks} {
		var planned time.Duration
		for _, s := range steps {
			if h := s.Holds(); planned > math.MaxInt64-h {
				d.add(s.Pos, fmt.Sprintf("step %q: with it, the %s are planned to last more than the longest duration, %dh", s.Name, []string{"method's steps", "rollbacks"}[i], math.MaxInt64/int64(time.Hour)))
				break
			}
			planned += s.Holds()
		}
	}
	for _, s := range e.Rollbacks {
		if s.Kind == StepFault {
			d.add(s.Pos, fmt.Sprintf("rollback step %q: rollbacks cannot inject faults; every fault is reverted by chaos itself", s.Name))
		}
		if s.Undo != nil {
			d.errs = append(d.errs, &Error{File: d.file, Pos: s.Pos, Msg: fmt.Sprintf("rollback step %q: a rollback takes no undo; it is itself the undo", s.Name)})
		}
	}
	names, pos = nil, nil
	for _, t := range e.Targets {
		names, pos = append(names, t.Name), append(pos, t.Pos)
	}
	unique("target", names, pos)
}

// plain turns a node into maps, lists and scalars, as the journal stores
// the resolved experiment; masked holds the text of scalars that show a
// secret, with the secret masked.
func plain(n *yaml.Node, masked map[*yaml.Node]string) any {
	switch n.Kind {
	case yaml.AliasNode:
		return plain(n.Alias, masked)
	case yaml.MappingNode:
		m := make(map[string]any, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			m[n.Content[i].Value] = plain(n.Content[i+1], masked)
		}
		return m
	case yaml.SequenceNode:
		l := make([]any, len(n.Content))
		for i, c := range n.Content {
			l[i] = plain(c, masked)
		}
		return l
	case yaml.ScalarNode:
		if m, ok := masked[n]; ok {
			return m
		}
		switch n.Tag {
		case "!!null":
			return nil
		case "!!bool":
			if b, err := strconv.ParseBool(n.Value); err == nil {
				return b
			}
		case "!!int":
			if i, err := strconv.ParseInt(n.Value, 0, 64); err == nil {
				return i
			}
		case "!!float":
			if f, err := strconv.ParseFloat(n.Value, 64); err == nil {
				return f
			}
		}
		return n.Value
	}
	return nil
}

// tabIndent returns the column (from 1) of a tab in the indentation of
// line n (from 1) of src.
func tabIndent(src []byte, n int) (int, bool) {
	lines := bytes.Split(src, []byte("\n"))
	if n < 1 || n > len(lines) {
		return 0, false
	}
	line := lines[n-1]
	indent := line[:len(line)-len(bytes.TrimLeft(line, " \t"))]
	if i := bytes.IndexByte(indent, '\t'); i >= 0 {
		return i + 1, true
	}
	return 0, false
}

// unquotedInFlow returns the column (from 1) of the first tok outside
// quotes and comments on line n (from 1) of src, when that line has a flow
// collection: YAML reads the colons of an IPv6 address ("::") there as a
// key's end, and the brace of a reference ("${") as a bracket.
func unquotedInFlow(src []byte, n int, tok string) (int, bool) {
	lines := bytes.Split(src, []byte("\n"))
	if n < 1 || n > len(lines) {
		return 0, false
	}
	line := lines[n-1]
	if !bytes.ContainsAny(line, "{[") {
		return 0, false
	}
	quote := byte(0)
	for i := 0; i < len(line); i++ {
		switch c := line[i]; {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
		case c == '#':
			return 0, false
		case bytes.HasPrefix(line[i:], []byte(tok)):
			return utf8.RuneCount(line[:i]) + 1, true
		}
	}
	return 0, false
}
