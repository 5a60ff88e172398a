package experiment

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Mask is what a secret shows as wherever the experiment is written out.
const Mask = "***"

// Masker hides the experiment's secrets in text written about it.
func (e *Experiment) Masker() *Masker { return NewMasker(e.Secrets) }

// NewMasker hides secrets in text, also in the forms other text shows them
// in: JSON-escaped (with and without HTML escaping), quoted as Go quotes
// (%q in a message), percent-encoded as in the URL of net/http's errors,
// and base64-encoded (a Pushgateway label, a basic-auth header). Very
// short secrets are left alone: masking "1" would garble every number.
func NewMasker(secrets []string) *Masker {
	m := &Masker{}
	seen := map[string]bool{}
	for _, s := range secrets {
		if len(s) < minSecret {
			continue
		}
		for _, f := range encodings(s) {
			if len(f) >= minSecret && !seen[f] {
				seen[f] = true
				m.secrets = append(m.secrets, f)
			}
		}
	}
	// The longest first: a secret that contains another is masked whole.
	slices.SortStableFunc(m.secrets, func(a, b string) int { return len(b) - len(a) })
	return m
}

// minSecret is the length under which a secret is not masked.
const minSecret = 4

// encodings are the forms s may take in text: as it is, escaped in JSON
// and quoted strings, percent-encoded in a URL's path or query, and the
// start of its base64 encodings that any text beginning with s shares.
func encodings(s string) []string {
	forms := []string{s}
	if q, _ := json.Marshal(s); len(q) >= 2 {
		forms = append(forms, string(q[1:len(q)-1]))
	}
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if enc.Encode(s) == nil {
		q := strings.TrimSuffix(b.String(), "\n")
		forms = append(forms, q[1:len(q)-1])
	}
	q := strconv.Quote(s)
	forms = append(forms, q[1:len(q)-1])
	forms = append(forms, url.PathEscape(s), url.QueryEscape(s), (&url.URL{Path: s}).EscapedPath())
	if n := len(s) / 3 * 4; n > 0 {
		forms = append(forms, base64.RawStdEncoding.EncodeToString([]byte(s))[:n], base64.RawURLEncoding.EncodeToString([]byte(s))[:n])
	}
	return forms
}

// Masker replaces secrets with Mask. It searches for each secret in turn,
// which takes time linear in the text for each: one pass that tries every
// secret at every position (strings.Replacer) takes the text's length
// times the longest secret's when the text nearly matches it, as the
// output of a probe can.
type Masker struct {
	secrets []string
}

// Replace returns s with every secret masked.
func (m *Masker) Replace(s string) string {
	for _, secret := range m.secrets {
		if strings.Contains(s, secret) {
			s = strings.ReplaceAll(s, secret, Mask)
		}
	}
	return s
}

// replaceCut masks what is left of a secret where a text was cut short
// before marker: the end of the text before each marker that a secret,
// in any of its forms, begins with, 3 characters or more of it.
func (m *Masker) replaceCut(s, marker string) string {
	var b strings.Builder
	for {
		i := strings.Index(s, marker)
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		b.WriteString(m.maskCutEnd(s[:i]))
		b.WriteString(marker)
		s = s[i+len(marker):]
	}
}

// maskCutEnd masks the longest start of a secret that head ends with.
func (m *Masker) maskCutEnd(head string) string {
	for _, f := range m.secrets {
		for k := min(len(f)-1, len(head)); k >= 3; k-- {
			if strings.HasSuffix(head, f[:k]) {
				return head[:len(head)-k] + Mask
			}
		}
	}
	return head
}

// Empty reports whether there is no secret to mask.
func (m *Masker) Empty() bool { return len(m.secrets) == 0 }

// maxHeld bounds what Copy holds back while secrets that overlap each
// other run on in its input.
const maxHeld = 1 << 20

// Copy writes src to dst with every secret masked, holding no more of it
// at once than a chunk and the longest secret (unless secrets that
// overlap each other run on, up to maxHeld): for a log of any size.
// Overlapping matches are masked as one.
func (m *Masker) Copy(dst io.Writer, src io.Reader) error {
	if len(m.secrets) == 0 {
		_, err := io.Copy(dst, src)
		return err
	}
	longest := len(m.secrets[0])
	chunk := make([]byte, 64<<10)
	var held []byte
	for {
		n, rerr := src.Read(chunk)
		held = append(held, chunk[:n]...)
		end := rerr != nil
		if rerr != nil && rerr != io.EOF {
			return rerr
		}
		// A match that begins before cut ends within held; one that
		// begins after it may go on in what is still to be read.
		cut := len(held)
		if !end {
			cut = max(0, len(held)-longest+1)
		}
		spans := m.spans(held)
		for _, sp := range spans {
			if sp[0] < cut && sp[1] > cut {
				cut = sp[0]
			}
		}
		if cut == 0 && len(held) > maxHeld {
			cut = len(held)
		}
		out, at := make([]byte, 0, cut), 0
		for _, sp := range spans {
			if sp[0] >= cut {
				break
			}
			out = append(append(out, held[at:sp[0]]...), Mask...)
			at = min(sp[1], len(held))
		}
		if at < cut {
			out = append(out, held[at:cut]...)
		} else {
			cut = at
		}
		if _, err := dst.Write(out); err != nil {
			return err
		}
		held = append(held[:0], held[cut:]...)
		if end {
			return nil
		}
	}
}

