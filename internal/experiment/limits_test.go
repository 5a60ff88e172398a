package experiment_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"strings"
	"syscall"
	"testing"
	"testing/iotest"
	"time"
	"unicode/utf16"

	"github.com/gamedayhq/chaos/internal/experiment"
	"gopkg.in/yaml.v3"
)

const minimal = "version: v1\ntitle: hostile\nmethod: [{wait: 1s}]\n"

// fill repeats item after head until the text is as long as it can be
// without passing size, or item returns "", then adds tail.
func fill(size int, head, tail string, item func(i int) string) []byte {
	var b bytes.Buffer
	b.WriteString(head)
	for i := 0; ; i++ {
		s := item(i)
		if s == "" || b.Len()+len(s)+len(tail) > size {
			break
		}
		b.WriteString(s)
	}
	b.WriteString(tail)
	return b.Bytes()
}

// hostile inputs, each built to a size: the shapes that cost the loader the
// most per byte, or that cost the old loader more than linear time.
var hostile = []struct {
	name string
	gen  func(size int) []byte
}{
	// Aliases of aliases: 9^8 values from a few hundred bytes.
	{"alias-bomb", func(int) []byte {
		s := minimal + "tags:\n - &a [x, x, x, x, x, x, x, x, x]\n"
		for c, prev := 'b', 'a'; c <= 'i'; c, prev = c+1, c {
			s += fmt.Sprintf(" - &%c [*%c, *%c, *%c, *%c, *%c, *%c, *%c, *%c, *%c]\n", c, prev, prev, prev, prev, prev, prev, prev, prev, prev)
		}
		return []byte(s)
	}},
	// Mappings of aliases of mappings, doubling at each level.
	{"alias-chain", func(int) []byte {
		s := minimal + "x:\n  a0: &a0 {k: x}\n"
		for i := 1; i < 40; i++ {
			s += fmt.Sprintf("  a%d: &a%d {a: *a%d, b: *a%d}\n", i, i, i-1, i-1)
		}
		return []byte(s)
	}},
	// Merge keys that each merge eight of the level below.
	{"merge-chain", func(int) []byte {
		s := minimal + "x:\n  a0: &a0 {k0: x, k1: x, k2: x, k3: x}\n"
		for i := 1; i < 30; i++ {
			s += fmt.Sprintf("  a%d: &a%d {<<: [*a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d]}\n", i, i, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1)
		}
		return []byte(s)
	}},
	// Aliases that stay just under what they may repeat: headers of 1000
	// values reused by 99 checks, the largest document aliases can make.
	{"aliases-at-limit", func(size int) []byte {
		var b strings.Builder
		b.WriteString(minimal + "steady_state:\n  - name: c0\n    probe: {http: {url: \"http://127.0.0.1:1/\", headers: &h {")
		for i := range 499 {
			fmt.Fprintf(&b, "k%d: v, ", i)
		}
		b.WriteString("}}}\n")
		return fill(size, b.String(), "", func(i int) string {
			if i >= experiment.MaxAliasValues/999 {
				return ""
			}
			return fmt.Sprintf("  - {name: c%d, probe: {http: {url: \"http://127.0.0.1:1/\", headers: *h}}}\n", i+1)
		})
	}},
	{"deep-flow", func(size int) []byte {
		return fill(size, minimal+"x: ", "", func(int) string { return "[" })
	}},
	{"deep-block", func(size int) []byte {
		return fill(size, minimal+"x:\n", "", func(i int) string { return strings.Repeat(" ", i+1) + "- \n" })
	}},
	{"nest-at-limit", func(int) []byte {
		return []byte(minimal + "x: " + strings.Repeat("[", experiment.MaxDepth-1) + strings.Repeat("]", experiment.MaxDepth-1) + "\n")
	}},
	// The most values per byte: a flow list of one-letter items.
	{"flow-list", func(size int) []byte {
		return fill(size, minimal+"tags: [", "]\n", func(int) string { return "a," })
	}},
	{"block-list", func(size int) []byte {
		return fill(size, minimal+"tags:\n", "", func(int) string { return "- a\n" })
	}},
	{"long-scalar", func(size int) []byte {
		return fill(size, minimal+"description: ", "\n", func(int) string { return "lorem ipsum " })
	}},
	// A valid experiment that is nothing but checks.
	{"many-checks", func(size int) []byte {
		return fill(size, minimal+"steady_state:\n", "", func(i int) string {
			return fmt.Sprintf("  - {name: c%d, probe: {exec: {run: [a]}}}\n", i)
		})
	}},
	// Mistakes whose messages search the file's own names for the one
	// meant: each search is as long as the file.
	{"unknown-keys", func(size int) []byte {
		return fill(size, minimal, "", func(i int) string { return fmt.Sprintf("k%d: v\n", i) })
	}},
	{"undefined-vars", func(size int) []byte {
		vars := fill(size/2, "vars:\n", "", func(i int) string { return fmt.Sprintf("  v%d: x\n", i) })
		return fill(size, minimal+string(vars)+"tags:\n", "", func(i int) string { return fmt.Sprintf("  - ${w%d}\n", i) })
	}},
	{"undefined-targets", func(size int) []byte {
		ts := fill(size/2, "targets:\n", "", func(i int) string { return fmt.Sprintf("  t%d: {process: {pid: 1}}\n", i) })
		return fill(size, "version: v1\ntitle: x\n"+string(ts)+"method:\n", "", func(i int) string {
			return fmt.Sprintf("  - {fault: stop, target: u%d}\n", i)
		})
	}},
	{"unnamed-steps", func(size int) []byte {
		return fill(size, "version: v1\ntitle: x\nmethod:\n", "", func(int) string { return "  - wait: 1s\n" })
	}},
	// A long value substituted many times.
	{"substitution", func(size int) []byte {
		head := minimal + "vars:\n  a: " + strings.Repeat("x", size/2) + "\ntags:\n"
		return fill(size, head, "", func(int) string { return "- ${a}\n" })
	}},
	// A syntax error far below the line yaml.v3 names.
	{"syntax-error-far", func(size int) []byte {
		return fill(size, minimal+"x:\n", "  - c\n", func(int) string { return "  a: b\n" })
	}},
	{"control-character-late", func(size int) []byte {
		return fill(size, minimal+"tags:\n", "- \x01\n", func(int) string { return "- a\n" })
	}},
}

