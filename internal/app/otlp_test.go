//go:build otlp

package app

import (
	"bytes"
	"context"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	colmetric "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	coltrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/restorepoint/restorepoint/cbr/cbrtest"
)

// otlpReceiver is an OTLP/HTTP receiver: it decodes the protobuf payloads
// and keeps them, and the raw bodies and headers for the secret search.
type otlpReceiver struct {
	mu      sync.Mutex
	spans   []*tracepb.Span
	metrics []string // metric names
	raw     [][]byte
	headers []http.Header
}

func (r *otlpReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.raw = append(r.raw, body)
	r.headers = append(r.headers, req.Header.Clone())
	switch req.URL.Path {
	case "/v1/traces":
		var m coltrace.ExportTraceServiceRequest
		if err := proto.Unmarshal(body, &m); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		for _, rs := range m.GetResourceSpans() {
			for _, ss := range rs.GetScopeSpans() {
				r.spans = append(r.spans, ss.GetSpans()...)
			}
		}
		b, _ := proto.Marshal(&coltrace.ExportTraceServiceResponse{})
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.Write(b)
	case "/v1/metrics":
		var m colmetric.ExportMetricsServiceRequest
		if err := proto.Unmarshal(body, &m); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		for _, rm := range m.GetResourceMetrics() {
			for _, sm := range rm.GetScopeMetrics() {
				for _, mt := range sm.GetMetrics() {
					r.metrics = append(r.metrics, mt.GetName())
				}
			}
		}
		b, _ := proto.Marshal(&colmetric.ExportMetricsServiceResponse{})
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.Write(b)
	default:
		http.NotFound(w, req)
	}
}

func attrs(kvs []*commonpb.KeyValue) map[string]any {
	out := map[string]any{}
	for _, kv := range kvs {
		switch v := kv.GetValue().GetValue().(type) {
		case *commonpb.AnyValue_StringValue:
			out[kv.GetKey()] = v.StringValue
		case *commonpb.AnyValue_IntValue:
			out[kv.GetKey()] = v.IntValue
		case *commonpb.AnyValue_BoolValue:
			out[kv.GetKey()] = v.BoolValue
		case *commonpb.AnyValue_ArrayValue:
			var s []string
			for _, e := range v.ArrayValue.GetValues() {
				s = append(s, e.GetStringValue())
			}
			out[kv.GetKey()] = strings.Join(s, ",")
		}
	}
	return out
}