// spans are where secrets are in b, in order, those that overlap merged.
func (m *Masker) spans(b []byte) [][2]int {
	var all [][2]int
	for _, secret := range m.secrets {
		for at := 0; ; {
			i := bytes.Index(b[at:], []byte(secret))
			if i < 0 {
				break
			}
			all = append(all, [2]int{at + i, at + i + len(secret)})
			at += i + 1
		}
	}
	slices.SortFunc(all, func(a, b [2]int) int { return a[0] - b[0] })
	var merged [][2]int
	for _, sp := range all {
		if k := len(merged) - 1; k >= 0 && sp[0] < merged[k][1] {
			merged[k][1] = max(merged[k][1], sp[1])
			continue
		}
		merged = append(merged, sp)
	}
	return merged
}

// VarList is the experiment's variables after --var overrides, by name.
type VarList map[string]string

// The loader reads vars before substitution, so decoding them again in the
// struct pass has nothing to do.
func (VarList) decodeNode(*decoder, *yaml.Node, string) {}

// Runtime variables are known only while the experiment runs: they are left
// in place by the loader and expanded by the runner, ${uuid} anew for each
// request, observation and step, ${seq} for each request of a load stream.
var runtimeVars = []string{"uuid", "seq"}

// refMode says who expands the references in a scalar.
type refMode int

const (
	// byLoader: the loader alone, as the file is read.
	byLoader refMode = iota
	// perUse: also the runner, each time a probe, exec step or fault
	// uses its settings: ${uuid}, and ${NAME.field} in steps.
	perUse
	// perRequest: also the load generator, for each request: ${uuid} and
	// ${seq}.
	perRequest
)

// expandedAtRun finds the values whose references are expanded again while
// the experiment runs: the settings of probes (of checks, steps and
// services' ready), of exec steps and their undo, and of faults, and the url, body and
// headers of load requests. Targets are read as loaded: proxies start
// before any step, and a dry run resolves them as they are. The loader leaves their runtime
// references in place and keeps what must stay literal text escaped
// ($${...}), so that a value substituted from a var, --var or the
// environment is never expanded a second time.
func expandedAtRun(doc *yaml.Node) map[*yaml.Node]refMode {
	roots := map[*yaml.Node]refMode{}
	items := func(n *yaml.Node) []*yaml.Node {
		if n == nil || n.Kind != yaml.SequenceNode {
			return nil
		}
		return n.Content
	}
	field := func(m *yaml.Node, key string) *yaml.Node {
		if m == nil || m.Kind != yaml.MappingNode {
			return nil
		}
		return valueOf(m, key)
	}
	mark := func(n *yaml.Node, mode refMode) {
		if n != nil {
			roots[n] = mode
		}
	}
	for i := 0; i+1 < len(doc.Content); i += 2 {
		v := doc.Content[i+1]
		switch doc.Content[i].Value {
		case "load":
			for _, s := range items(v) {
				req := field(s, "http")
				mark(field(req, "url"), perRequest)
				mark(field(req, "body"), perRequest)
				mark(field(req, "headers"), perRequest)
			}
		case "steady_state", "abort_when":
			for _, c := range items(v) {
				mark(field(c, "probe"), perUse)
			}
		case "method", "rollbacks":
			for _, s := range items(v) {
				mark(field(s, "probe"), perUse)
				mark(field(s, "exec"), perUse)
				mark(field(s, "undo"), perUse)
				mark(field(s, "with"), perUse)
			}
		case "services":
			for _, s := range items(v) {
				if r := field(s, "ready"); r != nil && r.Kind == yaml.MappingNode {
					for j := 0; j+1 < len(r.Content); j += 2 {
						if k := r.Content[j].Value; k != "within" && k != "interval" {
							mark(r.Content[j+1], perUse)
						}
					}
				}
			}
		}
	}
	return roots
}

