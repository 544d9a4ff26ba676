package telemetry

import (
	"context"
	"errors"
	"net/url"
	"strconv"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/cloudevents/sdk-go/v2/event"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/restorepoint/restorepoint/cbr"
	"github.com/restorepoint/restorepoint/events"
	"github.com/restorepoint/restorepoint/failure"
	"github.com/restorepoint/restorepoint/function"
	"github.com/restorepoint/restorepoint/handler"
)

// Attribute keys of restorepoint's own span attributes.
const (
	attrVaultID       = "restorepoint.vault_id"
	attrCheckpointIDs = "restorepoint.checkpoint_ids"
	attrOutcome       = "restorepoint.outcome"
	attrTriggerKind   = "restorepoint.trigger.type"
)

// traceContext is the W3C Trace Context propagator: the one reader and
// writer of traceparent values, for CloudEvents extensions and HTTP headers.
var traceContext propagation.TraceContext

// ContextWithTraceParent returns ctx carrying the remote span context of a
// W3C traceparent value (an HTTP traceparent header, a CloudEvent's
// extension), or ctx unchanged when the value is not one.
func ContextWithTraceParent(ctx context.Context, traceparent string) context.Context {
	if traceparent == "" {
		return ctx
	}
	return traceContext.Extract(ctx, &traceParentCarrier{traceparent})
}

// traceParentOf is the W3C traceparent value of the span context ctx
// carries, "" when it carries none that is valid.
func traceParentOf(ctx context.Context) string {
	var carrier traceParentCarrier
	traceContext.Inject(ctx, &carrier)
	return carrier.value
}

// traceParentCarrier is the propagation.TextMapCarrier of one traceparent
// value (no tracestate: restorepoint carries none), without the map of a
// propagation.MapCarrier.
type traceParentCarrier struct{ value string }

// traceParentKey is the W3C Trace Context field the propagator reads and
// writes (the HTTP header; the CloudEvents extension has the same name).
const traceParentKey = "traceparent"

func (c *traceParentCarrier) Get(key string) string {
	if key == traceParentKey {
		return c.value
	}
	return ""
}

func (c *traceParentCarrier) Set(key, value string) {
	if key == traceParentKey {
		c.value = value
	}
}

func (c *traceParentCarrier) Keys() []string { return []string{traceParentKey} }

// StartTrigger implements handler.Observer: the trigger's span continues
// t.TraceParent (else the trace ctx carries, such as an HTTP traceparent
// header's), and t.TraceParent becomes the span's, for the result event.
// end counts the trigger and ends the span.
func (t *Telemetry) StartTrigger(ctx context.Context, tr *events.Trigger) (context.Context, func(handler.Outcome, time.Duration)) {
	ctx = ContextWithTraceParent(ctx, tr.TraceParent)
	cold := !t.started.Swap(true)
	kind := kindLabel(tr)
	spanKind := trace.SpanKindConsumer
	if t.opts.FaaSTrigger == "http" {
		spanKind = trace.SpanKindServer
	}
	ctx, span := t.tracer.Start(ctx, "trigger "+kind, trace.WithSpanKind(spanKind))
	if span.IsRecording() {
		ref := tr.Ref.Short()
		attrs := []attribute.KeyValue{
			attribute.String("faas.trigger", t.opts.FaaSTrigger),
			attribute.Bool("faas.coldstart", cold),
			attribute.String("cloudevents.event_id", ref.ID),
			attribute.String("cloudevents.event_source", ref.Source),
			attribute.String("cloudevents.event_type", ref.Type),
			attribute.String(attrTriggerKind, kind),
		}
		if ref.Subject != "" {
			attrs = append(attrs, attribute.String("cloudevents.event_subject", ref.Subject))
		}
		if lc, ok := lambdacontext.FromContext(ctx); ok && lc.AwsRequestID != "" {
			attrs = append(attrs, attribute.String("faas.invocation_id", lc.AwsRequestID))
		}
		span.SetAttributes(attrs...)
	}
	// The span's, when the trace continues (also through a no-op tracer,
	// which carries the parent's); else no traceparent: one that is not a
	// W3C traceparent is dropped, as the W3C recommends.
	tr.TraceParent = traceParentOf(ctx)
	return ctx, func(out handler.Outcome, took time.Duration) {
		t.endTrigger(ctx, span, kind, out, took)
	}
}

