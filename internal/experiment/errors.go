package experiment

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// Pos is a position in an experiment file.
type Pos struct {
	Line int `json:"line"`
	Col  int `json:"col"`
}

func posOf(n *yaml.Node) Pos {
	if n == nil {
		return Pos{}
	}
	return Pos{Line: n.Line, Col: n.Column}
}

// Error is one problem in an experiment file, at a position.
type Error struct {
	File string
	Pos
	Msg string
	// more is set on the line that stands for problems not listed: how
	// many.
	more int
}

// Error formats the problem as FILE:LINE:COL: message.
func (e *Error) Error() string {
	switch {
	case e.Line == 0:
		return fmt.Sprintf("%s: %s", e.File, e.Msg)
	case e.Col == 0:
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Col, e.Msg)
}

// ErrorList is every problem found in one or more files, in file order.
type ErrorList []*Error

// Error joins the problems, one a line.
func (l ErrorList) Error() string {
	var b strings.Builder
	for i, e := range l {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(e.Error())
	}
	return b.String()
}

// Count returns how many problems the list stands for, including those
// found past the most that are listed.
func (l ErrorList) Count() int {
	n := 0
	for _, e := range l {
		n += max(e.more, 1)
	}
	return n
}

// Err returns the list as an error, or nil when it is empty.
func (l ErrorList) Err() error {
	if len(l) == 0 {
		return nil
	}
	return l
}

func (l ErrorList) sort() {
	slices.SortStableFunc(l, func(a, b *Error) int {
		return cmp.Or(cmp.Compare(a.File, b.File), cmp.Compare(a.Line, b.Line), cmp.Compare(a.Col, b.Col))
	})
	// The same message at the same place can come from two passes: keep one.
	out := l[:0]
	for i, e := range l {
		if i > 0 && *e == *l[i-1] {
			continue
		}
		out = append(out, e)
	}
	clear(l[len(out):])
}

// suggest returns the known word nearest to word, or "" when none is close
// enough to be a likely typo. On a tie, the longer common prefix wins
// (typos are rarer at the start of a word), then the word first in order.
func suggest(word string, known []string) string {
	w := []rune(strings.ToLower(word))
	limit := min(len(w)/2+1, 3)
	best, bestD, bestP := "", limit+1, -1
	var k []rune
	var rows [3][]int
	for _, name := range known {
		k = k[:0]
		for _, r := range strings.ToLower(name) {
			k = append(k, r)
		}
		if len(k)-len(w) > limit || len(w)-len(k) > limit {
			continue // at least that many insertions or deletions
		}
		d := editDistance(w, k, &rows)
		p := commonPrefix(w, k)
		if d <= limit && (d < bestD || d == bestD && (p > bestP || p == bestP && name < best)) {
			best, bestD, bestP = name, d, p
		}
	}
	return best
}

func commonPrefix(a, b []rune) int {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	return n
}

func didYouMean(word string, known []string) string {
	if s := suggest(word, known); s != "" {
		return fmt.Sprintf("; did you mean %q?", s)
	}
	return ""
}

// unknownKey is the message for a key that is not one of known: the key
// meant, when one is close, and always the keys that are valid.
func unknownKey(key, what string, known []string) string {
	if len(known) == 0 {
		return fmt.Sprintf("unknown key %q in %s: it takes no keys", key, what)
	}
	return fmt.Sprintf("unknown key %q in %s%s (valid keys: %s)", key, what, didYouMean(key, known), strings.Join(slices.Sorted(slices.Values(known)), ", "))
}

// editDistance is the optimal string alignment distance: insertions,
// deletions, substitutions and swaps of neighbours each cost one, so "delya"
// is one edit from "delay". rows is scratch space, reused between calls.
func editDistance(a, b []rune, rows *[3][]int) int {
	for i := range rows {
		if cap(rows[i]) < len(b)+1 {
			rows[i] = make([]int, len(b)+1)
		}
		rows[i] = rows[i][:len(b)+1]
	}
	prev2, prev, cur := rows[0], rows[1], rows[2]
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}

// within reports whether a problem was already found at n or inside it.
func (l ErrorList) within(n *yaml.Node) bool {
	if n == nil {
		return false
	}
	at := map[Pos]bool{}
	var walk func(*yaml.Node)
	walk = func(m *yaml.Node) {
		at[posOf(m)] = true
		for _, c := range m.Content {
			walk(c)
		}
	}
	walk(n)
	for _, e := range l {
		if at[e.Pos] {
			return true
		}
	}
	return false
}
