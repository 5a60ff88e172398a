package probe

import (
	"strings"
	"time"

	"github.com/prometheus/common/model"
)

// promGrouping are the PromQL keywords followed by a list of label names
// in parentheses.
var promGrouping = map[string]bool{"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true}

// promWords are the other PromQL keywords and the aggregation operators,
// which a grouping clause may separate from their parentheses.
var promWords = map[string]bool{"bool": true, "and": true, "or": true, "unless": true, "atan2": true, "inf": true, "nan": true,
	"sum": true, "min": true, "max": true, "avg": true, "group": true, "stddev": true, "stdvar": true, "count": true, "count_values": true,
	"bottomk": true, "topk": true, "quantile": true, "limitk": true, "limit_ratio": true}

// selectors lists the series selectors of a PromQL query, each as an
// instant selector (a range [5m] left off), at most once each: what the
// query reads. window is the longest range the query reads ([5m], or a
// subquery's [10m:1m]), 0 without one: a range reads the samples of
// series whose target is gone since. ok is false for a query it cannot
// take apart, or one that reads data of another time on purpose (offset,
// @).
func selectors(q string) (out []string, window time.Duration, ok bool) {
	seen := map[string]bool{}
	add := func(s string) {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	space := func(j int) int {
		for j < len(q) && strings.IndexByte(" \t\r\n", q[j]) >= 0 {
			j++
		}
		return j
	}
	for i := 0; i < len(q); {
		c := q[i]
		switch {
		case c == '"' || c == '\'' || c == '`':
			j, ok := promStringEnd(q, i)
			if !ok {
				return nil, 0, false
			}
			i = j
		case c == '#':
			for i < len(q) && q[i] != '\n' {
				i++
			}
		case c == '@':
			return nil, 0, false
		case c == '[':
			j := strings.IndexByte(q[i:], ']')
			if j < 0 {
				return nil, 0, false
			}
			r, _, _ := strings.Cut(q[i+1:i+j], ":")
			d, err := model.ParseDuration(strings.TrimSpace(r))
			if err != nil {
				// A range PromQL takes but this cannot read: the
				// series it reads back then are not known.
				return nil, 0, false
			}
			window = max(window, time.Duration(d))
			i += j + 1
		case c == '{':
			j, ok := promBracesEnd(q, i)
			if !ok {
				return nil, 0, false
			}
			add(q[i:j])
			i = j
		case c >= '0' && c <= '9' || c == '.':
			// A number, in any of its forms: 1, 0.5, 1e3, 0x1f, Inf.
			for i < len(q) && (promIdent(q[i]) || q[i] == '.') {
				i++
			}
		case promIdent(c):
			j := i
			for j < len(q) && promIdent(q[j]) {
				j++
			}
			word, k := q[i:j], space(j)
			switch {
			case word == "offset":
				return nil, 0, false
			case promGrouping[word] && k < len(q) && q[k] == '(':
				e := strings.IndexByte(q[k:], ')')
				if e < 0 {
					return nil, 0, false
				}
				i = k + e + 1
			case k < len(q) && q[k] == '(', promGrouping[word], promWords[strings.ToLower(word)]:
				// A function or an operator: what it reads follows.
				i = j
			case k < len(q) && q[k] == '{':
				e, ok := promBracesEnd(q, k)
				if !ok {
					return nil, 0, false
				}
				add(word + q[k:e])
				i = e
			default:
				add(word)
				i = j
			}
		default:
			i++
		}
	}
	return out, window, true
}

func promIdent(c byte) bool {
	return c == '_' || c == ':' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// promStringEnd returns the index after the string literal that starts at
// i.
func promStringEnd(q string, i int) (int, bool) {
	quote := q[i]
	for j := i + 1; j < len(q); j++ {
		switch {
		case q[j] == '\\' && quote != '`':
			j++
		case q[j] == quote:
			return j + 1, true
		}
	}
	return 0, false
}

// promBracesEnd returns the index after the label matchers that start at
// i with a brace.
func promBracesEnd(q string, i int) (int, bool) {
	for j := i + 1; j < len(q); j++ {
		switch q[j] {
		case '"', '\'', '`':
			e, ok := promStringEnd(q, j)
			if !ok {
				return 0, false
			}
			j = e - 1
		case '}':
			return j + 1, true
		}
	}
	return 0, false
}
