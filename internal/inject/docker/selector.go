package docker

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
)

// The labels Docker Compose puts on the containers it creates.
const (
	ComposeProjectLabel = "com.docker.compose.project"
	ComposeServiceLabel = "com.docker.compose.service"
)

// DefaultMax is the blast radius used when Selector.Max is zero.
const DefaultMax = 5

// ErrNoMatch is wrapped by the error of a selector that matches no container.
var ErrNoMatch = errors.New("no container matches")

// ErrTooMany is wrapped by the error of a selector that matches more
// containers than its Max.
var ErrTooMany = errors.New("too many containers match")

// Selector chooses containers. Every criterion that is set must hold (AND).
// At least one criterion is required: an empty selector would match every
// container of the host.
type Selector struct {
	// ID is a full container ID or a prefix of one.
	ID string
	// Name is the exact container name, with or without the leading "/".
	Name string
	// NameRegex is a regular expression (RE2) matched against the name; it
	// matches anywhere in the name unless anchored with ^ and $.
	NameRegex string
	// Labels must all be present with these values.
	Labels map[string]string
	// Compose selects by the labels Docker Compose sets.
	Compose Compose
	// Image is the image the container was created from: "repo" matches
	// any tag of the repository, "repo:tag" that tag only, and an image ID
	// (sha256:... or a prefix of at least 12 hex digits) that image.
	Image string

	// Paused also matches paused containers. They are left out by default:
	// a paused container is either under a fault already, or paused by
	// someone else, and a pause fault on it would unpause it on revert.
	Paused bool
	// All matches containers in every state (created, exited, restarting,
	// paused). Probes use it; faults should not.
	All bool

	// Pick is how many of the matches are returned; the zero value is all.
	Pick Pick
	// Max caps how many containers may match before anything is touched.
	// Zero means DefaultMax; a negative value means no cap.
	Max int
	// SkipEmpty makes a selector that matches nothing resolve to an empty
	// set instead of failing with ErrNoMatch.
	SkipEmpty bool
}

// Compose selects containers of a Docker Compose project or service.
type Compose struct {
	Project string // the com.docker.compose.project label
	Service string // the com.docker.compose.service label
}

// Container is a resolved container.
type Container struct {
	ID      string            `json:"id"`
	ShortID string            `json:"short_id"`
	Name    string            `json:"name"`
	Image   string            `json:"image"`
	State   string            `json:"state"`
	Labels  map[string]string `json:"labels,omitempty"`
}

// String returns the name and short ID, the way messages name a container.
func (c Container) String() string {
	if c.Name == "" {
		return c.ShortID
	}
	return c.Name + " (" + c.ShortID + ")"
}

// Resolution is what a selector resolved to.
type Resolution struct {
	// Matched holds every container that matched, sorted by name.
	Matched []Container `json:"matched"`
	// Picked holds the containers faults act on, a subset of Matched.
	Picked []Container `json:"picked"`
}

// Validate reports a selector that cannot be resolved.
func (s Selector) Validate() error {
	if s.ID == "" && s.Name == "" && s.NameRegex == "" && len(s.Labels) == 0 &&
		s.Compose.Project == "" && s.Compose.Service == "" && s.Image == "" {
		return errors.New("empty docker selector: set id, name, name_regex, labels, compose or image; an empty one would match every container")
	}
	if s.NameRegex != "" {
		if _, err := regexp.Compile(s.NameRegex); err != nil {
			return fmt.Errorf("invalid name_regex %q: %w", s.NameRegex, err)
		}
	}
	return s.Pick.validate()
}

// max returns the effective blast-radius cap, or -1 for none.
func (s Selector) max() int {
	switch {
	case s.Max == 0:
		return DefaultMax
	case s.Max < 0:
		return -1
	}
	return s.Max
}