// hostileInput returns the named hostile input at a size.
func hostileInput(name string, size int) []byte {
	for _, h := range hostile {
		if h.name == name {
			return h.gen(size)
		}
	}
	panic("no hostile input " + name)
}

// loadCost parses src and returns the bytes allocated meanwhile, which is
// more than the most memory held at once. It reads the runtime's count of
// allocated bytes, which unlike runtime.ReadMemStats does not stop the
// world: the fuzzer calls it for every input.
func loadCost(src []byte) (allocated uint64, err error) {
	sample := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	metrics.Read(sample)
	before := sample[0].Value.Uint64()
	_, err = experiment.Parse("fuzz.yaml", src, opts())
	metrics.Read(sample)
	return sample[0].Value.Uint64() - before, err
}

// Whatever a file under the size limit holds, loading it allocates less
// than half the 256 MiB the loader may use, and a file four times longer
// costs at most about four times more: the loader is linear in its input.
// (The time each shape takes is measured by BenchmarkHostile.)
func TestHostileInputsBounded(t *testing.T) {
	const most = 128 << 20
	for _, h := range hostile {
		t.Run(h.name, func(t *testing.T) {
			src := h.gen(experiment.MaxFileSize)
			if len(src) > experiment.MaxFileSize {
				t.Fatalf("the input is %d bytes, more than the limit", len(src))
			}
			full, err := loadCost(src)
			if full > most {
				t.Errorf("loading %d bytes allocated %d MiB, more than %d MiB", len(src), full>>20, most>>20)
			}
			if err != nil {
				for _, line := range strings.Split(err.Error(), "\n") {
					if !strings.HasPrefix(line, "fuzz.yaml:") {
						t.Errorf("a problem without the file's name: %q", line)
					}
				}
			}
			quarter, _ := loadCost(h.gen(experiment.MaxFileSize / 4))
			if full > 6*quarter+1<<20 {
				t.Errorf("four times the input allocated %.1f times the memory (%d KiB, then %d KiB): more than linear", float64(full)/float64(quarter), quarter>>10, full>>10)
			}
		})
	}
}

