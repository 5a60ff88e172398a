package experiment

import (
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
)

// ExpectText writes a check's expectations as a person reads them, by key:
// "< 300ms" for p99, "200, 201" for a status list. The journal records
// them so; journal.ExpectLine puts them on one line.
func ExpectText(e any) map[string]string {
	out := map[string]string{}
	if e == nil || reflect.ValueOf(e).IsNil() {
		return out
	}
	b, err := json.Marshal(e)
	if err != nil {
		return out
	}
	var m map[string]any
	if json.Unmarshal(b, &m) != nil {
		return out
	}
	for k, v := range m {
		out[k] = humanValue(v)
	}
	return out
}

// humanValue writes a decoded JSON value as a person reads an expectation:
// {orders > 0, paid 3} for a JSON matcher, 200, 201 for a status list.
func humanValue(v any) string {
	switch x := v.(type) {
	case string:
		// A literal the matcher compares for equality comes quoted.
		var inner string
		if json.Unmarshal([]byte(x), &inner) == nil {
			return inner
		}
		return x
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = humanValue(e)
		}
		return strings.Join(parts, ", ")
	case map[string]any:
		keys := slices.Sorted(maps.Keys(x))
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = k + " " + humanValue(x[k])
		}
		return "{" + strings.Join(parts, ", ") + "}"
	case nil:
		return "null"
	default:
		return fmt.Sprint(x)
	}
}
