package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/restorepoint/restorepoint/internal/telemetry"
)

// METRICS values.
const (
	MetricsOn  = "on"
	MetricsOff = "off"
	MetricsEMF = "emf"
)

// Option changes how New wires the app for its front door.
type Option func(*options)

type options struct {
	lambda bool
	stdout io.Writer
}

// ForLambda wires the app for AWS Lambda: spans say faas.trigger=pubsub,
// /metrics is not kept (nothing could scrape it), and with METRICS=emf the
// CloudWatch EMF lines go to stdout after each invocation.
func ForLambda(stdout io.Writer) Option {
	return func(o *options) { o.lambda, o.stdout = true, stdout }
}

// telemetryProblems checks the observability variables. No header value
// appears in a problem: OTEL_EXPORTER_OTLP_HEADERS may hold an API key.
func (c Config) telemetryProblems() []error {
	var out []error
	bad := func(format string, args ...any) { out = append(out, fmt.Errorf(format, args...)) }
	switch c.Metrics {
	case MetricsOn, MetricsOff, MetricsEMF:
	default:
		bad("METRICS: must be on, off or emf, not %q", c.Metrics)
	}
	for _, v := range []struct{ name, url string }{
		{"OTEL_EXPORTER_OTLP_ENDPOINT", c.OTLPEndpoint},
		{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", c.OTLPTracesEndpoint},
		{"OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", c.OTLPMetricsEndpoint},
	} {
		if v.url == "" {
			continue
		}
		if !telemetry.OTLPAvailable {
			bad("%s: this restorepoint is built without OTLP export; use the build with -tags otlp "+
				"(make lambda-zip OTLP=1, or make build OTLP=1) or unset the OTEL_EXPORTER_OTLP_* variables", v.name)
			continue
		}
		u, err := url.Parse(v.url)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
			bad("%s: must be an http(s) URL with a host and without user info, such as http://localhost:4318", v.name)
		}
	}
	if _, err := parseHeaders(c.OTLPHeaders.Reveal()); err != nil {
		bad("OTEL_EXPORTER_OTLP_HEADERS: %v", err)
	}
	if c.OTelServiceName == "" {
		bad("OTEL_SERVICE_NAME: must not be empty")
	}
	if c.OTelMetricExportInterval <= 0 {
		bad("OTEL_METRIC_EXPORT_INTERVAL: must be a positive number of milliseconds")
	}
	return out
}

// parseHeaders reads key=value,key=value (values may be percent-encoded, as
// the OpenTelemetry specification says). Its errors name no value.
func parseHeaders(s string) (map[string]string, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	h := map[string]string{}
	for i, item := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(item, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return nil, fmt.Errorf("item %d is not key=value", i+1)
		}
		if dec, err := url.PathUnescape(strings.TrimSpace(v)); err == nil {
			v = dec
		} else {
			return nil, fmt.Errorf("the value of %q is not percent-encoded correctly", k)
		}
		h[k] = v
	}
	return h, nil
}

// newTelemetry makes what the observability variables ask for on this
// front door.
func newTelemetry(cfg Config, logger *slog.Logger, version string, o options) (*telemetry.Telemetry, error) {
	headers, _ := parseHeaders(cfg.OTLPHeaders.Reveal())
	opts := telemetry.Options{
		ServiceName:    cfg.OTelServiceName,
		ServiceVersion: version,
		Prometheus:     cfg.Metrics == MetricsOn && !o.lambda,
		FaaSTrigger:    "http",
		Logger:         logger,
		OTLP: telemetry.OTLP{
			Endpoint:        cfg.OTLPEndpoint,
			TracesEndpoint:  cfg.OTLPTracesEndpoint,
			MetricsEndpoint: cfg.OTLPMetricsEndpoint,
			Headers:         headers,
			MetricInterval:  time.Duration(cfg.OTelMetricExportInterval) * time.Millisecond,
		},
	}
	if o.lambda {
		opts.FaaSTrigger = "pubsub"
		if cfg.Metrics == MetricsEMF {
			opts.EMF = o.stdout
		}
	}
	if cfg.Metrics == MetricsOff {
		// No metrics anywhere; traces stay as configured.
		opts.OTLP = telemetry.OTLP{TracesEndpoint: opts.OTLP.TracesURL(), Headers: headers}
	}
	t, err := telemetry.New(context.Background(), opts)
	if err != nil {
		return nil, fmt.Errorf("telemetry: %w", err)
	}
	return t, nil
}

// withMetrics serves GET /metrics (when kept) before h: with METRICS_TOKEN,
// to requests that carry it; without, to every request when METRICS_AUTH=
// none, else to none (and the log says so once).
func (a *App) withMetrics(h http.Handler) http.Handler {
	mux := http.NewServeMux()
	if a.cfg.Metrics == MetricsOn {
		open := a.cfg.MetricsAuth == AuthNone
		if a.cfg.MetricsToken == "" && !open {
			a.logger.Warn("GET /metrics refuses every request: set METRICS_TOKEN for scrapers to send " +
				"(Authorization: Bearer), or METRICS_AUTH=none to open it, or METRICS=off")
		}
		mux.Handle("GET /metrics", a.tel.Handler(a.cfg.MetricsToken.Reveal(), open))
	}
	// An HTTP traceparent header is the trace a trigger continues when
	// its CloudEvent carries none.
	mux.Handle("/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if tp := r.Header.Get("Traceparent"); tp != "" {
			r = r.WithContext(telemetry.ContextWithTraceParent(r.Context(), tp))
		}
		h.ServeHTTP(w, r)
	}))
	return mux
}

// LambdaInvoker is the Lambda front door as aws-lambda-go's lambda.Handler,
// flushing metrics and spans before each invocation returns.
func (a *App) LambdaInvoker() telemetry.Invoker {
	return a.tel.Flushing(a.LambdaHandler())
}

// Shutdown flushes what telemetry holds and stops its exporters, stops the
// credentials' token refresh and closes the Redis store's connections (on
// SIGTERM, once the front door has stopped).
func (a *App) Shutdown(ctx context.Context) error {
	err := a.tel.Shutdown(ctx)
	if a.creds.close != nil {
		err = errors.Join(err, a.creds.close())
	}
	if a.store != nil {
		err = errors.Join(err, a.store.Close())
	}
	return err
}