// String describes the selector with the keys of the experiment format.
func (s Selector) String() string {
	var parts []string
	add := func(k, v string) { parts = append(parts, k+"="+v) }
	if s.ID != "" {
		add("id", s.ID)
	}
	if s.Name != "" {
		add("name", s.Name)
	}
	if s.NameRegex != "" {
		add("name_regex", strconv.Quote(s.NameRegex))
	}
	if len(s.Labels) > 0 {
		keys := make([]string, 0, len(s.Labels))
		for k := range s.Labels {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for i, k := range keys {
			keys[i] = k + "=" + s.Labels[k]
		}
		add("labels", "{"+strings.Join(keys, ",")+"}")
	}
	if s.Compose.Project != "" {
		add("compose.project", s.Compose.Project)
	}
	if s.Compose.Service != "" {
		add("compose.service", s.Compose.Service)
	}
	if s.Image != "" {
		add("image", s.Image)
	}
	return strings.Join(parts, " ")
}

// states describes which container states the selector admits.
func (s Selector) states() string {
	switch {
	case s.All:
		return ""
	case s.Paused:
		return "running or paused "
	}
	return "running "
}

// labels returns every label the selector requires, compose ones included.
func (s Selector) labels() map[string]string {
	l := make(map[string]string, len(s.Labels)+2)
	for k, v := range s.Labels {
		l[k] = v
	}
	if s.Compose.Project != "" {
		l[ComposeProjectLabel] = s.Compose.Project
	}
	if s.Compose.Service != "" {
		l[ComposeServiceLabel] = s.Compose.Service
	}
	return l
}

// Resolve lists the containers s matches and picks among them with rng
// (nil means unseeded). Candidates are sorted by name before picking, so a
// given seed picks the same containers whatever order the daemon lists
// them in. It fails, before anything is touched, when more than Max
// containers match, and when none does unless SkipEmpty is set.
func (e *Engine) Resolve(ctx context.Context, s Selector, rng *rand.Rand) (Resolution, error) {
	matched, err := e.match(ctx, s)
	if err != nil {
		return Resolution{}, err
	}
	if len(matched) == 0 {
		if s.SkipEmpty {
			return Resolution{Matched: []Container{}, Picked: []Container{}}, nil
		}
		return Resolution{}, fmt.Errorf("resolve docker target: %w: no %scontainer matches %s; list candidates with docker ps", ErrNoMatch, s.states(), s)
	}
	if m := s.max(); m >= 0 && len(matched) > m {
		return Resolution{}, fmt.Errorf("resolve docker target: %w: %d containers match %s, more than max %d: narrow the selector or raise max",
			ErrTooMany, len(matched), s, m)
	}
	n := s.Pick.count(len(matched))
	picked := slices.Clone(matched)
	if n < len(picked) {
		shuffle := rand.Shuffle
		if rng != nil {
			shuffle = rng.Shuffle
		}
		shuffle(len(picked), func(i, j int) { picked[i], picked[j] = picked[j], picked[i] })
		picked = picked[:n]
		sortContainers(picked)
	}
	return Resolution{Matched: matched, Picked: picked}, nil
}

// match returns every container s matches, sorted by name. The daemon
// filters by label, ID and state to keep the answer small; every criterion
// is checked again here so that the result does not depend on how well a
// daemon version implements its filters.
func (e *Engine) match(ctx context.Context, s Selector) ([]Container, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	var re *regexp.Regexp
	if s.NameRegex != "" {
		re = regexp.MustCompile(s.NameRegex)
	}
	labels := s.labels()
	args := filters.NewArgs()
	for k, v := range labels {
		args.Add("label", k+"="+v)
	}
	if s.ID != "" {
		args.Add("id", s.ID)
	}
	if !s.All {
		args.Add("status", "running")
		if s.Paused {
			args.Add("status", "paused")
		}
	}
	list, err := e.api.ContainerList(ctx, container.ListOptions{All: s.All || s.Paused, Filters: args})
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", e.unreachable(err))
	}
	out := make([]Container, 0, len(list))
	for _, c := range list {
		name := containerName(c.Names)
		switch {
		case !s.All && c.State != container.StateRunning && !(s.Paused && c.State == container.StatePaused):
			continue
		case s.ID != "" && !strings.HasPrefix(c.ID, s.ID):
			continue
		case s.Name != "" && name != strings.TrimPrefix(s.Name, "/"):
			continue
		case re != nil && !re.MatchString(name):
			continue
		case !hasLabels(c.Labels, labels):
			continue
		case s.Image != "" && !imageMatches(s.Image, c.Image, c.ImageID):
			continue
		}
		out = append(out, Container{
			ID:      c.ID,
			ShortID: shortID(c.ID),
			Name:    name,
			Image:   c.Image,
			State:   c.State,
			Labels:  c.Labels,
		})
	}
	sortContainers(out)
	return out, nil
}

