package notify

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/push"

	"github.com/gamedayhq/chaos/internal/experiment"
	"github.com/gamedayhq/chaos/internal/journal"
)

// pushgateway pushes gauges of the run's state to a Prometheus
// Pushgateway: when the run starts, when a fault starts or ends, and at the
// end. Each push replaces the group (PUT) with the state so far, so pushes
// that pile up behind a slow gateway are merged into one.
type pushgateway struct {
	cfg *experiment.Pushgateway
	run Run
	*sender

	mu      sync.Mutex
	state   pushState
	pending bool // a push is queued that will send the latest state
}

// pushState is what the gauges say.
type pushState struct {
	runID          string
	started, ended time.Time
	verdict        string
	faults         []SummaryFault
}

func newPushgateway(cfg *experiment.Pushgateway, run Run) *pushgateway {
	return &pushgateway{cfg: cfg, run: run, sender: newSender("pushgateway "+Display(cfg.URL), cfg.URL, cfg.Timeout.D())}
}

// Event updates the state and, on a change the gauges show, queues a push.
func (p *pushgateway) Event(ev journal.Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := &p.state
	switch ev.Type {
	case journal.RunStarted:
		s.runID, s.started = ev.RunID, ev.Time
	case journal.FaultInjected, journal.FaultReverted, journal.FaultRevertFailed:
		s.faults = trackFault(s.faults, ev)
	case journal.RunVerdict:
		s.verdict, s.ended = ev.Verdict, ev.Time
	default:
		return
	}
	if p.pending {
		return
	}
	if p.send(p.push) {
		p.pending = true
	}
}

// push sends the latest state.
func (p *pushgateway) push(ctx context.Context) error {
	p.mu.Lock()
	p.pending = false
	s := p.state
	s.faults = append([]SummaryFault(nil), s.faults...)
	p.mu.Unlock()

	reg := prometheus.NewRegistry()
	gauge := func(name, help string, labels ...string) *prometheus.GaugeVec {
		g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, labels)
		reg.MustRegister(g)
		return g
	}
	unix := func(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }
	gauge("chaos_run_info", "The run being reported: its run ID and title.", "run_id", "title").WithLabelValues(s.runID, p.run.Title).Set(1)
	gauge("chaos_run_start_time_seconds", "When the run started, in seconds since the epoch.").WithLabelValues().Set(unix(s.started))
	verdict := gauge("chaos_run_verdict", "1 for the run's verdict; running until there is one.", "verdict")
	if s.verdict == "" {
		verdict.WithLabelValues("running").Set(1)
	} else {
		verdict.WithLabelValues(s.verdict).Set(1)
		gauge("chaos_run_end_time_seconds", "When the run ended, in seconds since the epoch.").WithLabelValues().Set(unix(s.ended))
		passed := 0.0
		if s.verdict == journal.Passed {
			passed = 1
		}
		gauge("chaos_run_passed", "1 when the run passed, 0 otherwise.").WithLabelValues().Set(passed)
	}
	labels := []string{"step", "fault", "target", "id"}
	start := gauge("chaos_fault_start_time_seconds", "When a fault was applied to one target, in seconds since the epoch.", labels...)
	end := gauge("chaos_fault_end_time_seconds", "When a fault was removed from one target, in seconds since the epoch.", labels...)
	active := gauge("chaos_fault_active", "1 while a fault is applied to one target.", labels...)
	for _, f := range s.faults {
		lv := []string{f.Step, f.Fault, f.Target, f.ID}
		start.WithLabelValues(lv...).Set(unix(f.Injected))
		on := 1.0
		switch {
		case f.Irreversible:
			// Over once applied: its window ends where it starts.
			end.WithLabelValues(lv...).Set(unix(f.Injected))
			on = 0
		case !f.inPlace():
			end.WithLabelValues(lv...).Set(unix(f.Reverted))
			on = 0
		}
		active.WithLabelValues(lv...).Set(on)
	}

	pu := push.New(strings.TrimSuffix(p.cfg.URL, "/"), p.cfg.Job).Gatherer(reg).Client(client)
	groups := map[string]string{"experiment": p.run.experimentName()}
	for k, v := range p.cfg.Labels {
		groups[k] = v
	}
	for k, v := range groups {
		pu = pu.Grouping(k, v)
	}
	return pu.PushContext(ctx)
}

// Flush sends the last state, at most until ctx ends.
func (p *pushgateway) Flush(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	return p.flush(ctx)
}
