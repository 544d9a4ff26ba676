package telemetry

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// FuzzPrometheusLabels: any label value is written so that the Prometheus
// text parser reads it back (invalid UTF-8 as U+FFFD), with the count.
func FuzzPrometheusLabels(f *testing.F) {
	for _, s := range []string{"plain", `q"uote`, "back\\slash", "new\nline", "\xff\xfe", "{}=,"} {
		f.Add(s, uint16(3))
	}
	f.Fuzz(func(t *testing.T, value string, n uint16) {
		r := &registry{}
		c, _ := r.Meter().Int64Counter("fuzz.events")
		c.Add(context.Background(), int64(n), metric.WithAttributes(attribute.String("v", value)))
		var buf bytes.Buffer
		if err := WritePrometheus(&buf, r.Read(context.Background(), false)); err != nil {
			t.Fatal(err)
		}
		p := expfmt.NewTextParser(model.LegacyValidation)
		fams, err := p.TextToMetricFamilies(bytes.NewReader(buf.Bytes()))
		if err != nil {
			t.Fatalf("%v\n%q", err, buf.String())
		}
		ms := fams["fuzz_events_total"].GetMetric()
		if len(ms) != 1 || ms[0].GetCounter().GetValue() != float64(n) {
			t.Fatalf("read back %v from %q", ms, buf.String())
		}
		want := strings.ToValidUTF8(value, "\uFFFD")
		got := ""
		if l := ms[0].GetLabel(); len(l) == 1 {
			got = l[0].GetValue()
		}
		if got != want {
			t.Fatalf("label %q read back as %q", want, got)
		}
	})
}

// FuzzEMFDimensions: any dimension value makes one JSON line that names it
// as a dimension and carries the value.
func FuzzEMFDimensions(f *testing.F) {
	for _, s := range []string{"plain", `q"uote`, "\xff", "_aws", "<html>"} {
		f.Add("k", s)
	}
	f.Add("_aws", "x")
	f.Fuzz(func(t *testing.T, key, value string) {
		r := &registry{}
		c, _ := r.Meter().Int64Counter("fuzz.events")
		c.Add(context.Background(), 1, metric.WithAttributes(attribute.String(key, value)))
		var buf bytes.Buffer
		if err := WriteEMF(&buf, "ns", time.Unix(0, 0), r.Read(context.Background(), true)); err != nil {
			t.Fatal(err)
		}
		lines := bytes.Split(bytes.TrimSuffix(buf.Bytes(), []byte("\n")), []byte("\n"))
		if len(lines) != 1 {
			t.Fatalf("%d lines: %q", len(lines), buf.String())
		}
		var m map[string]any
		if err := json.Unmarshal(lines[0], &m); err != nil {
			t.Fatalf("%v: %q", err, lines[0])
		}
		if m["fuzz_events_total"] != float64(1) {
			t.Fatalf("value %v in %s", m["fuzz_events_total"], lines[0])
		}
		if _, ok := m["_aws"].(map[string]any); !ok {
			t.Fatalf("no _aws object in %s", lines[0])
		}
		if value != "" && key != "_aws" && key != "fuzz_events_total" && utf8.ValidString(key) && utf8.ValidString(value) && m[key] != value {
			t.Fatalf("dimension %q = %v, want %q", key, m[key], value)
		}
	})
}

// FuzzTraceParent: whatever a trigger carries, the trace it continues reads
// back as "" (dropped) or as a traceparent that continues the same trace.
func FuzzTraceParent(f *testing.F) {
	f.Add("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	f.Add("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x")
	f.Add("00-00000000000000000000000000000000-00f067aa0ba902b7-01")
	f.Fuzz(func(t *testing.T, s string) {
		got := traceParentOf(ContextWithTraceParent(context.Background(), s))
		if got == "" {
			return
		}
		if again := traceParentOf(ContextWithTraceParent(context.Background(), got)); again != got {
			t.Fatalf("%q -> %q -> %q", s, got, again)
		}
	})
}
