package load

import (
	"fmt"
	"net/http"
	"slices"
	"sync"

	"github.com/gamedayhq/chaos/internal/experiment"
)

// Kind is a kind of load stream: what one request is. An experiment names
// it as the key of the request's settings in a stream, such as http: or
// exec:.
type Kind struct {
	Name string
	// New returns a pointer to new settings for the kind, which the
	// experiment loader decodes into.
	New func() any
	// Configure makes s send requests as the settings say: it sets its
	// HTTP request or its Sender.
	Configure func(s *Stream, spec any) error
	// Doc describes the kind for the schema and the reference; Example is
	// the kind's settings, the value of its key in a stream.
	Doc experiment.Doc
}

var (
	kindsMu sync.RWMutex
	kinds   = map[string]*Kind{}
)

// RegisterKind adds a stream kind; it panics on a duplicate.
func RegisterKind(k Kind) {
	kindsMu.Lock()
	defer kindsMu.Unlock()
	if kinds[k.Name] != nil {
		panic("load: stream kind registered twice: " + k.Name)
	}
	kinds[k.Name] = &k
}

// LookupKind returns a stream kind.
func LookupKind(name string) (*Kind, bool) {
	kindsMu.RLock()
	defer kindsMu.RUnlock()
	k, ok := kinds[name]
	return k, ok
}

// Kinds lists the stream kinds, sorted.
func Kinds() []string {
	kindsMu.RLock()
	defer kindsMu.RUnlock()
	var out []string
	for k := range kinds {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// Configure makes s send requests of the kind with the settings.
func Configure(s *Stream, kind string, spec any) error {
	k, ok := LookupKind(kind)
	if !ok {
		return fmt.Errorf("unknown load stream kind %q", kind)
	}
	return k.Configure(s, spec)
}

func init() {
	RegisterKind(Kind{
		Name: "http",
		New:  func() any { return &experiment.HTTPRequest{} },
		Doc: experiment.Doc{
			Summary: "Each request is an HTTP request; it succeeds with a status in success (default: any 2xx or 3xx). The url, headers and body may use ${seq} (the request's number) and ${uuid} (new for each request).",
			Example: "{url: \"http://127.0.0.1:8080/cart/42\"}",
		},
		Configure: func(s *Stream, spec any) error {
			r := spec.(*experiment.HTTPRequest)
			h := http.Header{}
			for k, v := range r.Headers {
				h.Set(k, v)
			}
			s.Method, s.URL, s.Header, s.Body = r.Method, r.URL, h, r.Body
			return nil
		},
	})
}