// TestOTLPSpansAndMetrics sends a trigger with a traceparent through the
// HTTP front door, with a 503 before the create succeeds, and reads what an
// OTLP/HTTP receiver got: the trigger's span under the trigger's trace id,
// its CBR client spans (the retry visible), the planning and sink spans,
// the FaaS and CloudEvents attributes; the metrics; no secret anywhere.
func TestOTLPSpansAndMetrics(t *testing.T) {
	recv := &otlpReceiver{}
	rs := httptest.NewServer(recv)
	t.Cleanup(rs.Close)
	const headerSecret = "hdr-SECRET-0a1b2c3d"
	w := newWorld(t, map[string]string{
		"OTEL_EXPORTER_OTLP_ENDPOINT": rs.URL,
		"OTEL_EXPORTER_OTLP_HEADERS":  "x-api-key=" + headerSecret,
		"CBR_MAX_ATTEMPTS":            "2",
	})
	const traceID, parentID = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	e := taggedEvent("otlp-1", cbrtest.ExampleServerID, map[string]string{"backup": "daily"})
	e.SetExtension("traceparent", "00-"+traceID+"-"+parentID+"-01")
	w.emu.Inject(cbrtest.Fault{Method: http.MethodPost, Path: "checkpoints", Status: http.StatusServiceUnavailable})
	if status := w.post(e, nil); status != http.StatusOK {
		t.Fatalf("status %d\n%s", status, w.logs)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := w.app.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}

	recv.mu.Lock()
	defer recv.mu.Unlock()
	byName := map[string][]*tracepb.Span{}
	for _, s := range recv.spans {
		if got := hex.EncodeToString(s.GetTraceId()); got != traceID {
			t.Errorf("span %q in trace %s, want %s", s.GetName(), got, traceID)
		}
		byName[s.GetName()] = append(byName[s.GetName()], s)
	}
	root := byName["trigger server.tagged"]
	if len(root) != 1 {
		t.Fatalf("trigger spans %d, spans %v", len(root), byName)
	}
	trig := root[0]
	if got := hex.EncodeToString(trig.GetParentSpanId()); got != parentID {
		t.Errorf("trigger span's parent %s, want %s", got, parentID)
	}
	ta := attrs(trig.GetAttributes())
	for k, v := range map[string]any{
		"faas.trigger": "http", "faas.coldstart": true, "cloudevents.event_id": "otlp-1",
		"cloudevents.event_source": "/test/tagger", "cloudevents.event_type": "io.restorepoint.server.tagged",
		"cloudevents.event_subject": cbrtest.ExampleServerID, "restorepoint.vault_id": cbrtest.ExampleVaultID,
		"restorepoint.outcome": "created",
	} {
		if ta[k] != v {
			t.Errorf("trigger span %s = %v, want %v", k, ta[k], v)
		}
	}
	if ids, _ := ta["restorepoint.checkpoint_ids"].(string); ids == "" {
		t.Errorf("trigger span has no checkpoint ids: %v", ta)
	}
	cbrSpans := byName["POST /v3/{project_id}/checkpoints"]
	if len(cbrSpans) != 2 {
		t.Fatalf("CBR spans %d, want 2 (a 503, then the create): %v", len(cbrSpans), byName)
	}
	wantStatus := []int64{503, 200}
	for i, s := range cbrSpans {
		a := attrs(s.GetAttributes())
		if !bytes.Equal(s.GetParentSpanId(), trig.GetSpanId()) || s.GetKind() != tracepb.Span_SPAN_KIND_CLIENT {
			t.Errorf("CBR span %d: parent %x kind %v, want the trigger span's child, client", i, s.GetParentSpanId(), s.GetKind())
		}
		if a["http.request.method"] != "POST" || a["http.response.status_code"] != wantStatus[i] {
			t.Errorf("CBR span %d attributes %v, want POST and status %d", i, a, wantStatus[i])
		}
		if i == 1 && a["http.request.resend_count"] != int64(1) {
			t.Errorf("retry span: resend_count %v, want 1", a["http.request.resend_count"])
		}
	}
	for _, name := range []string{"plan", "send result"} {
		if len(byName[name]) != 1 || !bytes.Equal(byName[name][0].GetParentSpanId(), trig.GetSpanId()) {
			t.Errorf("%s span: %v, want one child of the trigger span", name, byName[name])
		}
	}
	// The result event continues the trigger's span.
	events := w.sink.Events()
	if len(events) != 1 {
		t.Fatalf("sink got %d events", len(events))
	}
	wantTP := "00-" + traceID + "-" + hex.EncodeToString(trig.GetSpanId()) + "-01"
	if tp := events[0].Extensions()["traceparent"]; tp != wantTP {
		t.Errorf("result traceparent %v, want %s", tp, wantTP)
	}
	if !strings.Contains(strings.Join(recv.metrics, " "), "restorepoint.triggers") {
		t.Errorf("metrics received: %v", recv.metrics)
	}
	for i, h := range recv.headers {
		if h.Get("X-Api-Key") != headerSecret {
			t.Errorf("export %d without the configured header", i)
		}
	}
	for i, b := range recv.raw {
		for _, s := range []string{testCBRToken, headerSecret} {
			if bytes.Contains(b, []byte(s)) {
				t.Errorf("secret %.6s... in OTLP payload %d", s, i)
			}
		}
	}
	if bytes.Contains(w.logs.Bytes(), []byte(headerSecret)) {
		t.Error("the OTLP header secret is in the logs")
	}
}
