package runner

import "testing"

func TestExpectTextReadsLikeTheFile(t *testing.T) {
	type expect struct {
		Status []string          `json:"status"`
		JSON   map[string]string `json:"json"`
		Body   string            `json:"body_contains"`
	}
	got := expectText(&expect{
		Status: []string{"200", "202"},
		JSON:   map[string]string{"orders": "> 0", "double_charged": `"0"`},
		Body:   "<ok>",
	})
	want := map[string]string{"status": "200, 202", "json": "{double_charged 0, orders > 0}", "body_contains": "<ok>"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %q; want %q", k, got[k], v)
		}
	}
}
