package docker_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/container"

	"github.com/gamedayhq/chaos/internal/inject/docker"
)

func fleet() []container.Summary {
	compose := func(p, s string) map[string]string {
		return map[string]string{docker.ComposeProjectLabel: p, docker.ComposeServiceLabel: s, "app": s}
	}
	return []container.Summary{
		summary("shop-web-1", "running", "shop/web:1.2", compose("shop", "web")),
		summary("shop-web-2", "running", "shop/web:1.3", compose("shop", "web")),
		summary("shop-db-1", "running", "postgres", compose("shop", "db")),
		summary("blog-web-1", "running", "docker.io/library/nginx:1.25", compose("blog", "web")),
		summary("payment", "running", "payment:latest", map[string]string{"app": "payment", "tier": "back"}),
		summary("payment-old", "exited", "payment:latest", map[string]string{"app": "payment", "tier": "back"}),
		summary("frozen", "paused", "payment:latest", map[string]string{"app": "payment", "tier": "back"}),
	}
}

func engineOver(list []container.Summary) *docker.Engine {
	return docker.New(&fakeAPI{list: func(container.ListOptions) ([]container.Summary, error) {
		return slices.Clone(list), nil
	}}, "unix:///fake.sock")
}

func names(cs []docker.Container) []string {
	out := []string{}
	for _, c := range cs {
		out = append(out, c.Name)
	}
	return out
}

func TestResolveMatches(t *testing.T) {
	e := engineOver(fleet())
	tests := []struct {
		name string
		sel  docker.Selector
		want []string
	}{
		{"exact name", docker.Selector{Name: "payment"}, []string{"payment"}},
		{"exact name with slash", docker.Selector{Name: "/payment"}, []string{"payment"}},
		{"regex anywhere", docker.Selector{NameRegex: "web"}, []string{"blog-web-1", "shop-web-1", "shop-web-2"}},
		{"anchored regex", docker.Selector{NameRegex: "^shop-"}, []string{"shop-db-1", "shop-web-1", "shop-web-2"}},
		{"label", docker.Selector{Labels: map[string]string{"app": "web"}}, []string{"blog-web-1", "shop-web-1", "shop-web-2"}},
		{"two labels", docker.Selector{Labels: map[string]string{"app": "payment", "tier": "back"}}, []string{"payment"}},
		{"label value differs", docker.Selector{Labels: map[string]string{"tier": "front"}}, []string{}},
		{"compose project", docker.Selector{Compose: docker.Compose{Project: "shop"}}, []string{"shop-db-1", "shop-web-1", "shop-web-2"}},
		{"compose service", docker.Selector{Compose: docker.Compose{Project: "shop", Service: "web"}}, []string{"shop-web-1", "shop-web-2"}},
		{"image any tag", docker.Selector{Image: "shop/web"}, []string{"shop-web-1", "shop-web-2"}},
		{"image tag", docker.Selector{Image: "shop/web:1.3"}, []string{"shop-web-2"}},
		{"image normalized", docker.Selector{Image: "nginx:1.25"}, []string{"blog-web-1"}},
		{"image latest implied", docker.Selector{Image: "postgres:latest"}, []string{"shop-db-1"}},
		{"image other repo", docker.Selector{Image: "shop"}, []string{}},
		{"AND of criteria", docker.Selector{Compose: docker.Compose{Service: "web"}, Image: "nginx", NameRegex: "1$"}, []string{"blog-web-1"}},
		{"AND excludes", docker.Selector{Name: "payment", Labels: map[string]string{"app": "web"}}, []string{}},
		{"paused left out", docker.Selector{Labels: map[string]string{"app": "payment"}}, []string{"payment"}},
		{"paused on request", docker.Selector{Labels: map[string]string{"app": "payment"}, Paused: true}, []string{"frozen", "payment"}},
		{"all states", docker.Selector{Labels: map[string]string{"app": "payment"}, All: true}, []string{"frozen", "payment", "payment-old"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.sel.SkipEmpty = true
			r, err := e.Resolve(context.Background(), tt.sel, nil)
			if err != nil {
				t.Fatalf("Resolve(%s) error: %v", tt.sel, err)
			}
			if got := names(r.Matched); !slices.Equal(got, tt.want) {
				t.Errorf("Resolve(%s) matched %q; want %q", tt.sel, got, tt.want)
			}
			if got := names(r.Picked); !slices.Equal(got, tt.want) {
				t.Errorf("Resolve(%s) picked %q; want all of %q", tt.sel, got, tt.want)
			}
		})
	}
}