// scope resolves ${...} references while the file is loaded.
type scope struct {
	// fileDir is ${file_dir}: the experiment file's directory.
	fileDir string
	vars    map[string]string
	secret  map[string]bool
	outputs map[string]bool // step outputs named with as:
	lookup  func(string) (string, bool)
	// hint finds the name meant by an unknown one (decoder.didYouMean).
	hint    func(word string, known func() []string) string
	secrets []string
	// short names the environment variables whose values are too short
	// to be masked.
	short []string
	// inSteps is set while the method and rollbacks are substituted: only
	// there do step outputs exist.
	inSteps bool
	// roots are the values expanded again at run time, and mode how the
	// scalar being expanded is.
	roots map[*yaml.Node]refMode
	mode  refMode
	// written counts the bytes substituted so far, up to MaxSubstituted.
	written int
	// overflowed is set once going past MaxSubstituted was reported.
	overflowed bool
	// known and outs list the names of vars and outputs for did-you-mean
	// hints, once.
	known, outs []string
	// declaring holds the names under vars while their values are
	// expanded: those values may not use each other.
	declaring []string
	// failed holds the vars whose value could not be expanded: a value
	// that uses one is not judged again, since it was already reported.
	failed map[string]bool
	// used holds the vars that some value refers to.
	used map[string]bool
}

// envUnsetError is the error of ${env:NAME} for a NAME not set.
type envUnsetError string

func (e envUnsetError) Error() string {
	return fmt.Sprintf("environment variable %q is not set", string(e))
}

// errFailedVar is the error of a reference to a var whose own value was
// reported as wrong: the value that uses it says nothing more.
var errFailedVar = errors.New("uses a variable whose value is wrong")

func (sc *scope) knownNames() []string {
	if len(sc.known) != len(sc.vars)+len(runtimeVars)+1 {
		sc.known = append(slices.Collect(maps.Keys(sc.vars)), append(runtimeVars, "file_dir")...)
	}
	return sc.known
}

func (sc *scope) outputNames() []string {
	if sc.outs == nil {
		sc.outs = slices.Collect(maps.Keys(sc.outputs))
	}
	return sc.outs
}

// expand replaces the references in s. masked is the same text with secrets
// shown as Mask. Runtime references stay as they are in both.
func (sc *scope) expand(s string) (real, masked string, err error) {
	if !strings.Contains(s, "$") {
		return s, s, nil
	}
	var r, m strings.Builder
	for {
		i := strings.Index(s, "$")
		if i < 0 {
			r.WriteString(s)
			m.WriteString(s)
			break
		}
		r.WriteString(s[:i])
		m.WriteString(s[:i])
		s = s[i:]
		switch {
		case strings.HasPrefix(s, "$${"):
			// $${x} is the literal text ${x}; it stays escaped for a
			// value expanded again at run time.
			lit := "${"
			if sc.mode != byLoader {
				lit = "$${"
			}
			r.WriteString(lit)
			m.WriteString(lit)
			s = s[3:]
			continue
		case !strings.HasPrefix(s, "${"):
			r.WriteByte('$')
			m.WriteByte('$')
			s = s[1:]
			continue
		}
		end := strings.IndexByte(s, '}')
		if end < 0 {
			return "", "", fmt.Errorf("unterminated reference %s: close it with }", excerpt(s))
		}
		name := s[2:end]
		ref := s[:end+1]
		s = s[end+1:]
		val, secret, keep, err := sc.resolve(name)
		if err != nil {
			return "", "", err
		}
		if keep {
			r.WriteString(ref)
			m.WriteString(ref)
			continue
		}
		if sc.mode != byLoader {
			// What a variable holds is text, never a reference.
			val = strings.ReplaceAll(val, "${", "$${")
		}
		if sc.written += len(val); sc.written > MaxSubstituted {
			return "", "", &overflowError{ref: ref, size: len(val)}
		}
		r.WriteString(val)
		if secret {
			m.WriteString(Mask)
		} else {
			m.WriteString(val)
		}
	}
	return r.String(), m.String(), nil
}

// overflowError is the error of the substitution that goes past
// MaxSubstituted.
type overflowError struct {
	ref  string
	size int
}

func (e *overflowError) Error() string {
	return fmt.Sprintf("%s (%d bytes) brings the text substituted for variables to more than %d MiB in all: a value this long, used this often, belongs in a file that a command reads", e.ref, e.size, MaxSubstituted>>20)
}

