package telemetry

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// newRegistryMeter returns a registry and its meter's instruments.
func newTestInstruments(t *testing.T) (*registry, metric.Int64Counter, metric.Float64Histogram) {
	t.Helper()
	r := &registry{}
	m := r.Meter()
	c, err := m.Int64Counter("test.events", metric.WithDescription("Events.\nSecond line \\ backslash."))
	if err != nil {
		t.Fatal(err)
	}
	h, err := m.Float64Histogram("test.latency", metric.WithUnit("s"), metric.WithExplicitBucketBoundaries(0.1, 1))
	if err != nil {
		t.Fatal(err)
	}
	return r, c, h
}

func TestPrometheusTextParses(t *testing.T) {
	r, c, h := newTestInstruments(t)
	ctx := context.Background()
	c.Add(ctx, 2, metric.WithAttributes(attribute.String("kind", `quote " back \ nl`+"\n"), attribute.String("empty", "")))
	c.Add(ctx, 3, metric.WithAttributes(attribute.String("kind", "plain")))
	for _, v := range []float64{0.05, 0.1, 0.5, 2} {
		h.Record(ctx, v)
	}
	var buf bytes.Buffer
	if err := WritePrometheus(&buf, r.Read(ctx, false)); err != nil {
		t.Fatal(err)
	}
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatalf("%v\n%s", err, buf.String())
	}
	events := fams["test_events_total"]
	if events == nil || len(events.GetMetric()) != 2 || !strings.Contains(events.GetHelp(), "Second line") {
		t.Fatalf("test_events_total: %v\n%s", events, buf.String())
	}
	for _, m := range events.GetMetric() {
		if len(m.GetLabel()) != 1 { // the empty label is left out
			t.Errorf("labels %v", m.GetLabel())
		}
		want := map[string]float64{`quote " back \ nl` + "\n": 2, "plain": 3}[m.GetLabel()[0].GetValue()]
		if m.GetCounter().GetValue() != want {
			t.Errorf("%v = %v, want %v", m.GetLabel(), m.GetCounter().GetValue(), want)
		}
	}
	hist := fams["test_latency_seconds"].GetMetric()[0].GetHistogram()
	if hist.GetSampleCount() != 4 || math.Abs(hist.GetSampleSum()-2.65) > 1e-9 {
		t.Errorf("histogram count %d sum %v", hist.GetSampleCount(), hist.GetSampleSum())
	}
	// le="0.1" holds 0.05 and 0.1 (upper bounds are inclusive), le="1" 0.5 too.
	for i, want := range []uint64{2, 3} {
		if got := hist.GetBucket()[i].GetCumulativeCount(); got != want {
			t.Errorf("bucket %v: %d, want %d", hist.GetBucket()[i].GetUpperBound(), got, want)
		}
	}
}

func TestEMFDeltas(t *testing.T) {
	r, c, h := newTestInstruments(t)
	ctx := context.Background()
	now := time.UnixMilli(1_700_000_000_000)
	read := func() []map[string]any {
		var buf bytes.Buffer
		if err := WriteEMF(&buf, "ns", now, r.Read(ctx, true)); err != nil {
			t.Fatal(err)
		}
		var out []map[string]any
		sc := bufio.NewScanner(&buf)
		for sc.Scan() {
			var m map[string]any
			if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
				t.Fatalf("EMF line %q: %v", sc.Text(), err)
			}
			out = append(out, m)
		}
		return out
	}
	c.Add(ctx, 2, metric.WithAttributes(attribute.String("kind", "a")))
	h.Record(ctx, 0.5)
	h.Record(ctx, 7)
	lines := read()
	if len(lines) != 2 {
		t.Fatalf("lines %v", lines)
	}
	aws := lines[0]["_aws"].(map[string]any)
	cwm := aws["CloudWatchMetrics"].([]any)[0].(map[string]any)
	if aws["Timestamp"] != float64(now.UnixMilli()) || cwm["Namespace"] != "ns" ||
		lines[0]["kind"] != "a" || lines[0]["test_events_total"] != float64(2) {
		t.Errorf("counter line %v", lines[0])
	}
	if dims := cwm["Dimensions"].([]any)[0].([]any); len(dims) != 1 || dims[0] != "kind" {
		t.Errorf("dimensions %v", dims)
	}
	vals := lines[1]["test_latency_seconds"].([]any)
	if len(vals) != 2 || vals[0] != float64(1) || vals[1] != float64(7) {
		t.Errorf("histogram values %v, want [1 7] (bucket bound, then the max)", vals)
	}
	// Nothing new: nothing written. Then only the change.
	if lines := read(); len(lines) != 0 {
		t.Errorf("second read without change: %v", lines)
	}
	c.Add(ctx, 1, metric.WithAttributes(attribute.String("kind", "a")))
	if lines := read(); len(lines) != 1 || lines[0]["test_events_total"] != float64(1) {
		t.Errorf("third read: %v, want the delta 1", lines)
	}
}

func TestLogHandlerAddsTraceIDs(t *testing.T) {
	var buf bytes.Buffer
	logger := slog.New(LogHandler(slog.NewJSONHandler(&buf, nil))).With("app", "x")
	logger.InfoContext(ContextWithTraceParent(context.Background(), "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"), "in a trace")
	logger.InfoContext(context.Background(), "outside")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if !strings.Contains(lines[0], `"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","span_id":"00f067aa0ba902b7"`) ||
		!strings.Contains(lines[0], `"app":"x"`) {
		t.Errorf("line in a trace: %s", lines[0])
	}
	if strings.Contains(lines[1], "trace_id") {
		t.Errorf("line outside a trace: %s", lines[1])
	}
}

// TestNothingConfigured: with nothing asked for, instruments are no-ops,
// nothing is kept and there is nothing to flush.
func TestNothingConfigured(t *testing.T) {
	tel, err := New(context.Background(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if tel.Metering() || tel.Tracing() || tel.NeedsFlush() {
		t.Fatalf("metering %v tracing %v flush %v", tel.Metering(), tel.Tracing(), tel.NeedsFlush())
	}
	tel.m.triggers.Add(context.Background(), 1)
	if fams := tel.Read(context.Background()); len(fams) != 0 {
		t.Errorf("kept %v", fams)
	}
}
