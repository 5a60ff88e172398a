package probe

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"

	"github.com/gamedayhq/chaos/internal/load"
)

type maskKey struct{}

// WithMask makes the probes run with the context it returns mask what
// they quote of an output (a body, stdout, stderr) before they cut it
// short: a secret cut in two is no longer there to be masked whole.
func WithMask(ctx context.Context, mask func(string) string) context.Context {
	return context.WithValue(ctx, maskKey{}, mask)
}

// maskOf is the mask the probes run with ctx apply.
func maskOf(ctx context.Context) func(string) string {
	if m, ok := ctx.Value(maskKey{}).(func(string) string); ok {
		return m
	}
	return func(s string) string { return s }
}

// describe names a network error the way people say it, by the same
// classes load streams count errors in.
func describe(err error) string {
	switch load.Classify(err) {
	case load.ClassTimeout:
		return "timed out"
	case load.ClassRefused:
		return "connection refused"
	case load.ClassReset:
		return "connection reset"
	}
	if errors.Is(err, context.Canceled) {
		return "canceled"
	}
	return err.Error()
}

// JSONPath finds a dotted path such as items.0.id in a decoded JSON value
// and returns it as text.
func JSONPath(doc any, path string) (string, bool) {
	cur := doc
	for _, part := range strings.Split(path, ".") {
		switch v := cur.(type) {
		case map[string]any:
			next, ok := v[part]
			if !ok {
				return "", false
			}
			cur = next
		case []any:
			i, err := strconv.Atoi(part)
			if err != nil || i < 0 || i >= len(v) {
				return "", false
			}
			cur = v[i]
		default:
			return "", false
		}
	}
	return jsonText(cur), true
}

func jsonText(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	case nil:
		return "null"
	}
	b, _ := json.Marshal(v)
	return string(b)
}
