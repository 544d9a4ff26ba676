// Package telemetry is restorepoint's metrics, traces and trace-aware logs,
// made with the OpenTelemetry Go API and wired in by internal/app through
// hooks of the shared packages: handler.Observer (one span and the counts of
// each trigger), cbr.WithObserver (each CBR HTTP attempt),
// function.WithPlanObserver (the planning span), a Store wrapper
// (idempotency store errors and records) and a Sink wrapper (deliveries).
//
// What is exported is chosen by Options, and nothing is made that is not
// used: without an exporter the meter and the tracer are no-ops, no
// goroutine is started and nothing is collected. Metrics are kept in a
// small registry of this package, read as Prometheus text for GET /metrics
// (Handler) and as CloudWatch Embedded Metric Format lines on Lambda
// (Flush), and are pushed by the OpenTelemetry SDK over OTLP/HTTP (the otlp build tag; see OTLPAvailable). Traces go
// out over OTLP/HTTP only (the otlp build tag). See registry.go for why the
// deployed binary keeps /metrics and EMF metrics without the SDK.
package telemetry

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/metric"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
)

// instrumentationName is the instrumentation scope of every meter and tracer.
const instrumentationName = "github.com/restorepoint/restorepoint"

// Options says what to export.
type Options struct {
	// ServiceName and ServiceVersion describe the process (service.name,
	// service.version; the EMF namespace is ServiceName).
	ServiceName    string
	ServiceVersion string
	// Prometheus keeps cumulative metrics for Handler (GET /metrics).
	Prometheus bool
	// EMF, when not nil, receives CloudWatch Embedded Metric Format lines
	// with the metrics recorded since the last Flush, at every Flush.
	EMF io.Writer
	// OTLP configures OTLP/HTTP export of traces and metrics.
	OTLP OTLP
	// FaaSTrigger is the faas.trigger attribute of trigger spans ("http",
	// "pubsub", ...).
	FaaSTrigger string
	// Logger reports export failures (nil: discarded).
	Logger *slog.Logger
}

// OTLP is the OTLP/HTTP export configuration, as the standard OTEL_*
// variables give it.
type OTLP struct {
	// Endpoint is the base URL; traces go to Endpoint/v1/traces and metrics
	// to Endpoint/v1/metrics (OTEL_EXPORTER_OTLP_ENDPOINT).
	Endpoint string
	// TracesEndpoint and MetricsEndpoint are full URLs that override
	// Endpoint for their signal.
	TracesEndpoint  string
	MetricsEndpoint string
	// Headers are sent with every export request (they may hold a secret).
	Headers map[string]string
	// MetricInterval is the time between metric exports (default 60s).
	MetricInterval time.Duration
}

// TracesURL is where spans are sent, or "" when traces are not exported.
func (o OTLP) TracesURL() string { return signalURL(o.TracesEndpoint, o.Endpoint, "/v1/traces") }

// MetricsURL is where metrics are sent, or "" when they are not exported.
func (o OTLP) MetricsURL() string { return signalURL(o.MetricsEndpoint, o.Endpoint, "/v1/metrics") }

func signalURL(specific, base, path string) string {
	switch {
	case specific != "":
		return specific
	case base != "":
		for len(base) > 0 && base[len(base)-1] == '/' {
			base = base[:len(base)-1]
		}
		return base + path
	}
	return ""
}

// Configured reports whether o exports anything.
func (o OTLP) Configured() bool { return o.TracesURL() != "" || o.MetricsURL() != "" }

// Telemetry records restorepoint's metrics and traces. Its methods are safe
// for concurrent use.
type Telemetry struct {
	opts     Options
	tracer   trace.Tracer
	tracing  bool // spans are exported
	metering bool // metrics are kept
	m        instruments
	attrs    metricAttrs // the label sets of m's measurements (attrs.go)
	reg      *registry   // /metrics and EMF

	flushers  []func(context.Context) error
	shutdowns []func(context.Context) error

	started atomic.Bool                // a trigger has started: the next is no cold start
	records atomic.Pointer[func() int] // how many idempotency records are held
	flushMu sync.Mutex                 // one EMF flush at a time
}

