package swarm

import "testing"

func TestParseReplicaCond(t *testing.T) {
	for _, c := range []struct {
		in               string
		running, desired int
		want             bool
	}{
		{"== desired", 3, 3, true},
		{"== desired", 2, 3, false},
		{"desired", 0, 0, true},
		{">= 2", 2, 3, true},
		{">= 2", 1, 3, false},
		{"3", 3, 0, true},
		{"3", 2, 3, false},
		{"< desired", 2, 3, true},
		{"!= 0", 0, 3, false},
	} {
		cond, err := ParseReplicaCond(c.in)
		if err != nil {
			t.Fatalf("ParseReplicaCond(%q): %v", c.in, err)
		}
		if got := cond.Holds(c.running, c.desired); got != c.want {
			t.Errorf("ParseReplicaCond(%q).Holds(%d, %d) = %v; want %v", c.in, c.running, c.desired, got, c.want)
		}
	}
	for _, bad := range []string{"", "==", "lots", "-1", ">= desire", "2.5"} {
		if _, err := ParseReplicaCond(bad); err == nil {
			t.Errorf("ParseReplicaCond(%q) = nil error; want one", bad)
		}
	}
}

func TestJudgeNamesEveryFailingService(t *testing.T) {
	cond, _ := ParseReplicaCond("== desired")
	obs, reason := judge([]Replicas{{Service: "a", Running: 3, Desired: 3}, {Service: "b", Running: 1, Desired: 2}}, cond, Selector{Stack: "s"})
	if obs["a.replicas"] != "3/3" || obs["b.replicas"] != "1/2" {
		t.Errorf("judge observed %v; want a.replicas 3/3 and b.replicas 1/2", obs)
	}
	if want := "service b runs 1 of 2 replicas, want == desired"; reason != want {
		t.Errorf("judge reason = %q; want %q", reason, want)
	}
	if _, reason := judge(nil, cond, Selector{Service: "x"}); reason == "" {
		t.Error("judge of no service holds; want a reason")
	}
}
