package probe_test

import (
	"context"
	"testing"
	"time"

	"github.com/gamedayhq/chaos/internal/probe"
)

// An exec probe whose command cannot start is no observation: Err is set.
// One that ran and failed is a failed observation.
func TestExecProbeCannotStart(t *testing.T) {
	spec, expect := newExec(t, "/nonexistent/cmd")
	res := probe.Run(context.Background(), "exec", spec, expect)
	if res.OK || res.Err == nil {
		t.Errorf("Run(missing command) = %+v; want an error", res)
	}
	spec, expect = newExec(t, "false")
	res = probe.Run(context.Background(), "exec", spec, expect)
	if res.OK || res.Err != nil || res.Reason != "exit code 1, want == 0" {
		t.Errorf("Run(false) = %+v; want a failed observation", res)
	}
	if got := probe.Limit(spec); got != 10*time.Second {
		t.Errorf("Limit(exec) = %s; want its default timeout, 10s", got)
	}
}

func newExec(t *testing.T, run string) (any, any) {
	t.Helper()
	k, ok := probe.Lookup("exec")
	if !ok {
		t.Fatal("no exec probe")
	}
	spec, expect := k.New()
	spec.(*probe.ExecSpec).SetDefaults()
	spec.(*probe.ExecSpec).Run = []string{run}
	return spec, expect
}