// New makes the telemetry Options ask for. With nothing asked for, it makes
// no-op instruments and starts nothing.
func New(ctx context.Context, opts Options) (*Telemetry, error) {
	if opts.ServiceName == "" {
		opts.ServiceName = "restorepoint"
	}
	if opts.FaaSTrigger == "" {
		opts.FaaSTrigger = "other"
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	t := &Telemetry{opts: opts, tracer: tracenoop.NewTracerProvider().Tracer(instrumentationName), reg: &registry{},
		attrs: newMetricAttrs()}
	ex, err := newExporters(ctx, opts)
	if err != nil {
		return nil, err
	}
	t.flushers, t.shutdowns = ex.flush, ex.shutdown
	if ex.tracerProvider != nil {
		t.tracer, t.tracing = ex.tracerProvider.Tracer(instrumentationName), true
	}
	var meters []metric.Meter
	if opts.Prometheus || opts.EMF != nil {
		meters = append(meters, t.reg.Meter())
	}
	if ex.meter != nil {
		meters = append(meters, ex.meter)
	}
	if len(meters) == 0 {
		return t, t.makeInstruments(metricnoop.NewMeterProvider().Meter(instrumentationName))
	}
	t.metering = true
	if err := t.makeInstruments(meters[0]); err != nil {
		return nil, err
	}
	if len(meters) == 2 {
		first := t.m
		if err := t.makeInstruments(meters[1]); err != nil {
			return nil, err
		}
		t.m = teeInstruments(first, t.m)
	}
	return t, nil
}

// Review counts a GitHub deployment review: approved, rejected, or failed
// (it could not be posted and is kept for the next follow pass).
func (t *Telemetry) Review(ctx context.Context, state string) {
	if t.metering {
		t.m.reviews.Add(ctx, 1, t.attrs.reviews.option(state))
	}
}

// NeedsFlush reports whether Flush has anything to do: EMF lines to write
// or OTLP exports to push.
func (t *Telemetry) NeedsFlush() bool { return t.opts.EMF != nil || len(t.flushers) > 0 }

// Flush writes the EMF lines of what was recorded since the last Flush and
// pushes the spans and metrics not yet exported. On Lambda it is called
// before each invocation returns, since the process may be frozen after.
func (t *Telemetry) Flush(ctx context.Context) error {
	var errs []error
	if t.opts.EMF != nil {
		t.flushMu.Lock()
		errs = append(errs, WriteEMF(t.opts.EMF, t.opts.ServiceName, time.Now(), t.reg.Read(ctx, true)))
		t.flushMu.Unlock()
	}
	for _, f := range t.flushers {
		errs = append(errs, f(ctx))
	}
	return errors.Join(errs...)
}

// Shutdown flushes and stops the exporters (on SIGTERM).
func (t *Telemetry) Shutdown(ctx context.Context) error {
	errs := []error{t.Flush(ctx)}
	for _, f := range t.shutdowns {
		errs = append(errs, f(ctx))
	}
	return errors.Join(errs...)
}

// instruments are the metrics of restorepoint (the README lists them with
// their Prometheus names).
type instruments struct {
	triggers        metric.Int64Counter
	triggerDuration metric.Float64Histogram
	checkpoints     metric.Int64Counter
	skipped         metric.Int64Counter
	cbrRequests     metric.Int64Counter
	cbrDuration     metric.Float64Histogram
	sinkDeliveries  metric.Int64Counter
	storeErrors     metric.Int64Counter
	reviews         metric.Int64Counter
}

// durationBuckets are the histogram bounds of the durations, in seconds.
var durationBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}

func (t *Telemetry) makeInstruments(m metric.Meter) error {
	var errs [10]error
	t.m.triggers, errs[0] = m.Int64Counter("restorepoint.triggers", metric.WithUnit("{trigger}"),
		metric.WithDescription("Triggers handled, by trigger type and outcome."))
	t.m.triggerDuration, errs[1] = m.Float64Histogram("restorepoint.trigger.duration", metric.WithUnit("s"),
		metric.WithDescription("Time from a trigger's start to its answer, by trigger type."),
		metric.WithExplicitBucketBoundaries(durationBuckets...))
	t.m.checkpoints, errs[2] = m.Int64Counter("restorepoint.checkpoints.created", metric.WithUnit("{checkpoint}"),
		metric.WithDescription("Restore points created (duplicates and dry runs not counted)."))
	t.m.skipped, errs[3] = m.Int64Counter("restorepoint.resources.skipped", metric.WithUnit("{resource}"),
		metric.WithDescription("Resources CBR skipped in a created restore point, by CBR error code."))
	t.m.cbrRequests, errs[4] = m.Int64Counter("restorepoint.cbr.requests", metric.WithUnit("{request}"),
		metric.WithDescription("CBR HTTP attempts, retries included, by operation, HTTP status (error: no answer) and CBR error code."))
	t.m.cbrDuration, errs[5] = m.Float64Histogram("restorepoint.cbr.request.duration", metric.WithUnit("s"),
		metric.WithDescription("Duration of one CBR HTTP attempt, by operation."),
		metric.WithExplicitBucketBoundaries(durationBuckets...))
	t.m.sinkDeliveries, errs[6] = m.Int64Counter("restorepoint.sink.deliveries", metric.WithUnit("{delivery}"),
		metric.WithDescription("Result events sent to the result sink, by outcome (delivered, failed)."))
	t.m.storeErrors, errs[7] = m.Int64Counter("restorepoint.idempotency.store.errors", metric.WithUnit("{error}"),
		metric.WithDescription("Failed operations of the idempotency store, by operation."))
	t.m.reviews, errs[9] = m.Int64Counter("restorepoint.reviews", metric.WithUnit("{review}"),
		metric.WithDescription("GitHub deployment reviews posted (approved, rejected) or that failed to post (failed: kept for the next pass)."))
	_, errs[8] = m.Int64ObservableGauge("restorepoint.idempotency.records", metric.WithUnit("{record}"),
		metric.WithDescription("Idempotency records held by this instance's store."),
		metric.WithInt64Callback(func(_ context.Context, o metric.Int64Observer) error {
			if n := t.records.Load(); n != nil {
				o.Observe(int64((*n)()))
			}
			return nil
		}))
	return errors.Join(errs[:]...)
}