// BenchmarkHostile loads each hostile input at the size limit, next to
// yaml.v3 parsing the same bytes (the floor under any loader built on it).
func BenchmarkHostile(b *testing.B) {
	o := opts()
	for _, h := range hostile {
		src := h.gen(experiment.MaxFileSize)
		b.Run(h.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(src)))
			for b.Loop() {
				experiment.Parse("hostile.yaml", src, o)
			}
		})
		b.Run(h.name+"/yaml", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(src)))
			for b.Loop() {
				var n yaml.Node
				yaml.Unmarshal(src, &n)
			}
		})
	}
}

func TestAliasLimits(t *testing.T) {
	tests := []struct {
		name, src, want string
	}{
		{"bomb", string(hostileInput("alias-bomb", 0)), "hostile.yaml:10:8: alias *e repeats 66430 values: with the aliases before it, more than the 100000 values an experiment may repeat through aliases"},
		{"chain", string(hostileInput("alias-chain", 0)), "hostile.yaml:19:17: alias *a13 repeats 49149 values"},
		{"merge", string(hostileInput("merge-chain", 0)), "hostile.yaml:6:12: merge keys (<<) are not supported: write the keys out, or use an alias for the whole mapping"},
		{"self", minimal + "tags: &a [x, *a]\n", "hostile.yaml:4:14: alias *a refers to itself"},
		{"deep", minimal + "x: " + strings.Repeat("[", experiment.MaxDepth) + strings.Repeat("]", experiment.MaxDepth) + "\n", "hostile.yaml:4:1003: the experiment nests more than 1000 levels deep here"},
		{"deep-alias", minimal + "x: &a " + strings.Repeat("[", 600) + strings.Repeat("]", 600) + "\ny: " + strings.Repeat("[", 500) + "*a" + strings.Repeat("]", 500) + "\n", "hostile.yaml:5:504: alias *a nests the experiment more than 1000 levels deep"},
	}
	for _, tt := range tests {
		_, err := experiment.Parse("hostile.yaml", []byte(tt.src), opts())
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: Parse = %v; want %q", tt.name, err, tt.want)
		}
	}

	// Anchors reused as experiments reuse them load, and what an alias
	// stands for is decoded in each place.
	src := `version: v1
title: reuse
steady_state:
  - name: one
    probe: {http: {url: "http://127.0.0.1:1/", headers: &h {A: "1", B: "2"}}}
  - name: two
    probe: {http: {url: "http://127.0.0.1:2/", headers: *h}}
  - name: three
    probe: {http: {url: "http://127.0.0.1:3/", headers: *h}}
`
	e, err := experiment.Parse("reuse.yaml", []byte(src), opts())
	if err != nil {
		t.Fatal(err)
	}
	if len(e.SteadyState) != 3 {
		t.Fatalf("%d checks, want 3", len(e.SteadyState))
	}
}

func TestFileSizeLimit(t *testing.T) {
	// A valid experiment one byte too long: its padding is a comment.
	pad := func(n int) []byte {
		src := []byte(minimal + "# ")
		src = append(src, bytes.Repeat([]byte("x"), n-len(src)-1)...)
		return append(src, '\n')
	}
	if _, err := experiment.Parse("big.yaml", pad(experiment.MaxFileSize), opts()); err != nil {
		t.Errorf("a file of exactly the limit: %v", err)
	}
	_, err := experiment.Parse("big.yaml", pad(experiment.MaxFileSize+1), opts())
	if want := "big.yaml:4:262097: the file is larger than 256 KiB, the most an experiment file may be"; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("a file over the limit: %v; want %q", err, want)
	}

	// Load reads no more than the limit and a byte: a 64 MiB file is
	// refused having read 256 KiB.
	dir := t.TempDir()
	huge := filepath.Join(dir, "huge.yaml")
	f, err := os.Create(huge)
	if err != nil {
		t.Fatal(err)
	}
	f.Write(pad(experiment.MaxFileSize))
	f.Truncate(64 << 20)
	f.Close()
	allocated, err := func() (uint64, error) {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_, err := experiment.Load(huge, opts())
		runtime.ReadMemStats(&after)
		return after.TotalAlloc - before.TotalAlloc, err
	}()
	if err == nil || !strings.Contains(err.Error(), "the file is larger than 256 KiB") {
		t.Errorf("Load of a 64 MiB file: %v", err)
	}
	if allocated > 8<<20 {
		t.Errorf("Load of a 64 MiB file allocated %d MiB", allocated>>20)
	}
}

