package notify

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/gamedayhq/chaos/internal/experiment"
	"github.com/gamedayhq/chaos/internal/journal"
)

// tracer exports one trace of the run over OTLP/HTTP: a root span for the
// run, and spans for its phases, its steps and each fault on each target,
// with the events' own times. The exporter reads its endpoint, headers and
// timeout from the standard OTEL_EXPORTER_OTLP_* variables.
type tracer struct {
	run Run
	tp  *sdktrace.TracerProvider
	exp *recordingExporter
	tr  trace.Tracer

	mu     sync.Mutex
	closed bool
	root   trace.Span
	rctx   context.Context
	phase  trace.Span
	pctx   context.Context
	steps  map[string]stepSpan
	faults map[string]trace.Span
}

type stepSpan struct {
	span trace.Span
	ctx  context.Context
}

// The OpenTelemetry SDK reports export errors to a global handler that
// logs them; the tracer counts them itself and reports them from Flush.
var quietOTel sync.Once

func newOTel(cfg *experiment.OTel, run Run) (*tracer, error) {
	quietOTel.Do(func() { otel.SetErrorHandler(otel.ErrorHandlerFunc(func(error) {})) })
	// Retries would outlast the bounded flush at the end of the run.
	client, err := otlptracehttp.New(context.Background(), otlptracehttp.WithRetry(otlptracehttp.RetryConfig{Enabled: false}))
	if err != nil {
		return nil, err
	}
	// service.name is chaos unless OTEL_SERVICE_NAME or
	// OTEL_RESOURCE_ATTRIBUTES say otherwise, or the file does.
	opts := []resource.Option{resource.WithAttributes(semconv.ServiceName("chaos")), resource.WithFromEnv()}
	if cfg.ServiceName != "" {
		opts = append(opts, resource.WithAttributes(semconv.ServiceName(cfg.ServiceName)))
	}
	res, err := resource.New(context.Background(), opts...)
	if err != nil {
		return nil, fmt.Errorf("otel resource: %w", err)
	}
	exp := &recordingExporter{SpanExporter: client}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	return &tracer{run: run, tp: tp, exp: exp, tr: tp.Tracer("github.com/gamedayhq/chaos"),
		steps: map[string]stepSpan{}, faults: map[string]trace.Span{}}, nil
}

// recordingExporter keeps the last export error and counts the spans it
// could not send.
type recordingExporter struct {
	sdktrace.SpanExporter
	mu     sync.Mutex
	sent   int
	failed int
	err    error
}

func (e *recordingExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	err := e.SpanExporter.ExportSpans(ctx, spans)
	e.mu.Lock()
	defer e.mu.Unlock()
	if err != nil {
		e.failed += len(spans)
		e.err = err
	} else {
		e.sent += len(spans)
	}
	return err
}

// Event turns the run's events into spans. Spans are only built in
// memory here; the batcher sends them from its own goroutine.
func (t *tracer) Event(ev journal.Event) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return
	}
	at := trace.WithTimestamp(ev.Time)
	if t.root == nil {
		if ev.Type != journal.RunStarted {
			return
		}
		t.rctx, t.root = t.tr.Start(context.Background(), "chaos run "+t.run.Title, at, trace.WithSpanKind(trace.SpanKindInternal),
			trace.WithAttributes(attribute.String("chaos.run_id", ev.RunID), attribute.String("chaos.title", t.run.Title),
				attribute.String("chaos.file", t.run.File), attribute.String("chaos.seed", strconv.FormatUint(ev.Seed, 10))))
		return
	}
	parent := t.rctx
	if t.pctx != nil {
		parent = t.pctx
	}
	switch ev.Type {
	case journal.PhaseStarted:
		if t.phase != nil {
			t.phase.End(at)
		}
		t.pctx, t.phase = t.tr.Start(t.rctx, "phase "+ev.Phase, at, trace.WithAttributes(attribute.String("chaos.phase", ev.Phase)))
	case journal.StepStarted:
		ctx, span := t.tr.Start(parent, "step "+ev.Step, at, trace.WithAttributes(attribute.String("chaos.step", ev.Step),
			attribute.String("chaos.kind", ev.Kind), attribute.String("chaos.planned", ev.Planned.String())))
		t.steps[ev.Step] = stepSpan{span, ctx}
	case journal.StepFinished:
		if s, ok := t.steps[ev.Step]; ok {
			s.span.SetAttributes(attribute.String("chaos.outcome", ev.Outcome))
			if ev.Outcome == journal.StepFailed || ev.Outcome == journal.StepError {
				s.span.SetStatus(codes.Error, ev.Message)
			}
			s.span.End(at)
			delete(t.steps, ev.Step)
		}
	case journal.FaultInjected:
		if s, ok := t.steps[ev.Step]; ok {
			parent = s.ctx
		}
		_, span := t.tr.Start(parent, "fault "+ev.Fault+" on "+ev.Target, at, trace.WithAttributes(attribute.String("chaos.step", ev.Step),
			attribute.String("chaos.fault", ev.Fault), attribute.String("chaos.target", ev.Target), attribute.String("chaos.target_id", ev.TargetID)))
		if ev.Irreversible {
			// Nothing to revert (a kill): over once applied, not drawn
			// as in effect until the run's end.
			span.SetAttributes(attribute.Bool("chaos.irreversible", true))
			span.End(at)
			break
		}
		t.faults[ev.Step+"\x00"+ev.TargetID] = span
	case journal.FaultReverted, journal.FaultRevertFailed:
		key := ev.Step + "\x00" + ev.TargetID
		if span, ok := t.faults[key]; ok {
			if ev.Type == journal.FaultRevertFailed {
				span.SetStatus(codes.Error, ev.Message)
			}
			span.End(at)
			delete(t.faults, key)
		}
	case journal.CheckBroken, journal.CheckUnobserved, journal.RunAborted, journal.Warning, journal.Error, journal.ServiceExited:
		span := t.root
		if t.phase != nil {
			span = t.phase
		}
		span.AddEvent(string(ev.Type), at, trace.WithAttributes(attribute.String("chaos.message", ev.Message), attribute.String("chaos.check", ev.Check)))
	case journal.RunVerdict:
		for k, s := range t.faults {
			s.End(at)
			delete(t.faults, k)
		}
		for k, s := range t.steps {
			s.span.End(at)
			delete(t.steps, k)
		}
		if t.phase != nil {
			t.phase.End(at)
			t.phase, t.pctx = nil, nil
		}
		t.root.SetAttributes(attribute.String("chaos.verdict", ev.Verdict), attribute.String("chaos.reason", ev.Reason))
		if ev.Verdict != journal.Passed {
			t.root.SetStatus(codes.Error, ev.Verdict+": "+ev.Reason)
		}
		t.root.End(at)
		t.closed = true
	}
}

// Flush sends the spans, at most until ctx ends.
func (t *tracer) Flush(ctx context.Context) error {
	t.mu.Lock()
	t.closed = true
	t.mu.Unlock()
	err := t.tp.Shutdown(ctx)
	t.exp.mu.Lock()
	defer t.exp.mu.Unlock()
	switch {
	case t.exp.err != nil:
		return errors.New("otel: " + strconv.Itoa(t.exp.failed) + " spans not sent, the last error: " + t.exp.err.Error())
	case err != nil:
		return errors.New("otel: " + err.Error())
	}
	return nil
}
