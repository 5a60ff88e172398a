package experiment

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// Mask is what a secret shows as wherever the experiment is written out.
const Mask = "***"

// Masker hides the experiment's secrets in text written about it, also in
// their JSON-escaped form. Very short secrets are left alone: masking "1"
// would garble every number.
func (e *Experiment) Masker() *strings.Replacer {
	var pairs []string
	for _, s := range e.Secrets {
		if len(s) >= 4 {
			pairs = append(pairs, s, Mask)
			if q, _ := json.Marshal(s); string(q[1:len(q)-1]) != s {
				pairs = append(pairs, string(q[1:len(q)-1]), Mask)
			}
		}
	}
	return strings.NewReplacer(pairs...)
}

// VarList is the experiment's variables after --var overrides, by name.
type VarList map[string]string

// The loader reads vars before substitution, so decoding them again in the
// struct pass has nothing to do.
func (VarList) decodeNode(*decoder, *yaml.Node, string) {}

// Runtime variables are known only while the experiment runs: they are left
// in place by the loader and expanded by the runner.
var runtimeVars = []string{"uuid", "seq"}

// scope resolves ${...} references while the file is loaded.
type scope struct {
	vars    map[string]string
	secret  map[string]bool
	outputs map[string]bool // step outputs named with as:
	lookup  func(string) (string, bool)
	// hint finds the name meant by an unknown one (decoder.didYouMean).
	hint    func(word string, known func() []string) string
	secrets []string
	// inSteps is set while the method and rollbacks are substituted: only
	// there do step outputs exist.
	inSteps bool
	// written counts the bytes substituted so far, up to MaxSubstituted.
	written int
	// overflowed is set once going past MaxSubstituted was reported.
	overflowed bool
	// known and outs list the names of vars and outputs for did-you-mean
	// hints, once.
	known, outs []string
}

func (sc *scope) knownNames() []string {
	if len(sc.known) != len(sc.vars)+len(runtimeVars) {
		sc.known = append(slices.Collect(maps.Keys(sc.vars)), runtimeVars...)
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
			// $${x} is the literal text ${x}.
			r.WriteString("${")
			m.WriteString("${")
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
			return "", false, false, fmt.Errorf("environment variable %q is not set", env)
		}
		if v != "" && !slices.Contains(sc.secrets, v) {
			sc.secrets = append(sc.secrets, v)
		}
		return v, true, false, nil
	}
	if slices.Contains(runtimeVars, name) {
		return "", false, true, nil
	}
	if out, _, ok := strings.Cut(name, "."); ok {
		if sc.outputs[out] && !sc.inSteps {
			return "", false, false, fmt.Errorf("${%s} is a step's output: it can be used in method and rollback steps only", name)
		}
		if sc.outputs[out] {
			return "", false, true, nil
		}
		return "", false, false, fmt.Errorf("no step is named %q with as:, so ${%s} is unknown%s", out, name, sc.hint(out, sc.outputNames))
	}
	if v, ok := sc.vars[name]; ok {
		return v, sc.secret[name], false, nil
	}
	return "", false, false, fmt.Errorf("undefined variable %q%s", name, sc.hint(name, sc.knownNames))
}

// substitute expands references in every scalar under n, in place. The
// text of a scalar that shows a secret is kept in masked with the secret
// shown as Mask.
func (d *decoder) substitute(sc *scope, n *yaml.Node, masked map[*yaml.Node]string) {
	switch n.Kind {
	case yaml.ScalarNode:
		if !strings.Contains(n.Value, "$") {
			return
		}
		r, m, err := sc.expand(n.Value)
		if err != nil {
			// Past the limit every substitution fails alike: say it once.
			var over *overflowError
			if !errors.As(err, &over) || !sc.overflowed {
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

// ExpandOutputs replaces ${NAME.field} references in s with step outputs; a
// reference to an output that was never produced is an error.
func ExpandOutputs(s string, outputs map[string]map[string]string) (string, error) {
	var b strings.Builder
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			return b.String(), nil
		}
		end := strings.IndexByte(s[i:], '}')
		if end < 0 {
			b.WriteString(s)
			return b.String(), nil
		}
		name := s[i+2 : i+end]
		out, fieldName, ok := strings.Cut(name, ".")
		if !ok {
			b.WriteString(s[:i+end+1])
			s = s[i+end+1:]
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
		b.WriteString(s[:i])
		b.WriteString(v)
		s = s[i+end+1:]
	}
}
