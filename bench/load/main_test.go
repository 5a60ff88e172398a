package main

import (
	"os"
	"strings"
	"testing"
	"time"
)

func TestMain(m *testing.M) {
	// The benchmark starts its own binary as the server; under go test
	// that binary is the test binary.
	if os.Getenv(serveEnv) != "" {
		os.Exit(serve(os.Stdout))
	}
	os.Exit(m.Run())
}

// TestShortRun runs every scenario briefly at low rates: the table is
// printed for both tools and the stall shows in p99.
func TestShortRun(t *testing.T) {
	var out strings.Builder
	c := config{Steady: time.Second, Heavy: time.Second, StallRun: 1500 * time.Millisecond, Stall: 500 * time.Millisecond, SteadyRate: 200, HeavyRate: 500, Warmup: 300 * time.Millisecond}
	// At these rates for one second the rate claim is too tight to hold on
	// a busy machine; only the stall claim is checked.
	_, err := run(c, &out)
	if err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + out.String())
	for _, want := range []string{"chaos", "vegeta", "PASS  a 500ms stall shows in p99"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q", want)
		}
	}
}