func (sc *scope) resolve(name string) (val string, secret, keep bool, err error) {
	if env, ok := strings.CutPrefix(name, "env:"); ok {
		v, found := sc.lookup(env)
		if !found {
			return "", false, false, envUnsetError(env)
		}
		if v != "" && !slices.Contains(sc.secrets, v) {
			sc.secrets = append(sc.secrets, v)
		}
		if v != "" && len(v) < minSecret && !slices.Contains(sc.short, env) {
			sc.short = append(sc.short, env)
		}
		return v, true, false, nil
	}
	switch {
	case name == "file_dir":
		return sc.fileDir, false, false, nil
	case name == "seq" && sc.mode != perRequest:
		return "", false, false, errors.New("${seq} numbers the requests of a load stream: it can be used in the url, body and headers of load requests only")
	case name == "uuid" && sc.mode == byLoader:
		return "", false, false, errors.New("${uuid} is new for each request, observation and step: it can be used in load requests and in the settings of probes, exec steps and faults only")
	case slices.Contains(runtimeVars, name):
		return "", false, true, nil
	}
	if out, _, ok := strings.Cut(name, "."); ok {
		if sc.outputs[out] && (!sc.inSteps || sc.mode != perUse) {
			return "", false, false, fmt.Errorf("${%s} is a step's output: it can be used in the probe, exec, undo and with settings of method and rollback steps only", name)
		}
		if sc.outputs[out] {
			return "", false, true, nil
		}
		return "", false, false, fmt.Errorf("no step is named %q with as:, so ${%s} is unknown%s", out, name, sc.hint(out, sc.outputNames))
	}
	if sc.failed[name] {
		sc.used[name] = true
		return "", false, false, errFailedVar
	}
	if v, ok := sc.vars[name]; ok {
		sc.used[name] = true
		return v, sc.secret[name], false, nil
	}
	if sc.declaring != nil {
		if slices.Contains(sc.declaring, name) {
			return "", false, false, fmt.Errorf("${%s} is another variable: the values of vars are not expanded with each other (only ${env:NAME} and ${file_dir} are), so write its value out here, or set this one too with --var", name)
		}
		return "", false, false, fmt.Errorf("undefined variable %q%s", name, sc.hint(name, func() []string { return sc.declaring }))
	}
	return "", false, false, fmt.Errorf("undefined variable %q%s", name, sc.hint(name, sc.knownNames))
}

// substitute expands references in every scalar under n, in place. The
// text of a scalar that shows a secret is kept in masked with the secret
// shown as Mask.
func (d *decoder) substitute(sc *scope, n *yaml.Node, masked map[*yaml.Node]string) {
	if mode, ok := sc.roots[n]; ok {
		defer func(was refMode) { sc.mode = was }(sc.mode)
		sc.mode = mode
	}
	switch n.Kind {
	case yaml.ScalarNode:
		if !strings.Contains(n.Value, "$") {
			return
		}
		r, m, err := sc.expand(n.Value)
		if err != nil {
			// Past the limit every substitution fails alike: say it once.
			var over *overflowError
			if (!errors.As(err, &over) || !sc.overflowed) && !errors.Is(err, errFailedVar) {
				d.errorf(n, "%v", err)
			}
			sc.overflowed = sc.overflowed || over != nil
			if d.bad == nil {
				d.bad = map[*yaml.Node]bool{}
			}
			d.bad[n] = true
			return
		}
		n.Value = r
		if m != r {
			masked[n] = m
		}
	case yaml.DocumentNode, yaml.SequenceNode, yaml.MappingNode:
		for i, c := range n.Content {
			// Keys are never substituted: only values.
			if n.Kind == yaml.MappingNode && i%2 == 0 {
				continue
			}
			d.substitute(sc, c, masked)
		}
	}
}

// ExpandRuntime expands what the loader left for run time in a probe's,
// exec step's, fault's or target's settings: ${NAME.field} with a step's
// output, ${uuid} with uuid() (called once for all the references of one
// use), and $${ as the literal text ${. A reference to an output that was
// never produced is an error; text from outputs is not expanded again.
func ExpandRuntime(s string, outputs map[string]map[string]string, uuid func() string) (string, error) {
	if !strings.Contains(s, "${") {
		return s, nil
	}
	var b strings.Builder
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			return b.String(), nil
		}
		if i > 0 && s[i-1] == '$' {
			// $${: the literal text ${.
			b.WriteString(s[:i-1])
			b.WriteString("${")
			s = s[i+2:]
			continue
		}
		end := strings.IndexByte(s[i:], '}')
		if end < 0 {
			b.WriteString(s)
			return b.String(), nil
		}
		name := s[i+2 : i+end]
		b.WriteString(s[:i])
		s = s[i+end+1:]
		out, fieldName, ok := strings.Cut(name, ".")
		switch {
		case name == "uuid":
			b.WriteString(uuid())
			continue
		case !ok:
			b.WriteString("${" + name + "}")
			continue
		}
		fields, ok := outputs[out]
		if !ok {
			return "", fmt.Errorf("${%s}: step %q has not produced output yet", name, out)
		}
		v, ok := fields[fieldName]
		if !ok {
			return "", fmt.Errorf("${%s}: step %q has no field %q (it has %s)", name, out, fieldName, strings.Join(slices.Sorted(maps.Keys(fields)), ", "))
		}
		b.WriteString(v)
	}
}
