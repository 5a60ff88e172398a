package dashboard

import (
	"fmt"
	"strings"
	"testing"

	"github.com/gamedayhq/chaos/internal/experiment"
	"github.com/gamedayhq/chaos/internal/runner"
)

// TestPlanMasksSecrets: the names the dashboard shows mask the secrets
// they hold, as the events it matches them with do.
func TestPlanMasksSecrets(t *testing.T) {
	src := `version: v1
title: deploy ${env:CHAOSTEST_TOKEN}
load:
  - name: stream ${env:CHAOSTEST_TOKEN}
    exec: {run: ["true"]}
    rate: 1/s
steady_state:
  - name: check ${env:CHAOSTEST_TOKEN}
    from: stream ${env:CHAOSTEST_TOKEN}
    expect: {success: "> 50%"}
method:
  - name: wait ${env:CHAOSTEST_TOKEN}
    wait: 1s
`
	exp, err := experiment.Parse("names.yaml", []byte(src), experiment.Options{Catalog: runner.Catalog{},
		LookupEnv: func(string) (string, bool) { return "hunter2-token", true }})
	if err != nil {
		t.Fatal(err)
	}
	p := PlanOf(exp)
	if text := fmt.Sprintf("%+v", p); strings.Contains(text, "hunter2") {
		t.Errorf("plan %s shows the secret", text)
	}
	if p.Title != "deploy ***" || p.Steps[0].Name != "wait ***" || p.Checks[0].Name != "check ***" || p.Checks[0].From != "stream ***" || p.Streams[0].Name != "stream ***" {
		t.Errorf("plan %+v; want the names with the secret masked", p)
	}
}