// endTrigger counts a trigger's outcome and ends its span.
func (t *Telemetry) endTrigger(ctx context.Context, span trace.Span, kind string, out handler.Outcome, took time.Duration) {
	outcome := outcomeLabel(out)
	if t.metering {
		t.m.triggers.Add(ctx, 1, t.attrs.triggers.option(kind, outcome))
		t.m.triggerDuration.Record(ctx, took.Seconds(), t.attrs.triggerDuration.option(kind))
		if c := out.Result.Created; c != nil && !c.Duplicate && !c.DryRun {
			if n := len(c.Checkpoints); n > 0 {
				t.m.checkpoints.Add(ctx, int64(n))
			}
			for _, s := range c.SkippedResources {
				t.m.skipped.Add(ctx, 1, t.attrs.skipped.option(s.Code))
			}
		}
	}
	if !span.IsRecording() {
		return
	}
	r := out.Result
	span.SetAttributes(attribute.String(attrOutcome, outcome), attribute.Int("http.response.status_code", out.Status))
	if r.Subject != "" {
		span.SetAttributes(attribute.String(attrVaultID, r.Subject))
	}
	if r.Created != nil {
		span.SetAttributes(attribute.StringSlice(attrCheckpointIDs, r.Created.CheckpointIDs()))
	}
	switch {
	case r.Failed != nil:
		span.SetAttributes(attribute.String("error.type", string(r.Failed.Error.Class)))
		span.SetStatus(codes.Error, r.Failed.Error.Message)
	case out.Err != nil:
		span.SetAttributes(attribute.String("error.type", "_OTHER"))
		span.SetStatus(codes.Error, out.Err.Error())
	}
	span.End()
}

// kindLabel is the type label of a trigger: its kind, else (it did not
// decode) the kind its CloudEvent type names, else "unknown". The label
// never takes a value from outside.
func kindLabel(tr *events.Trigger) string {
	switch tr.Kind {
	case events.KindServerTagged, events.KindDeployPre, events.KindCheckpointRequested, events.KindIgnored, events.KindFollow:
		return string(tr.Kind)
	}
	switch tr.Ref.Type {
	case events.TypeServerTagged:
		return string(events.KindServerTagged)
	case events.TypeDeployPre:
		return string(events.KindDeployPre)
	case events.TypeCheckpointRequested:
		return string(events.KindCheckpointRequested)
	}
	return "unknown"
}

// outcomeLabel is the outcome label of a trigger: retried when the platform
// delivers it again (throttled, unavailable, in progress, sink down),
// otherwise what its result says: created (dry runs too), duplicate,
// ignored, invalid (the trigger is malformed or breaks a rule) or failed; for
// a gate, pending or available (failed when its restore point failed); for a
// follow pass, followed.
func outcomeLabel(o handler.Outcome) string {
	r := o.Result
	switch {
	case o.Pending != nil:
		return "pending" // a gate answered while its restore point is made: not an error
	case o.Retry():
		return "retried"
	case r.Completed != nil && r.Completed.Error == nil:
		return "available"
	case r.Followed != nil:
		return "followed"
	case r.Created != nil && r.Created.Duplicate:
		return "duplicate"
	case r.Created != nil:
		return "created"
	case r.Ignored != nil:
		return "ignored"
	case r.Failed != nil && r.Failed.Error.Class == failure.Invalid:
		return "invalid"
	}
	return "failed"
}

// cbrRoutes are the URL templates of the CBR operations, for span names.
var cbrRoutes = map[string]string{
	"create_checkpoint": "/v3/{project_id}/checkpoints",
	"get_checkpoint":    "/v3/{project_id}/checkpoints/{checkpoint_id}",
	"get_vault":         "/v3/{project_id}/vaults/{vault_id}",
	"add_resources":     "/v3/{project_id}/vaults/{vault_id}/addresources",
	"delete_backup":     "/v3/{project_id}/backups/{backup_id}",
}

// CBRAttempt is the cbr.WithObserver function: it counts the attempt and,
// when the trigger is traced, records its HTTP client span.
func (t *Telemetry) CBRAttempt(ctx context.Context, a cbr.Attempt) {
	status := "error"
	if a.StatusCode != 0 {
		status = strconv.Itoa(a.StatusCode)
	}
	if t.metering {
		t.m.cbrRequests.Add(ctx, 1, t.attrs.cbrRequests.option(a.Operation, status, a.Code))
		t.m.cbrDuration.Record(ctx, a.Duration.Seconds(), t.attrs.cbrDuration.option(a.Operation))
	}
	if !t.tracing || !trace.SpanFromContext(ctx).IsRecording() {
		return
	}
	name := a.Method
	if route, ok := cbrRoutes[a.Operation]; ok {
		name += " " + route
	}
	attrs := []attribute.KeyValue{
		attribute.String("http.request.method", a.Method),
		attribute.String("url.full", a.URL),
		attribute.String("cbr.operation", a.Operation),
	}
	if u, err := url.Parse(a.URL); err == nil {
		attrs = append(attrs, attribute.String("server.address", u.Hostname()))
		if p := u.Port(); p != "" {
			if n, err := strconv.Atoi(p); err == nil {
				attrs = append(attrs, attribute.Int("server.port", n))
			}
		}
	}
	if a.Resend > 0 {
		attrs = append(attrs, attribute.Int("http.request.resend_count", a.Resend))
	}
	if a.StatusCode != 0 {
		attrs = append(attrs, attribute.Int("http.response.status_code", a.StatusCode))
	}
	if a.Code != "" {
		attrs = append(attrs, attribute.String("cbr.error_code", a.Code))
	}
	_, span := t.tracer.Start(ctx, name, trace.WithSpanKind(trace.SpanKindClient),
		trace.WithTimestamp(a.Start), trace.WithAttributes(attrs...))
	if a.Err != nil {
		errType := status
		if a.StatusCode == 0 || a.StatusCode < 400 {
			errType = "_OTHER"
		}
		span.SetAttributes(attribute.String("error.type", errType))
		span.SetStatus(codes.Error, string(failure.ClassOf(a.Err)))
	}
	span.End(trace.WithTimestamp(a.Start.Add(a.Duration)))
}