func TestResolveContainerFields(t *testing.T) {
	r, err := engineOver(fleet()).Resolve(context.Background(), docker.Selector{Name: "payment"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := r.Picked[0]
	if len(c.ID) != 64 || c.ShortID != c.ID[:12] || c.Image != "payment:latest" || c.State != "running" || c.Labels["tier"] != "back" {
		t.Errorf("Resolve gave %+v; want full ID, 12-char short ID, image, state and labels", c)
	}
}

func TestResolveRefusals(t *testing.T) {
	many := []container.Summary{}
	for _, n := range []string{"a", "b", "c", "d", "e", "f", "g"} {
		many = append(many, summary("web-"+n, "running", "web", map[string]string{"app": "web"}))
	}
	e := engineOver(many)
	tests := []struct {
		name    string
		sel     docker.Selector
		wantErr error
		wantMsg string
		want    int
	}{
		{"over default max", docker.Selector{Labels: map[string]string{"app": "web"}, Pick: docker.Pick{Count: 1}}, docker.ErrTooMany, "7 containers match labels={app=web}, more than max 5", 0},
		{"over explicit max", docker.Selector{NameRegex: "web-[abc]", Max: 2}, docker.ErrTooMany, "3 containers match", 0},
		{"at max", docker.Selector{NameRegex: "web-[abc]", Max: 3}, nil, "", 3},
		{"no cap", docker.Selector{Labels: map[string]string{"app": "web"}, Max: -1}, nil, "", 7},
		{"no match", docker.Selector{Name: "web-z"}, docker.ErrNoMatch, "no running container matches name=web-z", 0},
		{"no match skipped", docker.Selector{Name: "web-z", SkipEmpty: true}, nil, "", 0},
		{"empty selector", docker.Selector{Max: 3}, nil, "empty docker selector", 0},
		{"bad regex", docker.Selector{NameRegex: "web-("}, nil, "invalid name_regex", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := e.Resolve(context.Background(), tt.sel, nil)
			if tt.wantMsg == "" {
				if err != nil || len(r.Picked) != tt.want {
					t.Fatalf("Resolve(%s) = %d containers, %v; want %d, no error", tt.sel, len(r.Picked), err, tt.want)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantMsg) {
				t.Fatalf("Resolve(%s) error = %v; want one containing %q", tt.sel, err, tt.wantMsg)
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("Resolve(%s) error = %v; want it to wrap %v", tt.sel, err, tt.wantErr)
			}
		})
	}
}

func TestResolvePick(t *testing.T) {
	var list []container.Summary
	for _, n := range []string{"a", "b", "c", "d", "e", "f"} {
		list = append(list, summary("web-"+n, "running", "web", nil))
	}
	tests := []struct {
		pick string
		want int
	}{
		{"all", 6}, {"1", 1}, {"4", 4}, {"10", 6}, {"50%", 3}, {"10%", 1}, {"34%", 3}, {"100%", 6},
	}
	for _, tt := range tests {
		p, err := docker.ParsePick(tt.pick)
		if err != nil {
			t.Fatalf("ParsePick(%q): %v", tt.pick, err)
		}
		sel := docker.Selector{NameRegex: "^web-", Pick: p, Max: -1}
		forward, err := engineOver(list).Resolve(context.Background(), sel, rand.New(rand.NewPCG(7, 7)))
		if err != nil {
			t.Fatal(err)
		}
		if len(forward.Picked) != tt.want || len(forward.Matched) != 6 {
			t.Errorf("pick %s of 6 picked %d (matched %d); want %d", tt.pick, len(forward.Picked), len(forward.Matched), tt.want)
		}
		for _, c := range forward.Picked {
			if !slices.ContainsFunc(forward.Matched, func(m docker.Container) bool { return m.ID == c.ID }) {
				t.Errorf("pick %s picked %s, which did not match", tt.pick, c.Name)
			}
		}
		// The same seed picks the same containers whatever the list order.
		reversed := slices.Clone(list)
		slices.Reverse(reversed)
		again, err := engineOver(reversed).Resolve(context.Background(), sel, rand.New(rand.NewPCG(7, 7)))
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(names(forward.Picked), names(again.Picked)) {
			t.Errorf("pick %s with one seed gave %q then %q", tt.pick, names(forward.Picked), names(again.Picked))
		}
	}
}

func TestResolvePickVaries(t *testing.T) {
	var list []container.Summary
	for _, n := range []string{"a", "b", "c", "d", "e", "f"} {
		list = append(list, summary("web-"+n, "running", "web", nil))
	}
	seen := map[string]bool{}
	for seed := range uint64(40) {
		r, err := engineOver(list).Resolve(context.Background(),
			docker.Selector{NameRegex: "web", Pick: docker.Pick{Count: 1}, Max: -1}, rand.New(rand.NewPCG(seed, 1)))
		if err != nil {
			t.Fatal(err)
		}
		seen[r.Picked[0].Name] = true
	}
	if len(seen) < 4 {
		t.Errorf("40 seeds picked only %d distinct containers out of 6; want a random pick", len(seen))
	}
}

func TestParsePick(t *testing.T) {
	tests := []struct {
		in   string
		want docker.Pick
		err  bool
	}{
		{"all", docker.Pick{}, false},
		{"", docker.Pick{}, false},
		{"3", docker.Pick{Count: 3}, false},
		{"25%", docker.Pick{Percent: 25}, false},
		{"12.5%", docker.Pick{Percent: 12.5}, false},
		{"0", docker.Pick{}, true},
		{"-1", docker.Pick{}, true},
		{"0%", docker.Pick{}, true},
		{"101%", docker.Pick{}, true},
		{"half", docker.Pick{}, true},
		{"%", docker.Pick{}, true},
	}
	for _, tt := range tests {
		got, err := docker.ParsePick(tt.in)
		if (err != nil) != tt.err || got != tt.want {
			t.Errorf("ParsePick(%q) = %+v, %v; want %+v, error %t", tt.in, got, err, tt.want, tt.err)
		}
		if err == nil && tt.in != "" {
			if s := got.String(); s != tt.in {
				t.Errorf("ParsePick(%q).String() = %q", tt.in, s)
			}
		}
	}
}