// What is not a regular file is refused before it is read: a directory, a
// named pipe (which would wait for a writer), a device such as /dev/zero
// (which never ends), a loop of symbolic links.
func TestLoadRefusesWhatIsNotAFile(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo.yaml")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	loop := filepath.Join(dir, "loop.yaml")
	os.Symlink(filepath.Join(dir, "loop2.yaml"), loop)
	os.Symlink(loop, filepath.Join(dir, "loop2.yaml"))
	tests := []struct{ path, want string }{
		{dir, dir + " is a directory: give the experiment files in it, such as " + dir + "/*.yaml"},
		{fifo, fifo + " is a named pipe, not a file: give an experiment file"},
		{"/dev/zero", "/dev/zero is a device, not a file: give an experiment file"},
		{loop, loop + ": its symbolic links form a loop"},
		{filepath.Join(dir, "missing.yaml"), "missing.yaml does not exist"},
	}
	for _, tt := range tests {
		done := make(chan error, 1)
		go func() {
			_, err := experiment.Load(tt.path, opts())
			done <- err
		}()
		select {
		case err := <-done:
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Load(%s) = %v; want %q", tt.path, err, tt.want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("Load(%s) has not returned after 10s", tt.path)
		}
	}
}

// Bytes YAML does not take are named at their line and column.
func TestUnreadableBytesHavePositions(t *testing.T) {
	tests := []struct{ src, want string }{
		{"version: v1\ntitle: \"a\x00b\"\n", "bytes.yaml:2:10: invalid YAML: control characters are not allowed"},
		{"version: v1\ntitle: ab\xffc\n", "bytes.yaml:2:10: invalid YAML: invalid leading UTF-8 octet"},
		{"version: v1\ntitle: é\x1b\n", "bytes.yaml:2:9: invalid YAML: control characters are not allowed"},
	}
	for _, tt := range tests {
		_, err := experiment.Parse("bytes.yaml", []byte(tt.src), opts())
		if err == nil || err.Error() != tt.want {
			t.Errorf("Parse(%q) = %v; want %q", tt.src, err, tt.want)
		}
	}
}

// A syntax error many lines below the line yaml.v3 names is found at its
// own line, with a few parses rather than one per line.
func TestSyntaxErrorFarBelow(t *testing.T) {
	src := minimal + "x:\n" + strings.Repeat("  a: b\n", 2000) + "  - c\n"
	_, err := experiment.Parse("far.yaml", []byte(src), opts())
	if want := "far.yaml:2005:3: invalid YAML: did not find expected key"; err == nil || err.Error() != want {
		t.Errorf("Parse = %v; want %q", err, want)
	}
}

// Past 100 problems a file's problems are counted, not listed: describing
// each searches the file's own names.
func TestProblemsListedAtMost100(t *testing.T) {
	src := fill(1<<20, minimal, "", func(i int) string {
		if i == 150 {
			return ""
		}
		return fmt.Sprintf("k%d: v\n", i)
	})
	_, err := experiment.Parse("many.yaml", src, opts())
	var list experiment.ErrorList
	if !errors.As(err, &list) {
		t.Fatalf("Parse = %v", err)
	}
	if len(list) != 101 || list.Count() != 150 {
		t.Errorf("%d lines for %d problems; want 101 lines for 150", len(list), list.Count())
	}
	if got, want := list[len(list)-1].Error(), "many.yaml: 50 more problems are not listed: fix the ones above first"; got != want {
		t.Errorf("last line %q; want %q", got, want)
	}
}

// Variables cannot multiply the file: past 4 MiB of substituted text the
// loader stops, once, at the reference that went past.
func TestSubstitutionLimit(t *testing.T) {
	src := hostileInput("substitution", experiment.MaxFileSize)
	_, err := experiment.Parse("subst.yaml", src, opts())
	var list experiment.ErrorList
	if !errors.As(err, &list) || len(list) != 1 {
		t.Fatalf("Parse = %v; want one problem", err)
	}
	if want := "${a} (131072 bytes) brings the text substituted for variables to more than 4 MiB in all"; !strings.Contains(list[0].Error(), want) {
		t.Errorf("Parse = %v; want %q", list[0], want)
	}
}

