package app

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/cloudevents/sdk-go/v2/event"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/restorepoint/restorepoint/cbr/cbrtest"
	"github.com/restorepoint/restorepoint/events"
	"github.com/restorepoint/restorepoint/handler/handlertest"
)

const (
	testCBRToken     = "cbr-SECRET-51c0ffee"
	testMetricsToken = "met-SECRET-9e8d7c6b"
)

// world is the app serving HTTP over loopback against the CBR emulator and
// a result sink, with its log lines kept.
type world struct {
	t    *testing.T
	emu  *cbrtest.Server
	sink *handlertest.Server
	srv  *httptest.Server
	app  *App
	logs *bytes.Buffer
}

func newWorld(t *testing.T, env map[string]string, opts ...Option) *world {
	t.Helper()
	w := &world{t: t, emu: cbrtest.NewServer(cbrtest.Options{Token: testCBRToken}), sink: handlertest.NewServer(), logs: &bytes.Buffer{}}
	t.Cleanup(w.emu.Close)
	t.Cleanup(w.sink.Close)
	vars := map[string]string{
		"CBR_ENDPOINT": w.emu.URL, "CBR_PROJECT_ID": cbrtest.DefaultProjectID, "CBR_TOKEN": testCBRToken,
		"RESULT_SINK": w.sink.URL, "CBR_MAX_ATTEMPTS": "1", "WEBHOOK_AUTH": "none",
	}
	for k, v := range env {
		vars[k] = v
	}
	cfg, err := Load(func(k string) string { return vars[k] })
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(cfg, NewLogger(cfg, &syncWriter{w: w.logs}), "test", opts...)
	if err != nil {
		t.Fatal(err)
	}
	w.app = a
	w.srv = httptest.NewServer(a.HTTPHandler())
	t.Cleanup(w.srv.Close)
	return w
}

// syncWriter serialises writes to a buffer read after the requests.
type syncWriter struct{ w io.Writer }

func (s *syncWriter) Write(p []byte) (int, error) { return s.w.Write(p) }

