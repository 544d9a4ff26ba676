package telemetry

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/restorepoint/restorepoint/cbr"
	"github.com/restorepoint/restorepoint/events"
	"github.com/restorepoint/restorepoint/function"
	"github.com/restorepoint/restorepoint/handler"
)

type nopSink struct{}

func (nopSink) Send(context.Context, event.Event) error { return nil }

// benchmarkTrigger measures what telemetry adds to one created trigger:
// its span and counts, a plan, one CBR attempt and one sink delivery.
func benchmarkTrigger(b *testing.B, opts Options) {
	tel, err := New(context.Background(), opts)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = tel.Shutdown(context.Background()) })
	sink := tel.Sink(nopSink{})
	created := handler.Outcome{Status: http.StatusOK, Result: events.Result{
		Type: events.TypeCheckpointCreated, Subject: "vault-1",
		Created: &events.Created{Checkpoints: []events.Checkpoint{{ID: "cp-1"}}},
	}}
	ev := event.New()
	ev.SetID("r-1")
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		tr := events.Trigger{Kind: events.KindServerTagged, TraceParent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
			Ref: events.Ref{ID: "e-1", Source: "/bench", Type: events.TypeServerTagged}}
		ctx, end := tel.StartTrigger(context.Background(), &tr)
		now := time.Now()
		tel.Planned(ctx, tr, function.Plan{VaultID: "vault-1"}, nil, now, now)
		tel.CBRAttempt(ctx, cbr.Attempt{Operation: "create_checkpoint", Method: http.MethodPost,
			URL: "https://cbr.example.com/v3/p/checkpoints", StatusCode: 200, Start: now, Duration: time.Millisecond})
		_ = sink.Send(ctx, ev)
		end(created, time.Millisecond)
	}
}

// BenchmarkTelemetryOff: nothing configured (METRICS=off, no OTLP).
func BenchmarkTelemetryOff(b *testing.B) { benchmarkTrigger(b, Options{}) }

// BenchmarkTelemetryPrometheus: /metrics kept (the serve default).
func BenchmarkTelemetryPrometheus(b *testing.B) { benchmarkTrigger(b, Options{Prometheus: true}) }

// BenchmarkTelemetryOTLP: spans and metrics exported over OTLP/HTTP to a
// loopback receiver (only in the otlp build).
func BenchmarkTelemetryOTLP(b *testing.B) {
	if !OTLPAvailable {
		b.Skip("built without the otlp tag")
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	b.Cleanup(srv.Close)
	benchmarkTrigger(b, Options{Prometheus: true, OTLP: OTLP{Endpoint: srv.URL}})
}