func TestMasker(t *testing.T) {
	e := &experiment.Experiment{Secrets: []string{"abcd", "abcdef", `p"q\r`, "xyz"}}
	m := e.Masker()
	for _, tt := range []struct{ in, want string }{
		{"key abcdefgh and abcd", "key ***gh and ***"},
		{`{"token":"p\"q\\r"} p"q\r`, `{"token":"***"} ***`},
		{"xyz is too short to be masked", "xyz is too short to be masked"},
	} {
		if got := m.Replace(tt.in); got != tt.want {
			t.Errorf("Replace(%q) = %q; want %q", tt.in, got, tt.want)
		}
	}
}

// TestMaskerEncodings masks a secret in the forms outputs show it in: a
// JSON encoder that leaves < and & alone (the dry run's), a %q in a
// message, a URL in net/http's errors, a Pushgateway label in base64.
func TestMaskerEncodings(t *testing.T) {
	const secret = `pa"ss <w0rd>/&`
	m := (&experiment.Experiment{Secrets: []string{secret}}).Masker()
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.Encode(map[string]string{"X-Key": secret})
	html, _ := json.Marshal(secret)
	u := &url.URL{Scheme: "http", Host: "127.0.0.1:1", Path: "/p/" + secret, RawQuery: "k=" + url.QueryEscape(secret)}
	for _, text := range []string{
		b.String(),
		string(html),
		fmt.Sprintf("url %q: invalid", "http://"+secret),
		fmt.Sprintf("Get %q: EOF", u.String()),
		"/metrics/job/chaos/team@base64/" + base64.RawURLEncoding.EncodeToString([]byte(secret)),
		"Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte(secret+":x")),
	} {
		got := m.Replace(text)
		for _, leak := range []string{"w0rd", "pa%22ss", "cGEic3Mg"} {
			if strings.Contains(got, leak) {
				t.Errorf("Replace(%s) = %s: the secret shows", text, got)
			}
		}
		if !strings.Contains(got, experiment.Mask) {
			t.Errorf("Replace(%s) = %s: nothing masked", text, got)
		}
	}
}

// TestMaskerCopy masks a stream read in pieces of every size as a whole:
// a secret cut between two reads is masked too.
func TestMaskerCopy(t *testing.T) {
	m := experiment.NewMasker([]string{"abcd", "cdef", "efgh", "xyzw"})
	rng := rand.New(rand.NewPCG(1, 2))
	var b strings.Builder
	for range 20000 {
		b.WriteByte("abcdefghxyzw\n"[rng.IntN(13)])
	}
	text := "start abcd, cdef, abcdefgh and xyzw\n" + b.String()
	var whole strings.Builder
	if err := m.Copy(&whole, strings.NewReader(text)); err != nil {
		t.Fatal(err)
	}
	if want := "start ***, ***, *** and ***\n"; !strings.HasPrefix(whole.String(), want) {
		t.Errorf("Copy = %.40q; want it to begin %q", whole.String(), want)
	}
	for _, secret := range []string{"abcd", "cdef", "efgh", "xyzw"} {
		if strings.Contains(whole.String(), secret) {
			t.Errorf("Copy left %q", secret)
		}
	}
	for _, r := range []io.Reader{iotest.OneByteReader(strings.NewReader(text)), iotest.HalfReader(strings.NewReader(text)), iotest.DataErrReader(strings.NewReader(text))} {
		var got strings.Builder
		if err := m.Copy(&got, r); err != nil {
			t.Fatal(err)
		}
		if got.String() != whole.String() {
			t.Errorf("Copy read in pieces differs from Copy read whole")
		}
	}
}

// BenchmarkMasker masks a megabyte of text that nearly matches two 64 KiB
// secrets at every position (strings.Replacer took 1.2 s), next to one
// search for one of them.
func BenchmarkMasker(b *testing.B) {
	s1, s2 := strings.Repeat("a", 64<<10)+"b", strings.Repeat("a", 64<<10)+"c"
	text := strings.Repeat("a", 1<<20)
	b.Run("masker", func(b *testing.B) {
		m := (&experiment.Experiment{Secrets: []string{s1, s2}}).Masker()
		b.SetBytes(int64(len(text)))
		for b.Loop() {
			m.Replace(text)
		}
	})
	b.Run("search", func(b *testing.B) {
		b.SetBytes(int64(len(text)))
		for b.Loop() {
			strings.Contains(text, s1)
		}
	})
}

