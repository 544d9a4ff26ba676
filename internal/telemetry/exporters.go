package telemetry

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/embedded"
	"go.opentelemetry.io/otel/trace"
)

// exporters is what the OTLP configuration makes (see otlp.go).
type exporters struct {
	tracerProvider trace.TracerProvider // nil: spans are not exported
	meter          metric.Meter         // nil: metrics are not pushed
	flush          []func(context.Context) error
	shutdown       []func(context.Context) error
}

// resourceAttributes describe the process to OTLP receivers.
func resourceAttributes(o Options) []attribute.KeyValue {
	return []attribute.KeyValue{
		attribute.String("service.name", o.ServiceName),
		attribute.String("service.version", o.ServiceVersion),
	}
}

// teeInstruments records into both a and b.
func teeInstruments(a, b instruments) instruments {
	return instruments{
		triggers:        teeCounter{a: a.triggers, b: b.triggers},
		triggerDuration: teeHistogram{a: a.triggerDuration, b: b.triggerDuration},
		checkpoints:     teeCounter{a: a.checkpoints, b: b.checkpoints},
		skipped:         teeCounter{a: a.skipped, b: b.skipped},
		cbrRequests:     teeCounter{a: a.cbrRequests, b: b.cbrRequests},
		cbrDuration:     teeHistogram{a: a.cbrDuration, b: b.cbrDuration},
		sinkDeliveries:  teeCounter{a: a.sinkDeliveries, b: b.sinkDeliveries},
		storeErrors:     teeCounter{a: a.storeErrors, b: b.storeErrors},
		reviews:         teeCounter{a: a.reviews, b: b.reviews},
	}
}

type teeCounter struct {
	embedded.Int64Counter
	a, b metric.Int64Counter
}

// Add implements metric.Int64Counter.
func (c teeCounter) Add(ctx context.Context, incr int64, opts ...metric.AddOption) {
	c.a.Add(ctx, incr, opts...)
	c.b.Add(ctx, incr, opts...)
}

// Enabled implements metric.Int64Counter.
func (c teeCounter) Enabled(ctx context.Context) bool { return c.a.Enabled(ctx) || c.b.Enabled(ctx) }

type teeHistogram struct {
	embedded.Float64Histogram
	a, b metric.Float64Histogram
}

// Record implements metric.Float64Histogram.
func (h teeHistogram) Record(ctx context.Context, v float64, opts ...metric.RecordOption) {
	h.a.Record(ctx, v, opts...)
	h.b.Record(ctx, v, opts...)
}

// Enabled implements metric.Float64Histogram.
func (h teeHistogram) Enabled(ctx context.Context) bool { return h.a.Enabled(ctx) || h.b.Enabled(ctx) }