// Planned is the function.WithPlanObserver function: the planning span.
func (t *Telemetry) Planned(ctx context.Context, _ events.Trigger, p function.Plan, err error, start, end time.Time) {
	if !t.tracing || !trace.SpanFromContext(ctx).IsRecording() {
		return
	}
	_, span := t.tracer.Start(ctx, "plan", trace.WithTimestamp(start))
	span.SetAttributes(attribute.Int("restorepoint.requests", len(p.Requests)))
	if p.VaultID != "" {
		span.SetAttributes(attribute.String(attrVaultID, p.VaultID))
	}
	if p.IgnoreReason != "" {
		span.SetAttributes(attribute.String("restorepoint.ignore_reason", p.IgnoreReason))
	}
	if err != nil {
		span.SetStatus(codes.Error, string(failure.ClassOf(err)))
	}
	span.End(trace.WithTimestamp(end))
}

// Sink wraps s so that every delivery is counted and traced.
func (t *Telemetry) Sink(s handler.Sink) handler.Sink {
	if !t.metering && !t.tracing {
		return s
	}
	return &sink{t: t, next: s}
}

type sink struct {
	t    *Telemetry
	next handler.Sink
}

// Send implements handler.Sink.
func (s *sink) Send(ctx context.Context, e event.Event) error {
	var span trace.Span = trace.SpanFromContext(context.Background()) // non-recording
	if s.t.tracing && trace.SpanFromContext(ctx).IsRecording() {
		ctx, span = s.t.tracer.Start(ctx, "send result", trace.WithSpanKind(trace.SpanKindProducer),
			trace.WithAttributes(attribute.String("cloudevents.event_id", e.ID()),
				attribute.String("cloudevents.event_type", e.Type()),
				attribute.String("cloudevents.event_source", e.Source())))
	}
	err := s.next.Send(ctx, e)
	outcome := "delivered"
	if err != nil {
		outcome = "failed"
		span.SetStatus(codes.Error, "result sink")
	}
	if s.t.metering {
		s.t.m.sinkDeliveries.Add(ctx, 1, s.t.attrs.sinkDeliveries.option(outcome))
	}
	span.End()
	return err
}

// Store wraps s so that its failures are counted (restorepoint_idempotency_store_errors_total)
// and, when it has a Len method, its records are observed
// (restorepoint_idempotency_records). Methods added to function.Store
// later pass through uncounted.
func (t *Telemetry) Store(s function.Store) function.Store {
	if !t.metering {
		return s
	}
	if l, ok := s.(interface{ Len() int }); ok {
		n := l.Len
		t.records.Store(&n)
	}
	return &store{Store: s, t: t}
}

type store struct {
	function.Store
	t *Telemetry
}

// count counts err, unless it is an answer rather than a failure: in
// progress, or a step refused because its lease was lost.
func (s *store) count(ctx context.Context, op string, err error) {
	if err != nil && !errors.Is(err, function.ErrInProgress) && !errors.Is(err, function.ErrLeaseLost) {
		s.t.m.storeErrors.Add(ctx, 1, s.t.attrs.storeErrors.option(op))
	}
}

// Begin implements function.Store.
func (s *store) Begin(ctx context.Context, key string, lockUntil time.Time) (function.Claim, error) {
	c, err := s.Store.Begin(ctx, key, lockUntil)
	s.count(ctx, "begin", err)
	return c, err
}

// Complete implements function.Store.
func (s *store) Complete(ctx context.Context, key, lease string, result []byte, expiry time.Time, deliver bool) error {
	err := s.Store.Complete(ctx, key, lease, result, expiry, deliver)
	s.count(ctx, "complete", err)
	return err
}

// Settle implements function.Store.
func (s *store) Settle(ctx context.Context, key, lease string, delivered bool) error {
	err := s.Store.Settle(ctx, key, lease, delivered)
	s.count(ctx, "settle", err)
	return err
}

// Release implements function.Store.
func (s *store) Release(ctx context.Context, key, lease string, partial []byte, expiry time.Time) error {
	err := s.Store.Release(ctx, key, lease, partial, expiry)
	s.count(ctx, "release", err)
	return err
}