// An IPv6 address in a flow mapping is a YAML error of its own kind; the
// message says to quote it, and says nothing of it where it is quoted or
// in block style.
func TestUnquotedIPv6InFlowIsExplained(t *testing.T) {
	hint := `must be quoted, as in {host: "::1"}`
	_, err := experiment.Parse("v6.yaml", []byte(minimal+"x: {host: ::1, port: 9}\n"), opts())
	if err == nil || !strings.Contains(err.Error(), "v6.yaml:") || !strings.Contains(err.Error(), hint) {
		t.Errorf("Parse(unquoted ::1 in { }) = %v; want the hint %q", err, hint)
	}
	for _, src := range []string{"x: {a: b c}}\n# \"::1\"\n", "x: {host: \"::1\"}}\n"} {
		if _, err := experiment.Parse("v6.yaml", []byte(minimal+src), opts()); err == nil || strings.Contains(err.Error(), hint) {
			t.Errorf("Parse(%q) = %v; want an error without the hint", src, err)
		}
	}
}

// A syntax error on the first line, which yaml.v3 tells without a line,
// and an alias of an anchor that does not exist, which it always tells
// without one, are named at their line.
func TestSyntaxErrorsWithoutALineFromYAML(t *testing.T) {
	tests := []struct{ src, want string }{
		{`"`, "first.yaml:1:1: invalid YAML: found unexpected end of stream"},
		{`"" 00`, "first.yaml:1:1: invalid YAML: did not find expected <document start>"},
		{"\"\"\"\n\"", "first.yaml:1: invalid YAML: did not find expected <document start>"},
		{"title: 'abc\nversion: v1\nmethod:\n  - {wait: 1s}\n", "first.yaml:1:1: invalid YAML: found unexpected end of stream"},
		{"a: b: c\nversion: v1\n", "first.yaml:1:1: invalid YAML: mapping values are not allowed in this context"},
		{"@x: 1\nversion: v1\n", "first.yaml:1:1: invalid YAML: found character that cannot start any token"},
		{minimal + "rollbacks: *steps\n", "first.yaml:4:12: invalid YAML: unknown anchor 'steps' referenced"},
		{minimal + "method:\n  - {wait: 1s}\n  - *w\n", "first.yaml:6:5: invalid YAML: unknown anchor 'w' referenced"},
		{"title: \"a\n  b\"\nversion: v1\nmethod: [{wait: 1s}, *w]\n", "first.yaml:4:22: invalid YAML: unknown anchor 'w' referenced"},
	}
	for _, tt := range tests {
		_, err := experiment.Parse("first.yaml", []byte(tt.src), opts())
		if err == nil || err.Error() != tt.want {
			t.Errorf("Parse(%q) = %v; want %q", tt.src, err, tt.want)
		}
	}
}

// A ${NAME} unquoted in a flow mapping or list is a YAML error (its { is
// a bracket there); the message says to quote it, at the reference.
func TestUnquotedReferenceInFlowIsExplained(t *testing.T) {
	hint := `a ${NAME} inside { } or [ ] must be quoted, as in {delay: "${d}"}`
	for _, tt := range []struct{ src, pos string }{
		{minimal + "x: {delay: ${d}}\n", "ref.yaml:4:12: "},
		{minimal + "x: [echo, \"${a}\", ${b}]\n", "ref.yaml:4:19: "},
	} {
		_, err := experiment.Parse("ref.yaml", []byte(tt.src), opts())
		if err == nil || !strings.HasPrefix(err.Error(), tt.pos) || !strings.Contains(err.Error(), hint) {
			t.Errorf("Parse(%q) = %v; want %q and the hint %q", tt.src, err, tt.pos, hint)
		}
	}
	for _, src := range []string{"x: {a: b c}}\n# ${x}\n", "x: {a: \"${x}\"}}\n"} {
		if _, err := experiment.Parse("ref.yaml", []byte(minimal+src), opts()); err == nil || strings.Contains(err.Error(), hint) {
			t.Errorf("Parse(%q) = %v; want an error without the hint", src, err)
		}
	}
}

