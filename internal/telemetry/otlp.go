//go:build otlp

package telemetry

import (
	"context"
	"fmt"

	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// OTLPAvailable reports whether this build can export over OTLP (the otlp
// build tag).
const OTLPAvailable = true

// newExporters makes the OTLP/HTTP (protobuf) exporters o configures: a
// tracer provider with a batching span processor, and a periodic metric
// reader. Nothing is made, and no goroutine started, for a signal that is
// not configured.
func newExporters(ctx context.Context, opts Options) (exporters, error) {
	var ex exporters
	o := opts.OTLP
	res := resource.NewSchemaless(resourceAttributes(opts)...)
	if u := o.TracesURL(); u != "" {
		exp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(u), otlptracehttp.WithHeaders(o.Headers))
		if err != nil {
			return ex, fmt.Errorf("OTLP trace exporter: %w", err)
		}
		tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
		ex.tracerProvider = tp
		ex.flush = append(ex.flush, tp.ForceFlush)
		ex.shutdown = append(ex.shutdown, tp.Shutdown)
	}
	if u := o.MetricsURL(); u != "" {
		exp, err := otlpmetrichttp.New(ctx, otlpmetrichttp.WithEndpointURL(u), otlpmetrichttp.WithHeaders(o.Headers))
		if err != nil {
			return ex, fmt.Errorf("OTLP metric exporter: %w", err)
		}
		var ropts []sdkmetric.PeriodicReaderOption
		if o.MetricInterval > 0 {
			ropts = append(ropts, sdkmetric.WithInterval(o.MetricInterval))
		}
		mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewPeriodicReader(exp, ropts...)),
			sdkmetric.WithResource(res))
		ex.meter = mp.Meter(instrumentationName)
		ex.flush = append(ex.flush, mp.ForceFlush)
		ex.shutdown = append(ex.shutdown, mp.Shutdown)
	}
	return ex, nil
}
