package inject_test

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/gamedayhq/chaos/internal/experiment"
	"github.com/gamedayhq/chaos/internal/inject"
)

// spec is target settings that embed the selection, as every target
// kind's do.
type spec struct {
	experiment.Selection
}

// kindOf returns a target kind whose Resolve lists n targets, t0 to tN-1.
func kindOf(n, defaultMax int) *inject.TargetKind {
	return &inject.TargetKind{
		Name: "fake",
		Resolve: func(context.Context, *inject.Env, any) ([]inject.Target, error) {
			var out []inject.Target
			for i := range n {
				out = append(out, inject.Target{Kind: "fake", ID: "t" + strconv.Itoa(i)})
			}
			return out, nil
		},
		DefaultMax: defaultMax,
	}
}

func ids(ts []inject.Target) []string {
	var out []string
	for _, t := range ts {
		out = append(out, t.ID)
	}
	return out
}

func TestSelect(t *testing.T) {
	for _, tt := range []struct {
		name       string
		matches    int
		defaultMax int
		sel        experiment.Selection
		picked     int    // how many are picked
		err        string // part of the error, or ""
	}{
		{"all by default", 4, 0, experiment.Selection{}, 4, ""},
		{"pick N", 4, 0, experiment.Selection{Pick: experiment.Pick{N: 2}}, 2, ""},
		{"pick more than match", 2, 0, experiment.Selection{Pick: experiment.Pick{N: 5}}, 2, ""},
		{"pick a share", 10, 0, experiment.Selection{Pick: experiment.Pick{Percent: 0.3}}, 3, ""},
		{"a share rounding to none picks one", 3, 0, experiment.Selection{Pick: experiment.Pick{Percent: 0.1}}, 1, ""},
		{"at max", 3, 0, experiment.Selection{Max: 3}, 3, ""},
		{"over max", 4, 0, experiment.Selection{Max: 3}, 0, "matches 4, more than its max of 3"},
		{"over the kind's default max", 6, 5, experiment.Selection{}, 0, "matches 6, more than its max of 5"},
		{"max overrides the kind's default", 6, 5, experiment.Selection{Max: 10}, 6, ""},
		{"max is checked before picking", 6, 0, experiment.Selection{Max: 5, Pick: experiment.Pick{N: 1}}, 0, "more than its max of 5"},
		{"empty fails by default", 0, 0, experiment.Selection{}, 0, "matches nothing"},
		{"empty fails when told", 0, 0, experiment.Selection{Empty: "fail"}, 0, "matches nothing"},
		{"empty skips when told", 0, 0, experiment.Selection{Empty: "skip"}, 0, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			env := inject.NewEnv(1, nil)
			picked, matched, err := inject.Select(context.Background(), env, "web", kindOf(tt.matches, tt.defaultMax), &spec{tt.sel})
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("Select = %v, %v; want an error containing %q", ids(picked), err, tt.err)
				}
				if !strings.Contains(err.Error(), `target "web"`) {
					t.Errorf("Select error %q does not name the target", err)
				}
				if picked != nil {
					t.Errorf("Select picked %v with an error", ids(picked))
				}
				return
			}
			if err != nil {
				t.Fatalf("Select: %v", err)
			}
			if len(picked) != tt.picked || matched != tt.matches {
				t.Errorf("Select = %v, %d matched; want %d picked of %d", ids(picked), matched, tt.picked, tt.matches)
			}
			// Picks are distinct and keep the order they were resolved in.
			got := ids(picked)
			if !slices.IsSortedFunc(got, func(a, b string) int {
				x, _ := strconv.Atoi(a[1:])
				y, _ := strconv.Atoi(b[1:])
				return x - y
			}) || len(slices.Compact(slices.Clone(got))) != len(got) {
				t.Errorf("Select picked %v; want distinct targets in resolve order", got)
			}
		})
	}
}

// Nothing matching is ErrNoMatch, for callers that branch on it.
func TestSelectNoMatchIsErrNoMatch(t *testing.T) {
	_, _, err := inject.Select(context.Background(), inject.NewEnv(1, nil), "web", kindOf(0, 0), &spec{})
	if !errors.Is(err, inject.ErrNoMatch) {
		t.Errorf("Select(no match) = %v; want ErrNoMatch", err)
	}
}

// A resolve error is returned, naming the target; settings without a
// selection pick everything.
func TestSelectResolveError(t *testing.T) {
	boom := errors.New("boom")
	k := &inject.TargetKind{Name: "fake", Resolve: func(context.Context, *inject.Env, any) ([]inject.Target, error) { return nil, boom }}
	_, _, err := inject.Select(context.Background(), inject.NewEnv(1, nil), "web", k, &spec{})
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), `resolve target "web"`) {
		t.Errorf("Select(resolve fails) = %v; want it wrapped with the target's name", err)
	}
	picked, _, err := inject.Select(context.Background(), inject.NewEnv(1, nil), "web", kindOf(3, 0), struct{}{})
	if err != nil || len(picked) != 3 {
		t.Errorf("Select(no selection) = %v, %v; want all 3", ids(picked), err)
	}
}

// The same seed picks the same targets; the picks vary with the seed.
func TestSelectSeeded(t *testing.T) {
	pick := func(seed uint64) []string {
		picked, _, err := inject.Select(context.Background(), inject.NewEnv(seed, nil), "web", kindOf(20, 0), &spec{experiment.Selection{Pick: experiment.Pick{N: 3}}})
		if err != nil {
			t.Fatal(err)
		}
		return ids(picked)
	}
	seen := map[string]bool{}
	for seed := range uint64(10) {
		a, b := pick(seed), pick(seed)
		if !slices.Equal(a, b) {
			t.Errorf("seed %d picked %v, then %v; want the same", seed, a, b)
		}
		seen[strings.Join(a, ",")] = true
	}
	if len(seen) < 2 {
		t.Errorf("ten seeds all picked %v; want the picks to vary with the seed", seen)
	}
}
