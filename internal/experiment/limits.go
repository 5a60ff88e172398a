package experiment

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// Limits on what the loader takes. An experiment file is a few kilobytes;
// these keep loading any file, however it was written, under a second and
// a few tens of megabytes, and turn what is beyond them into an error at
// its position.
const (
	// MaxFileSize is the largest experiment file read, in bytes.
	MaxFileSize = 256 << 10
	// MaxAliasValues is how many values YAML aliases may add to an
	// experiment in all: each alias adds as many as it stands for. A few
	// anchors reused a few times add hundreds; an alias bomb (aliases of
	// aliases) adds billions, and is refused at the alias that goes past.
	MaxAliasValues = 100_000
	// MaxDepth is how deeply values may nest, aliases expanded.
	MaxDepth = 1000
	// MaxSubstituted is how many bytes variable substitution may write in
	// all: a long value referenced many times would otherwise multiply.
	MaxSubstituted = 4 << 20
)

// readFile reads an experiment file, refusing what is not a regular file
// (a directory, a named pipe, a device such as /dev/zero) before reading
// it, and reading no more than one byte past MaxFileSize.
func readFile(path string) ([]byte, error) {
	// O_NONBLOCK: opening a named pipe would otherwise wait for a writer.
	// It changes nothing for the regular files that are read.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return nil, fmt.Errorf("read experiment: %s does not exist", path)
		case errors.Is(err, syscall.ELOOP):
			return nil, fmt.Errorf("read experiment: %s: its symbolic links form a loop", path)
		}
		return nil, fmt.Errorf("read experiment: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("read experiment: %w", err)
	}
	switch m := fi.Mode(); {
	case m.IsDir():
		return nil, fmt.Errorf("read experiment: %s is a directory: give the experiment files in it, such as %s/*.yaml", path, path)
	case !m.IsRegular():
		return nil, fmt.Errorf("read experiment: %s is %s, not a file: give an experiment file", path, fileKind(m))
	}
	src, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("read experiment: %w", err)
	}
	return src, nil
}

func fileKind(m fs.FileMode) string {
	switch {
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeDevice != 0:
		return "a device"
	}
	return "not a regular file"
}

// tooLarge is the error for a file over MaxFileSize, at the position where
// the limit falls.
func tooLarge(file string, src []byte) *Error {
	return &Error{File: file, Pos: offsetPos(src, MaxFileSize), Msg: fmt.Sprintf("the file is larger than %d KiB, the most an experiment file may be: split it, or move long texts into files that a command reads", MaxFileSize>>10)}
}

// offsetPos returns the line and column (in characters, from 1) of a byte
// offset in src.
func offsetPos(src []byte, off int) Pos {
	off = min(off, len(src))
	line, start := 1, 0
	for i, c := range src[:off] {
		if c == '\n' {
			line, start = line+1, i+1
		}
	}
	return Pos{Line: line, Col: utf8.RuneCount(src[start:off]) + 1}
}

// limitError is a refusal of the limits walk, at a node.
type limitError struct {
	node *yaml.Node
	msg  string
}

// sizer measures a node tree as the decoder will see it, aliases expanded,
// in time linear in the tree as parsed: what an anchored node expands to
// is counted once and remembered. Only anchored nodes can be reached twice
// (or from inside themselves), so only they are remembered.
type sizer struct {
	size    map[*yaml.Node]int // values an anchored node stands for, aliases expanded
	height  map[*yaml.Node]int // levels it nests, aliases expanded
	open    map[*yaml.Node]bool
	aliased int // values added by the aliases met so far
}

// checkLimits refuses a document that nests deeper than MaxDepth or whose
// aliases add more than MaxAliasValues values, an alias that contains
// itself, which would make every walk of the tree endless, and merge keys,
// which the decoder would take for a key named "<<".
func checkLimits(doc *yaml.Node) *limitError {
	s := &sizer{size: map[*yaml.Node]int{}, height: map[*yaml.Node]int{}, open: map[*yaml.Node]bool{}}
	_, _, err := s.walk(doc, 1)
	return err
}

// walk returns how many values n stands for and how many levels it nests;
// depth is n's own level.
func (s *sizer) walk(n *yaml.Node, depth int) (size, height int, err *limitError) {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		t := n.Alias
		if s.open[t] {
			return 0, 0, &limitError{n, fmt.Sprintf("alias *%s refers to itself", n.Value)}
		}
		size, height, err = s.walk(t, depth)
		if err != nil {
			return 0, 0, err
		}
		s.aliased += size
		switch {
		case s.aliased > MaxAliasValues:
			return 0, 0, &limitError{n, fmt.Sprintf("alias *%s repeats %d values: with the aliases before it, more than the %d values an experiment may repeat through aliases", n.Value, size, MaxAliasValues)}
		case depth-1+height > MaxDepth:
			return 0, 0, &limitError{n, fmt.Sprintf("alias *%s nests the experiment more than %d levels deep", n.Value, MaxDepth)}
		}
		return size, height, nil
	}
	anchored := n.Anchor != ""
	if h, ok := s.height[n]; ok && anchored {
		return s.size[n], h, nil
	}
	if depth > MaxDepth {
		return 0, 0, &limitError{n, fmt.Sprintf("the experiment nests more than %d levels deep here", MaxDepth)}
	}
	if anchored {
		s.open[n] = true
	}
	size = 1
	for i, c := range n.Content {
		if n.Kind == yaml.MappingNode && i%2 == 0 && c.Tag == "!!merge" {
			return 0, 0, &limitError{c, "merge keys (<<) are not supported: write the keys out, or use an alias for the whole mapping"}
		}
		cs, ch, err := s.walk(c, depth+1)
		if err != nil {
			return 0, 0, err
		}
		size += cs
		height = max(height, ch)
	}
	height++
	if anchored {
		delete(s.open, n)
		s.size[n], s.height[n] = size, height
	}
	return size, height, nil
}
