package probe

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"

	"github.com/gamedayhq/chaos/internal/load"
)

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
