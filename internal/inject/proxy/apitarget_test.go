package proxy

import (
	"strings"
	"testing"
	"time"

	"github.com/gamedayhq/chaos/internal/experiment"
)

// Through an API, direction both is a toxic per stream, and each toxic
// picks its own share of the connections: 50% both ways would hit a
// quarter of them both ways and half of them one way. It is refused at
// validation rather than run as another fault than the file says.
func TestAPITargetRefusesAShareBothWays(t *testing.T) {
	api := &TargetSpec{API: "http://127.0.0.1:8474", Name: "link"}
	half, all := experiment.Percent(0.5), experiment.Percent(1)
	for _, tt := range []struct {
		dir     string
		percent *experiment.Percent
		target  *TargetSpec
		refused bool
	}{
		{"both", &half, api, true},
		{"both", &all, api, false},
		{"both", nil, api, false},
		{"upstream", &half, api, false},
		{"", &half, api, false},
		{"both", &half, &TargetSpec{Listen: "127.0.0.1:0", Upstream: "127.0.0.1:1"}, false},
	} {
		s := &settings[Latency]{Direction: tt.dir, Percent: tt.percent, Params: Latency{Delay: 100 * time.Millisecond}}
		err := s.CheckTarget(tt.target)
		if refused := err != nil && strings.Contains(err.Error(), "both"); refused != tt.refused {
			t.Errorf("direction %q, percent %v, api %q: CheckTarget = %v; want refused %v", tt.dir, tt.percent, tt.target.API, err, tt.refused)
		}
	}
	h := &settings[HTTPError]{Direction: "both", Percent: &half, Params: HTTPError{Status: 503}}
	if err := h.CheckTarget(api); err == nil {
		t.Error("http_error, direction both, 50% through an API: CheckTarget = nil; want refused")
	}
}