func sortContainers(cs []Container) {
	slices.SortFunc(cs, func(a, b Container) int {
		if c := strings.Compare(a.Name, b.Name); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
}

// containerName returns the container's own name. The list also holds the
// names under which linked containers see it ("/other/alias").
func containerName(names []string) string {
	for _, n := range names {
		n = strings.TrimPrefix(n, "/")
		if !strings.Contains(n, "/") {
			return n
		}
	}
	if len(names) > 0 {
		return strings.TrimPrefix(names[0], "/")
	}
	return ""
}

func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

func hasLabels(have, want map[string]string) bool {
	for k, v := range want {
		if got, ok := have[k]; !ok || got != v {
			return false
		}
	}
	return true
}

var hexID = regexp.MustCompile(`^(sha256:)?[0-9a-f]{12,64}$`)

// imageMatches reports whether the container image (as the container was
// created with it, and its resolved ID) is the one wanted.
func imageMatches(want, image, imageID string) bool {
	if hexID.MatchString(want) {
		id := strings.TrimPrefix(imageID, "sha256:")
		return strings.HasPrefix(id, strings.TrimPrefix(want, "sha256:")) ||
			strings.HasPrefix(strings.TrimPrefix(image, "sha256:"), strings.TrimPrefix(want, "sha256:"))
	}
	wantRepo, wantTag := splitRef(want)
	repo, tag := splitRef(image)
	if wantRepo != repo {
		return false
	}
	if tag == "" {
		tag = "latest"
	}
	return wantTag == "" || wantTag == tag
}

// splitRef splits an image reference into a normalized repository and a
// tag or digest, empty when the reference has neither.
func splitRef(ref string) (repo, tag string) {
	repo = ref
	if i := strings.IndexByte(repo, '@'); i >= 0 {
		repo, tag = repo[:i], repo[i+1:]
	} else if i := strings.LastIndexByte(repo, ':'); i > strings.LastIndexByte(repo, '/') {
		repo, tag = repo[:i], repo[i+1:]
	}
	repo = strings.TrimPrefix(repo, "docker.io/")
	repo = strings.TrimPrefix(repo, "index.docker.io/")
	repo = strings.TrimPrefix(repo, "library/")
	return repo, tag
}

// Pick says how many of the matched containers a target acts on. The zero
// value picks all of them.
type Pick struct {
	// Count picks this many at random; more than match picks all.
	Count int
	// Percent picks this share at random, rounded up so that a target that
	// matches something always acts on at least one container.
	Percent float64
}

// ParsePick parses "all", "N" (N >= 1) or "N%" (0 < N <= 100).
func ParsePick(s string) (Pick, error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "all" {
		return Pick{}, nil
	}
	if p, ok := strings.CutSuffix(s, "%"); ok {
		f, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
		if err != nil || math.IsNaN(f) || f <= 0 || f > 100 {
			return Pick{}, fmt.Errorf("invalid pick %q: want all, a count like 2, or a share like 50%% (more than 0%%, at most 100%%)", s)
		}
		return Pick{Percent: f}, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		return Pick{}, fmt.Errorf("invalid pick %q: want all, a count like 2 (at least 1), or a share like 50%%", s)
	}
	return Pick{Count: n}, nil
}

// String returns the pick in the syntax ParsePick reads.
func (p Pick) String() string {
	switch {
	case p.Count > 0:
		return strconv.Itoa(p.Count)
	case p.Percent > 0:
		return strconv.FormatFloat(p.Percent, 'f', -1, 64) + "%"
	}
	return "all"
}

func (p Pick) validate() error {
	if p.Count < 0 || p.Percent < 0 || p.Percent > 100 || (p.Count > 0 && p.Percent > 0) {
		return fmt.Errorf("invalid pick %+v: set a count of at least 1 or a share in (0, 100]", p)
	}
	return nil
}

// count returns how many of n matches the pick takes.
func (p Pick) count(n int) int {
	switch {
	case p.Count > 0:
		return min(p.Count, n)
	case p.Percent > 0:
		return min(n, int(math.Ceil(float64(n)*p.Percent/100-1e-9)))
	}
	return n
}