// post sends e as a structured CloudEvent and returns the status.
func (w *world) post(e event.Event, header http.Header) int {
	w.t.Helper()
	body, err := json.Marshal(e)
	if err != nil {
		w.t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, w.srv.URL+"/", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/cloudevents+json")
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		w.t.Fatal(err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

func (w *world) getMetrics(token string) (int, []byte) {
	w.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, w.srv.URL+"/metrics", nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		w.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func taggedEvent(id, server string, tags map[string]string) event.Event {
	e := event.New()
	e.SetID(id)
	e.SetSource("/test/tagger")
	e.SetType(events.TypeServerTagged)
	e.SetSubject(server)
	_ = e.SetData(event.ApplicationJSON, map[string]any{
		"server_id": server, "server_name": "test-server", "tags": tags, "vault_id": cbrtest.ExampleVaultID,
	})
	return e
}

// TestMetricsAfterKnownTriggers runs one trigger of each outcome through the
// HTTP front door and reads GET /metrics with the Prometheus text parser:
// every count is exact.
func TestMetricsAfterKnownTriggers(t *testing.T) {
	w := newWorld(t, map[string]string{"METRICS_TOKEN": testMetricsToken})
	backup := map[string]string{"backup": "daily"}

	created := taggedEvent("m-created", cbrtest.ExampleServerID, backup)
	steps := []struct {
		name   string
		e      event.Event
		status int
		before func()
	}{
		{"created", created, 200, nil},
		{"duplicate", created, 200, nil},
		{"ignored", taggedEvent("m-ignored", cbrtest.ExampleServerID, map[string]string{"backup": "off"}), 200, nil},
		{"invalid", func() event.Event {
			e := event.New()
			e.SetID("m-invalid")
			e.SetSource("/test/ci")
			e.SetType(events.TypeDeployPre)
			_ = e.SetData(event.ApplicationJSON, map[string]string{"version": "1"})
			return e
		}(), 400, nil},
		{"throttled", taggedEvent("m-throttled", cbrtest.DemoServerID, backup), 429, func() {
			w.emu.Inject(cbrtest.Fault{Method: http.MethodPost, Path: "checkpoints", Status: http.StatusTooManyRequests})
		}},
		{"skipped resource", func() event.Event {
			e := event.New()
			e.SetID("m-skipped")
			e.SetSource("/test/runbook")
			e.SetType(events.TypeCheckpointRequested)
			_ = e.SetData(event.ApplicationJSON, map[string]any{"checkpoint": map[string]any{
				"vault_id":   cbrtest.ExampleVaultID,
				"parameters": map[string]any{"resources": []string{cbrtest.DemoVolumeID, "0badc0de-0000-4000-8000-000000000000"}},
			}})
			return e
		}(), 200, nil},
	}
	for _, s := range steps {
		if s.before != nil {
			s.before()
		}
		if got := w.post(s.e, nil); got != s.status {
			t.Fatalf("%s: status %d, want %d\n%s", s.name, got, s.status, w.logs)
		}
	}

	if status, _ := w.getMetrics(""); status != http.StatusUnauthorized {
		t.Errorf("GET /metrics without the token: %d, want 401", status)
	}
	if status, _ := w.getMetrics("wrong"); status != http.StatusUnauthorized {
		t.Errorf("GET /metrics with a wrong token: %d, want 401", status)
	}
	status, body := w.getMetrics(testMetricsToken)
	if status != http.StatusOK {
		t.Fatalf("GET /metrics: %d: %s", status, body)
	}
	fams := parseMetrics(t, body)
	want := []struct {
		name   string
		labels map[string]string
		value  float64
	}{
		{"restorepoint_triggers_total", map[string]string{"type": "server.tagged", "outcome": "created"}, 1},
		{"restorepoint_triggers_total", map[string]string{"type": "server.tagged", "outcome": "duplicate"}, 1},
		{"restorepoint_triggers_total", map[string]string{"type": "server.tagged", "outcome": "ignored"}, 1},
		{"restorepoint_triggers_total", map[string]string{"type": "deploy.pre", "outcome": "invalid"}, 1},
		{"restorepoint_triggers_total", map[string]string{"type": "server.tagged", "outcome": "retried"}, 1},
		{"restorepoint_triggers_total", map[string]string{"type": "checkpoint.requested", "outcome": "created"}, 1},
		{"restorepoint_checkpoints_created_total", nil, 2},
		{"restorepoint_resources_skipped_total", map[string]string{"code": cbrtest.CodeNotInVault}, 1},
		{"restorepoint_cbr_requests_total", map[string]string{"operation": "create_checkpoint", "status": "200"}, 2},
		{"restorepoint_cbr_requests_total", map[string]string{"operation": "create_checkpoint", "status": "429", "code": "APIGW.0308"}, 1},
		// The lookup before each create (CBR_DEDUPE=lookup, the default).
		{"restorepoint_cbr_requests_total", map[string]string{"operation": "list_backups", "status": "200"}, 3},
		{"restorepoint_cbr_request_duration_seconds_count", map[string]string{"operation": "create_checkpoint"}, 3},
		{"restorepoint_sink_deliveries_total", map[string]string{"outcome": "delivered"}, 4},
		{"restorepoint_trigger_duration_seconds_count", map[string]string{"type": "server.tagged"}, 4},
		{"restorepoint_trigger_duration_seconds_count", map[string]string{"type": "deploy.pre"}, 1},
		{"restorepoint_trigger_duration_seconds_count", map[string]string{"type": "checkpoint.requested"}, 1},
		{"restorepoint_idempotency_records", nil, 2},
	}
	for _, wnt := range want {
		got, ok := sample(fams, wnt.name, wnt.labels)
		if !ok || got != wnt.value {
			t.Errorf("%s%v = %v (found %v), want %v", wnt.name, wnt.labels, got, ok, wnt.value)
		}
	}
	// Every series is one of the above: nothing else was counted.
	counts := map[string]int{}
	for name, f := range fams {
		counts[name] = len(f.GetMetric())
	}
	for name, n := range map[string]int{"restorepoint_triggers_total": 6, "restorepoint_cbr_requests_total": 3,
		"restorepoint_resources_skipped_total": 1, "restorepoint_sink_deliveries_total": 1} {
		if counts[name] != n {
			t.Errorf("%s has %d series, want %d", name, counts[name], n)
		}
	}
	if _, ok := fams["restorepoint_idempotency_store_errors_total"]; ok {
		t.Errorf("store errors counted:\n%s", body)
	}
	for _, secret := range []string{testCBRToken, testMetricsToken} {
		if bytes.Contains(body, []byte(secret)) || bytes.Contains(w.logs.Bytes(), []byte(secret)) {
			t.Errorf("secret %.6s... in /metrics or the logs", secret)
		}
	}
	if t.Failed() {
		t.Logf("/metrics:\n%s", body)
	}
}

// parseMetrics parses the Prometheus text format, histograms into their
// _bucket, _sum and _count samples as a scraper sees them.
func parseMetrics(t *testing.T, body []byte) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("/metrics does not parse: %v\n%s", err, body)
	}
	for name, f := range fams {
		if f.GetType() != dto.MetricType_HISTOGRAM {
			continue
		}
		count := &dto.MetricFamily{Name: new(name + "_count"), Type: dto.MetricType_COUNTER.Enum()}
		for _, m := range f.GetMetric() {
			count.Metric = append(count.Metric, &dto.Metric{Label: m.Label,
				Counter: &dto.Counter{Value: new(float64(m.GetHistogram().GetSampleCount()))}})
		}
		fams[name+"_count"] = count
	}
	return fams
}

// sample is the value of the series of name with exactly labels.
func sample(fams map[string]*dto.MetricFamily, name string, labels map[string]string) (float64, bool) {
	f, ok := fams[name]
	if !ok {
		return 0, false
	}
next:
	for _, m := range f.GetMetric() {
		if len(m.GetLabel()) != len(labels) {
			continue
		}
		for _, l := range m.GetLabel() {
			if labels[l.GetName()] != l.GetValue() {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.GetCounter().GetValue(), true
		case m.Gauge != nil:
			return m.GetGauge().GetValue(), true
		case m.Untyped != nil:
			return m.GetUntyped().GetValue(), true
		}
	}
	return 0, false
}

// TestMetricsOff: METRICS=off serves no /metrics.
func TestMetricsOff(t *testing.T) {
	w := newWorld(t, map[string]string{"METRICS": "off"})
	if status, body := w.getMetrics(""); status == http.StatusOK {
		t.Fatalf("GET /metrics with METRICS=off: 200: %s", body)
	}
}

// TestMetricsClosedByDefault: without METRICS_TOKEN, GET /metrics refuses
// every request, with the fixed reason a refused token gets, and the log
// says why at start; METRICS_AUTH=none opens it; with a token set the token
// is needed whatever METRICS_AUTH says.
func TestMetricsClosedByDefault(t *testing.T) {
	const reason = "metrics need Authorization: Bearer <METRICS_TOKEN>\n"
	closed := newWorld(t, nil)
	for _, token := range []string{"", "anything"} {
		if status, body := closed.getMetrics(token); status != http.StatusUnauthorized || string(body) != reason {
			t.Errorf("GET /metrics (token %q) without METRICS_TOKEN: %d %q, want 401 %q", token, status, body, reason)
		}
	}
	if !strings.Contains(closed.logs.String(), `"msg":"GET /metrics refuses every request: set METRICS_TOKEN`) {
		t.Errorf("no start-up warning that /metrics is closed:\n%s", closed.logs)
	}

	open := newWorld(t, map[string]string{"METRICS_AUTH": "none"})
	status, body := open.getMetrics("")
	if status != http.StatusOK {
		t.Fatalf("GET /metrics with METRICS_AUTH=none: %d: %s", status, body)
	}
	parseMetrics(t, body)
	if strings.Contains(open.logs.String(), "GET /metrics refuses") {
		t.Errorf("METRICS_AUTH=none, yet the log says /metrics is closed:\n%s", open.logs)
	}

	tokened := newWorld(t, map[string]string{"METRICS_AUTH": "none", "METRICS_TOKEN": testMetricsToken})
	if status, _ := tokened.getMetrics(""); status != http.StatusUnauthorized {
		t.Errorf("GET /metrics without the token, METRICS_TOKEN and METRICS_AUTH=none set: %d, want 401", status)
	}
	if status, body := tokened.getMetrics(testMetricsToken); status != http.StatusOK {
		t.Errorf("GET /metrics with the token: %d: %s", status, body)
	}
}

// TestLogLinesCarryTraceIDs: the trigger's log line carries the trace id
// of its traceparent and the result event continues that trace, with
// tracing off; an HTTP traceparent header is used when the event has none.
func TestLogLinesCarryTraceIDs(t *testing.T) {
	w := newWorld(t, nil)
	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	e := taggedEvent("t-ext", cbrtest.ExampleServerID, map[string]string{"backup": "daily"})
	e.SetExtension("traceparent", "00-"+traceID+"-00f067aa0ba902b7-01")
	w.post(e, nil)
	const headerTraceID = "0af7651916cd43dd8448eb211c80319c"
	w.post(taggedEvent("t-header", cbrtest.DemoServerID, map[string]string{"backup": "daily"}),
		http.Header{"Traceparent": {"00-" + headerTraceID + "-b7ad6b7169203331-01"}})

	lines := map[string]map[string]any{}
	for line := range strings.SplitSeq(strings.TrimSpace(w.logs.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if m["msg"] == "trigger" {
			lines[m["id"].(string)] = m
		}
	}
	for id, want := range map[string]string{"t-ext": traceID, "t-header": headerTraceID} {
		if got := lines[id]["trace_id"]; got != want {
			t.Errorf("%s: log line trace_id %v, want %s: %v", id, got, want, lines[id])
		}
		if sid, _ := lines[id]["span_id"].(string); len(sid) != 16 {
			t.Errorf("%s: log line span_id %q", id, sid)
		}
	}
	for _, got := range w.sink.Events() {
		tp, _ := got.Extensions()["traceparent"].(string)
		if !strings.Contains(tp, traceID) && !strings.Contains(tp, headerTraceID) {
			t.Errorf("result %s: traceparent %q continues neither trace", got.ID(), tp)
		}
	}
}