// Steps whose planned lengths add up past the longest duration are
// refused at the step that goes past: the sum wrapped to a negative
// length, and the plan said the method ends at "+-1h34m33s".
func TestPlannedLengthOverflow(t *testing.T) {
	src := "version: v1\ntitle: long\nmethod:\n  - {wait: 2562047h}\n  - {wait: 1h}\nrollbacks:\n  - {wait: 2000000h}\n  - {wait: 2000000h}\n"
	_, err := experiment.Parse("long.yaml", []byte(src), opts())
	want := "long.yaml:5:5: step \"wait 1h0m0s\": with it, the method's steps are planned to last more than the longest duration, 2562047h\n" +
		"long.yaml:8:5: step \"wait 2000000h0m0s (2)\": with it, the rollbacks are planned to last more than the longest duration, 2562047h"
	if err == nil || err.Error() != want {
		t.Errorf("Parse = %v; want %q", err, want)
	}
}

// A file in UTF-16 with a byte order mark, as some Windows editors and
// shells write, is read as its text: its problems, syntax errors too, are
// named at their line and column in characters. One without the mark is
// told to be saved as UTF-8, and broken UTF-16 is named where it breaks.
func TestUTF16(t *testing.T) {
	utf16Of := func(s string, bigEndian bool) []byte {
		out := []byte{0xFF, 0xFE}
		if bigEndian {
			out = []byte{0xFE, 0xFF}
		}
		for _, u := range utf16.Encode([]rune(s)) {
			if bigEndian {
				out = append(out, byte(u>>8), byte(u))
			} else {
				out = append(out, byte(u), byte(u>>8))
			}
		}
		return out
	}
	for _, be := range []bool{false, true} {
		if _, err := experiment.Parse("u16.yaml", utf16Of("version: v1\ntitle: \"été 𝄞\"\nmethod: [{wait: 1s}]\n", be), opts()); err != nil {
			t.Errorf("valid UTF-16 (big endian %v): %v", be, err)
		}
		_, err := experiment.Parse("u16.yaml", utf16Of("version: v1\ntitle: é\nmethod:\n  - {wait: 1s\n", be), opts())
		if want := "u16.yaml:4:5: invalid YAML: did not find expected ',' or '}'"; err == nil || err.Error() != want {
			t.Errorf("syntax error in UTF-16 (big endian %v): %v; want %q", be, err, want)
		}
	}
	broken := append(utf16Of("version: v1\ntitle: ab", false), 0x00, 0xD8, 'c', 0)
	_, err := experiment.Parse("u16.yaml", broken, opts())
	if want := "u16.yaml:2:10: invalid YAML: broken UTF-16: a surrogate half without its pair"; err == nil || err.Error() != want {
		t.Errorf("broken UTF-16: %v; want %q", err, want)
	}
	noMark := utf16Of("version: v1\n", false)[2:]
	_, err = experiment.Parse("u16.yaml", noMark, opts())
	if want := "u16.yaml:1:2: invalid YAML: control characters are not allowed: the file looks like UTF-16 without a byte order mark; save it as UTF-8"; err == nil || err.Error() != want {
		t.Errorf("UTF-16 without a mark: %v; want %q", err, want)
	}
}

// A tab that indents a list item is told by yaml.v3 as a character that
// cannot start any token; the message says it is a tab, at its column.
func TestTabIndentIsExplained(t *testing.T) {
	for _, tt := range []struct{ src, want string }{
		{minimal + "rollbacks:\n\t- {wait: 1s}\n", "tab.yaml:5:1: invalid YAML: found character that cannot start any token: a tab: YAML indents with spaces only"},
		{minimal + "rollbacks:\n  \t- {wait: 1s}\n", "tab.yaml:5:3: invalid YAML: found character that cannot start any token: a tab: YAML indents with spaces only"},
	} {
		_, err := experiment.Parse("tab.yaml", []byte(tt.src), opts())
		if err == nil || err.Error() != tt.want {
			t.Errorf("Parse(%q) = %v; want %q", tt.src, err, tt.want)
		}
	}
	if _, err := experiment.Parse("tab.yaml", []byte(minimal+"x: @y\n"), opts()); err == nil || strings.Contains(err.Error(), "a tab") {
		t.Errorf("Parse(x: @y) = %v; want an error that says nothing of tabs", err)
	}
}
