package load

import (
	"strconv"
	"strings"
)

// Placeholders expanded per request. Any other ${...} text is left as it is:
// the experiment loader has substituted variables before the stream starts,
// and left $${ for the literal text ${.
const (
	placeholderSeq  = "${seq}"
	placeholderUUID = "${uuid}"
)

// Vars are the per-request values a Template expands.
type Vars struct {
	// Seq is the request's sequence number in its stream, counted from 1.
	Seq uint64
	// UUID is a random UUIDv4, the same for every ${uuid} of one request.
	UUID string
}

// Template is text in which ${seq} and ${uuid} are replaced for each request.
// The zero value is the empty text.
type Template struct {
	parts []part
	uuid  bool
	src   string
}

// part is either literal text or one placeholder.
type part struct {
	text string
	kind byte // 0 literal, 's' seq, 'u' uuid
}

// ParseTemplate splits s into literal text and placeholders once, so that
// expanding it per request costs no scanning.
func ParseTemplate(s string) Template {
	t := Template{src: s}
	for s != "" {
		i := strings.Index(s, "${")
		if i < 0 {
			t.parts = appendLiteral(t.parts, s)
			break
		}
		switch {
		case i > 0 && s[i-1] == '$':
			// $${ is the literal text ${, as the loader leaves it.
			t.parts = appendLiteral(t.parts, s[:i-1]+"${")
			s = s[i+2:]
		case strings.HasPrefix(s[i:], placeholderSeq):
			t.parts = appendLiteral(t.parts, s[:i])
			t.parts = append(t.parts, part{kind: 's'})
			s = s[i+len(placeholderSeq):]
		case strings.HasPrefix(s[i:], placeholderUUID):
			t.parts = appendLiteral(t.parts, s[:i])
			t.parts = append(t.parts, part{kind: 'u'})
			t.uuid = true
			s = s[i+len(placeholderUUID):]
		default:
			t.parts = appendLiteral(t.parts, s[:i+2])
			s = s[i+2:]
		}
	}
	return t
}

func appendLiteral(parts []part, s string) []part {
	if s == "" {
		return parts
	}
	if n := len(parts); n > 0 && parts[n-1].kind == 0 {
		parts[n-1].text += s
		return parts
	}
	return append(parts, part{text: s})
}

// Static reports whether the template has no placeholders, so that the same
// text can be reused for every request.
func (t Template) Static() bool {
	return len(t.parts) == 0 || (len(t.parts) == 1 && t.parts[0].kind == 0)
}

// UsesUUID reports whether the template contains ${uuid}; generating a UUID
// for a request that does not need one would cost a random read.
func (t Template) UsesUUID() bool { return t.uuid }

// Expand returns the text with the placeholders replaced by v.
func (t Template) Expand(v Vars) string {
	switch {
	case len(t.parts) == 0:
		return ""
	case t.Static():
		return t.parts[0].text
	}
	var b strings.Builder
	for _, p := range t.parts {
		switch p.kind {
		case 's':
			var buf [20]byte
			b.Write(strconv.AppendUint(buf[:0], v.Seq, 10))
		case 'u':
			b.WriteString(v.UUID)
		default:
			b.WriteString(p.text)
		}
	}
	return b.String()
}

// String returns the template's source text.
func (t Template) String() string { return t.src }
