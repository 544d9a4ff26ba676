package handler_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	ceclient "github.com/cloudevents/sdk-go/v2/client"
	"github.com/cloudevents/sdk-go/v2/event"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"

	"github.com/restorepoint/restorepoint/cbr"
	"github.com/restorepoint/restorepoint/cbr/cbrtest"
	"github.com/restorepoint/restorepoint/events"
	"github.com/restorepoint/restorepoint/failure"
	"github.com/restorepoint/restorepoint/function"
	"github.com/restorepoint/restorepoint/handler"
	"github.com/restorepoint/restorepoint/handler/handlertest"
	"github.com/restorepoint/restorepoint/iam"
)

const webhookSecret = "hook-SECRET-7d1f"

// front is the HTTP front door wired to an emulator and a recording sink,
// all over loopback.
type front struct {
	emu    *cbrtest.Server
	sink   *handlertest.Server
	srv    *httptest.Server
	client ceclient.Client
	logs   *bytes.Buffer
}

type frontOptions struct {
	http     handler.HTTPOptions
	function function.Config
	noSink   bool
	attempts int
	rules    handler.Rules
}

func newFront(t *testing.T, opts frontOptions) *front {
	t.Helper()
	emu := cbrtest.NewServer(cbrtest.Options{})
	t.Cleanup(emu.Close)
	attempts := opts.attempts
	if attempts == 0 {
		attempts = 2
	}
	api, err := cbr.New(emu.URL, cbrtest.DefaultProjectID, iam.RequestCredentials{Fallback: iam.TokenAuthorizer{Source: iam.NewStatic(cbrtest.DefaultToken)}},
		cbr.WithMaxAttempts(attempts), cbr.WithBackoff(time.Millisecond, 2*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	f := &front{emu: emu, sink: handlertest.NewServer(), logs: &bytes.Buffer{}}
	t.Cleanup(f.sink.Close)
	core := &handler.Core{
		Function: function.New(opts.function, api),
		Source:   "restorepoint-test",
		Logger:   newTestLogger(f.logs),
		Rules:    opts.rules,
	}
	if !opts.noSink {
		s, err := handler.NewHTTPSink(f.sink.URL, nil)
		if err != nil {
			t.Fatal(err)
		}
		core.Sink = s
	}
	if opts.http.WebhookSecret == "" && opts.http.WebhookSecrets == nil {
		opts.http.Open = true // as WEBHOOK_AUTH=none: the tests that check secrets set one
	}
	f.srv = httptest.NewServer(handler.NewHTTP(core, opts.http))
	t.Cleanup(f.srv.Close)
	f.client, err = ceclient.NewHTTP(cehttp.WithTarget(f.srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, secret := range []string{cbrtest.DefaultToken, webhookSecret, opts.http.WebhookSecret.Reveal()} {
			if secret != "" && strings.Contains(f.logs.String(), secret) {
				t.Errorf("logs contain a secret: %s", f.logs.String())
			}
		}
	})
	return f
}

// send delivers e with the sdk-go client and returns the reply and status.
func (f *front) send(t *testing.T, e event.Event) (*event.Event, int) {
	t.Helper()
	reply, res := f.client.Request(context.Background(), e)
	var hr *cehttp.Result
	if !errors.As(res, &hr) {
		t.Fatalf("send %s: %v", e.ID(), res)
	}
	return reply, hr.StatusCode
}

// post sends a raw request and returns the response with its body read.
func (f *front) post(t *testing.T, contentType string, body []byte, header http.Header) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, f.srv.URL+"/", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp, data
}

func newEvent(id, typ string, data any) event.Event {
	e := event.New()
	e.SetID(id)
	e.SetSource("/test")
	e.SetType(typ)
	if err := e.SetData(event.ApplicationJSON, data); err != nil {
		panic(err)
	}
	return e
}

func taggedEvent(id string) event.Event {
	return newEvent(id, events.TypeServerTagged, map[string]any{
		"server_id": cbrtest.ExampleServerID, "server_name": cbrtest.ExampleServerName,
		"tags": map[string]string{"backup": "daily", "backup-vault": cbrtest.ExampleVaultID},
	})
}

func deployEvent(id string, resources ...any) event.Event {
	return newEvent(id, events.TypeDeployPre, map[string]any{
		"service": "shop", "version": "1.0", "vault_id": cbrtest.ExampleVaultID, "resources": resources,
	})
}

func TestBinaryModeCreatesCheckpoint(t *testing.T) {
	f := newFront(t, frontOptions{})
	e := taggedEvent("bin-1")
	e.SetExtension("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	reply, status := f.send(t, e)
	if status != http.StatusOK || reply == nil {
		t.Fatalf("status %d, reply %v", status, reply)
	}
	if reply.Type() != events.TypeCheckpointCreated || reply.Subject() != cbrtest.ExampleVaultID || reply.Source() != "restorepoint-test" {
		t.Fatalf("reply attributes: %s", reply)
	}
	if tp, _ := reply.Extensions()["traceparent"].(string); !strings.HasPrefix(tp, "00-4bf92f") {
		t.Errorf("traceparent not carried over: %v", reply.Extensions())
	}
	var data events.Created
	if err := reply.DataAs(&data); err != nil {
		t.Fatal(err)
	}
	if data.Trigger.ID != "bin-1" || len(data.Checkpoints) != 1 || data.Duplicate {
		t.Fatalf("data = %+v", data)
	}
	if n := f.emu.CountCreates(); n != 1 {
		t.Fatalf("creates = %d", n)
	}
	sunk := f.sink.Events()
	if len(sunk) != 1 || sunk[0].ID() != reply.ID() {
		t.Fatalf("sink received %d events", len(sunk))
	}
}

func TestStructuredModeAndRawPayloads(t *testing.T) {
	f := newFront(t, frontOptions{function: function.Config{DefaultVaultID: cbrtest.ExampleVaultID}})
	for _, tc := range []struct {
		file, contentType, wantType string
	}{
		{"server-tagged.json", "application/cloudevents+json", events.TypeCheckpointCreated},
		{"deploy-pre.json", "application/cloudevents+json; charset=utf-8", events.TypeCheckpointCreated},
		{"cts-create-tag.json", "application/json", events.TypeCheckpointCreated},
		{"cts-delete-tag.json", "application/json", events.TypeTriggerIgnored},
		{"eventbridge-deploy-pre.json", "application/json", events.TypeCheckpointCreated},
	} {
		t.Run(tc.file, func(t *testing.T) {
			body := readFixture(t, tc.file)
			resp, data := f.post(t, tc.contentType, body, nil)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d: %s", resp.StatusCode, data)
			}
			if got := resp.Header.Get("ce-type"); got != tc.wantType {
				t.Fatalf("ce-type = %q, want %q; body %s", got, tc.wantType, data)
			}
		})
	}
}

func TestBatchMode(t *testing.T) {
	f := newFront(t, frontOptions{})
	batch := []event.Event{taggedEvent("b-1"), deployEvent("b-2", cbrtest.DemoDataVolumeID), newEvent("b-3", events.TypeDeployPre, map[string]any{"version": "x"})}
	body, _ := json.Marshal(batch)
	resp, data := f.post(t, event.ApplicationCloudEventsBatchJSON, body, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, data)
	}
	var replies []event.Event
	if err := json.Unmarshal(data, &replies); err != nil {
		t.Fatalf("reply is not a batch: %v\n%s", err, data)
	}
	got := map[string]string{}
	for _, r := range replies {
		var d struct {
			Trigger events.Ref `json:"trigger"`
		}
		_ = r.DataAs(&d)
		got[d.Trigger.ID] = r.Type()
	}
	want := map[string]string{"b-1": events.TypeCheckpointCreated, "b-2": events.TypeCheckpointCreated, "b-3": events.TypeCheckpointFailed}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("batch results = %v, want %v", got, want)
	}
	if f.emu.CountCreates() != 2 || len(f.sink.Events()) != 3 {
		t.Fatalf("creates = %d, sink = %d", f.emu.CountCreates(), len(f.sink.Events()))
	}

	// One event needing a retry makes the whole batch retried; the redelivery
	// is answered from the records.
	f.emu.Inject(cbrtest.Fault{Method: http.MethodPost, Status: 503, Times: 10})
	batch = []event.Event{taggedEvent("b-1"), deployEvent("b-4", cbrtest.DemoVolumeID)}
	body, _ = json.Marshal(batch)
	resp, data = f.post(t, event.ApplicationCloudEventsBatchJSON, body, nil)
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("status %d, want 503: %s", resp.StatusCode, data)
	}
	f.emu.ClearFaults()
	resp, data = f.post(t, event.ApplicationCloudEventsBatchJSON, body, nil)
	if resp.StatusCode != http.StatusOK || f.emu.CountCreates() != 3 {
		t.Fatalf("redelivery: status %d, creates %d: %s", resp.StatusCode, f.emu.CountCreates(), data)
	}
}

func TestWebhookAuth(t *testing.T) {
	f := newFront(t, frontOptions{http: handler.HTTPOptions{WebhookSecret: iam.Secret(webhookSecret)}})
	body := readFixture(t, "server-tagged.json")
	ct := "application/cloudevents+json"
	tests := []struct {
		name   string
		header http.Header
		want   int
	}{
		{"bearer right", http.Header{"Authorization": {"Bearer " + webhookSecret}}, http.StatusOK},
		{"signature right", http.Header{"X-Hub-Signature-256": {handler.Sign(webhookSecret, body)}}, http.StatusOK},
		{"none", nil, http.StatusUnauthorized},
		{"bearer wrong", http.Header{"Authorization": {"Bearer nope"}}, http.StatusUnauthorized},
		{"basic auth", http.Header{"Authorization": {"Basic " + webhookSecret}}, http.StatusUnauthorized},
		{"signature forged", http.Header{"X-Hub-Signature-256": {handler.Sign("guess", body)}}, http.StatusUnauthorized},
		{"signature of another body", http.Header{"X-Hub-Signature-256": {handler.Sign(webhookSecret, []byte("{}"))}}, http.StatusUnauthorized},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, data := f.post(t, ct, body, tc.header)
			if resp.StatusCode != tc.want {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.want, data)
			}
			if tc.want == http.StatusUnauthorized && (!strings.Contains(string(data), "error") || strings.Contains(string(data), webhookSecret)) {
				t.Fatalf("401 body %s", data)
			}
		})
	}
	if n := f.emu.CountCreates(); n != 1 {
		t.Fatalf("creates = %d, want 1 (the second good delivery is a duplicate)", n)
	}
}

func TestStatusCodes(t *testing.T) {
	tests := []struct {
		name       string
		opts       frontOptions
		fault      *cbrtest.Fault
		event      event.Event
		want       int
		wantType   string
		wantHeader string
	}{
		{"created", frontOptions{}, nil, taggedEvent("s-1"), 200, events.TypeCheckpointCreated, ""},
		{"ignored", frontOptions{}, nil, newEvent("s-2", events.TypeServerTagged, map[string]any{
			"server_id": cbrtest.ExampleServerID, "tags": map[string]string{"backup": "off"}}), 200, events.TypeTriggerIgnored, ""},
		{"dry run", frontOptions{function: function.Config{DryRun: true}}, nil, taggedEvent("s-3"), 200, events.TypeCheckpointCreated, ""},
		{"invalid", frontOptions{}, nil, newEvent("s-4", events.TypeDeployPre, map[string]any{"service": ""}), 400, events.TypeCheckpointFailed, ""},
		{"no vault", frontOptions{}, nil, newEvent("s-5", events.TypeServerTagged, map[string]any{
			"server_id": cbrtest.ExampleServerID, "tags": map[string]string{"backup": "daily"}}), 400, events.TypeCheckpointFailed, ""},
		{"rejected", frontOptions{}, &cbrtest.Fault{Status: 404, Code: "BackupService.6105"}, taggedEvent("s-6"), 422, events.TypeCheckpointFailed, ""},
		{"throttled", frontOptions{}, &cbrtest.Fault{Status: 429, RetryAfter: "3", Times: 5}, taggedEvent("s-7"), 429, events.TypeCheckpointFailed, "3"},
		{"unavailable", frontOptions{}, &cbrtest.Fault{Status: 503, Times: 5}, taggedEvent("s-8"), 503, events.TypeCheckpointFailed, ""},
		{"token refused", frontOptions{}, &cbrtest.Fault{Status: 401, Times: 5}, taggedEvent("s-9"), 403, events.TypeCheckpointFailed, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFront(t, tc.opts)
			if tc.fault != nil {
				tc.fault.Method = http.MethodPost
				f.emu.Inject(*tc.fault)
			}
			req, _ := http.NewRequest(http.MethodPost, f.srv.URL, nil)
			if err := cehttp.WriteRequest(context.Background(), binaryMessage(tc.event), req); err != nil {
				t.Fatal(err)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != tc.want {
				body, _ := io.ReadAll(resp.Body)
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.want, body)
			}
			if got := resp.Header.Get("ce-type"); got != tc.wantType {
				t.Fatalf("ce-type = %q, want %q", got, tc.wantType)
			}
			if got := resp.Header.Get("Retry-After"); got != tc.wantHeader {
				t.Fatalf("Retry-After = %q, want %q", got, tc.wantHeader)
			}
			// Final results reach the sink; retried ones do not (the platform retries).
			wantSunk := 1
			if tc.want == 429 || tc.want >= 500 {
				wantSunk = 0
			}
			if n := len(f.sink.Events()); n != wantSunk {
				t.Fatalf("sink received %d, want %d", n, wantSunk)
			}
		})
	}
}

func TestRequestErrors(t *testing.T) {
	f := newFront(t, frontOptions{http: handler.HTTPOptions{MaxBodyBytes: 4096}})
	tests := []struct {
		name, contentType string
		body              []byte
		want              int
		wantMsg           string
	}{
		{"too large", "application/cloudevents+json", bytes.Repeat([]byte("x"), 5000), 413, "MAX_BODY_BYTES"},
		{"plain text", "text/plain", []byte("hello"), 415, "expected a CloudEvent"},
		{"json of no known kind", "application/json", []byte(`{"hello":"world"}`), 415, "expected a CloudEvent"},
		{"malformed structured", "application/cloudevents+json", []byte(`{"specversion":"1.0",`), 400, "malformed CloudEvent"},
		{"structured without id", "application/cloudevents+json", []byte(`{"specversion":"1.0","source":"/x","type":"io.restorepoint.server.tagged"}`), 400, "id"},
		{"malformed batch", event.ApplicationCloudEventsBatchJSON, []byte(`[{`), 400, "batch"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, data := f.post(t, tc.contentType, tc.body, nil)
			if resp.StatusCode != tc.want || !strings.Contains(string(data), tc.wantMsg) {
				t.Fatalf("status %d, want %d; body %s (want it to mention %q)", resp.StatusCode, tc.want, data, tc.wantMsg)
			}
		})
	}
	if n := len(f.emu.Requests()); n != 0 {
		t.Fatalf("emulator saw %d requests", n)
	}
}

func TestDuplicateInProgressIs409(t *testing.T) {
	f := newFront(t, frontOptions{})
	f.emu.SetLatency(300 * time.Millisecond)
	e := taggedEvent("slow-1")
	first := make(chan int, 1)
	go func() {
		_, status := f.send(t, e)
		first <- status
	}()
	deadline := time.Now().Add(2 * time.Second)
	for len(f.emu.Requests()) == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	reply, status := f.send(t, e)
	if status != http.StatusConflict || reply != nil {
		t.Fatalf("duplicate in flight: status %d, reply %v", status, reply)
	}
	if s := <-first; s != http.StatusOK {
		t.Fatalf("first delivery: %d", s)
	}
	reply, status = f.send(t, e)
	var d events.Created
	if status != 200 || reply.DataAs(&d) != nil || !d.Duplicate {
		t.Fatalf("redelivery: %d %+v", status, d)
	}
	if f.emu.CountCreates() != 1 || len(f.sink.Events()) != 1 {
		t.Fatalf("creates %d, sink %d", f.emu.CountCreates(), len(f.sink.Events()))
	}
}

func TestFunctionGraphRequestToken(t *testing.T) {
	emu := cbrtest.NewServer(cbrtest.Options{Token: "cff-token-1"})
	t.Cleanup(emu.Close)
	api, err := cbr.New(emu.URL, cbrtest.DefaultProjectID, iam.RequestCredentials{})
	if err != nil {
		t.Fatal(err)
	}
	core := &handler.Core{Function: function.New(function.Config{DefaultVaultID: cbrtest.ExampleVaultID}, api), Source: "fg"}
	srv := httptest.NewServer(handler.NewHTTP(core, handler.HTTPOptions{RequestTokens: true, Open: true}))
	t.Cleanup(srv.Close)
	body := readFixture(t, "cts-create-tag.json")

	for _, tc := range []struct {
		token    string
		want     int
		wantType string
	}{
		{"", 403, events.TypeCheckpointFailed},
		{"cff-token-1", 200, events.TypeCheckpointCreated},
	} {
		req, _ := http.NewRequest(http.MethodPost, srv.URL, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if tc.token != "" {
			req.Header.Set(handler.HeaderFunctionGraphToken, tc.token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.want || resp.Header.Get("ce-type") != tc.wantType {
			t.Fatalf("token %q: status %d type %q: %s", tc.token, resp.StatusCode, resp.Header.Get("ce-type"), data)
		}
		if tc.token == "" && !strings.Contains(string(data), "X-CFF-Auth-Token") {
			t.Fatalf("failure does not name the missing header: %s", data)
		}
	}
	// The lookup before creating and the create, both with the request's token.
	if reqs := emu.Requests(); len(reqs) != 2 || reqs[0].Token != "cff-token-1" || reqs[1].Token != "cff-token-1" {
		t.Fatalf("emulator requests: %+v", reqs)
	}
}

func TestHealthAndReadiness(t *testing.T) {
	ready := errors.New("token source: iam: no token")
	h := handler.NewHTTP(&handler.Core{}, handler.HTTPOptions{Ready: func(context.Context) error { return ready }})
	for path, want := range map[string]int{"/healthz": 200, "/readyz": 503} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		if rec.Code != want {
			t.Errorf("%s: %d, want %d", path, rec.Code, want)
		}
	}
	ready = nil
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
	if rec.Code != 200 {
		t.Errorf("/readyz when ready: %d", rec.Code)
	}
}

func TestOneLogLinePerTrigger(t *testing.T) {
	f := newFront(t, frontOptions{})
	reply, status := f.send(t, deployEvent("log-1", cbrtest.DemoDataVolumeID, "0f1e2d3c-4b5a-4697-8877-665544332211"))
	if status != 200 || reply == nil {
		t.Fatalf("status %d", status)
	}
	var lines []map[string]any
	for line := range strings.SplitSeq(strings.TrimSpace(f.logs.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line is not JSON: %q", line)
		}
		if m["msg"] == "trigger" {
			lines = append(lines, m)
		}
	}
	if len(lines) != 1 {
		t.Fatalf("%d trigger lines, want 1:\n%s", len(lines), f.logs)
	}
	l := lines[0]
	cps, _ := l["checkpoints"].([]any)
	if l["id"] != "log-1" || l["source"] != "/test" || l["type"] != events.TypeDeployPre || l["outcome"] != "created" ||
		l["vault"] != cbrtest.ExampleVaultID || len(cps) != 1 || l["skipped"] != float64(1) || l["duration_ms"] == nil {
		t.Fatalf("log line = %v", l)
	}
}

// stubFunction is a Function that ignores every trigger and records how many it handles at once.
type stubFunction struct {
	mu            sync.Mutex
	running, most int
}

func (p *stubFunction) Handle(ctx context.Context, t events.Trigger, deliver function.Deliver) (events.Result, error) {
	p.mu.Lock()
	p.running++
	p.most = max(p.most, p.running)
	p.mu.Unlock()
	time.Sleep(10 * time.Millisecond)
	p.mu.Lock()
	p.running--
	p.mu.Unlock()
	return delivered(ctx, deliver, events.Result{Type: events.TypeTriggerIgnored, ID: "probe-" + t.Ref.ID,
		Ignored: &events.Ignored{Trigger: t.Ref, Reason: "probe"}})
}

// A large batch does not become as many concurrent CBR calls.
func TestBatchConcurrencyBounded(t *testing.T) {
	probe := &stubFunction{}
	srv := httptest.NewServer(handler.NewHTTP(&handler.Core{Function: probe, Source: "probe"}, handler.HTTPOptions{Open: true}))
	t.Cleanup(srv.Close)
	batch := make([]event.Event, 64)
	for i := range batch {
		batch[i] = taggedEvent(fmt.Sprintf("many-%d", i))
	}
	body, _ := json.Marshal(batch)
	resp, err := http.Post(srv.URL, event.ApplicationCloudEventsBatchJSON, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if probe.most > 8 {
		t.Fatalf("%d triggers of one batch ran at once, want at most 8", probe.most)
	}
}

// A sink URL's password appears neither in the reply nor in the log when the
// sink cannot be reached.
func TestSinkFailureHidesURLPassword(t *testing.T) {
	const password = "sink-SECRET-41c9"
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // connections are refused
	sink, err := handler.NewHTTPSink("http://results:"+password+"@"+addr+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	core := &handler.Core{Function: &stubFunction{}, Sink: sink, Source: "probe", Logger: newTestLogger(&logs)}
	srv := httptest.NewServer(handler.NewHTTP(core, handler.HTTPOptions{Open: true}))
	t.Cleanup(srv.Close)
	body, _ := json.Marshal(taggedEvent("sink-pw-1"))
	resp, err := http.Post(srv.URL, "application/cloudevents+json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(data), "result sink") {
		t.Fatalf("status %d: %s", resp.StatusCode, data)
	}
	if strings.Contains(string(data), password) || strings.Contains(logs.String(), password) {
		t.Fatalf("the sink password leaked:\nreply %s\nlogs %s", data, logs.String())
	}
}

type failingSink struct{}

func (failingSink) Send(context.Context, event.Event) error { return errors.New("sink down") }

type failingFunction struct{}

func (failingFunction) Handle(ctx context.Context, t events.Trigger, deliver function.Deliver) (events.Result, error) {
	return delivered(ctx, deliver, events.Result{Type: events.TypeCheckpointFailed, ID: "failed-" + t.Ref.ID,
		Failed: &events.Failed{Trigger: t.Ref, Error: events.Failure{Class: failure.Rejected, Message: "vault gone"}}})
}

// The log line of a failed result whose sink send failed too keeps both
// messages, under distinct keys.
func TestLogLineKeepsFailureAndSinkError(t *testing.T) {
	var logs bytes.Buffer
	core := &handler.Core{Function: failingFunction{}, Sink: failingSink{}, Source: "x", Logger: newTestLogger(&logs), SinkFailures: true}
	tr, err := events.DecodeEvent(taggedEvent("log-2"))
	if err != nil {
		t.Fatal(err)
	}
	out := core.Run(context.Background(), tr, nil)
	if out.Err == nil {
		t.Fatalf("outcome %+v, want the sink error", out)
	}
	var m map[string]any
	if err := json.Unmarshal(logs.Bytes(), &m); err != nil {
		t.Fatalf("log %q: %v", logs.String(), err)
	}
	if m["message"] != "vault gone" || !strings.Contains(fmt.Sprint(m["error"]), "sink down") {
		t.Fatalf("log line %s", logs.String())
	}
}

// leaseLostFunction ends as function.Function's Handle does when the
// attempt outlived its lock and another took the trigger over: the created
// result, delivered, with an error wrapping function.ErrLeaseLost.
type leaseLostFunction struct{}

func (leaseLostFunction) Handle(ctx context.Context, t events.Trigger, deliver function.Deliver) (events.Result, error) {
	res, err := delivered(ctx, deliver, events.Result{Type: events.TypeCheckpointCreated, ID: "created-" + t.Ref.ID,
		Subject: cbrtest.ExampleVaultID, Created: &events.Created{Trigger: t.Ref, VaultID: cbrtest.ExampleVaultID,
			Checkpoints: []events.Checkpoint{{ID: "cp-1", Status: "protecting", JSON: json.RawMessage(`{"id":"cp-1"}`)}}}})
	refused := fmt.Errorf("idempotency store: complete refused: %w", function.ErrLeaseLost)
	if err != nil {
		return res, errors.Join(err, refused)
	}
	return res, refused
}

// recordingSink takes every event.
type recordingSink struct{ n int }

func (s *recordingSink) Send(context.Context, event.Event) error { s.n++; return nil }

// A result whose idempotency record was refused (the lease was lost)
// stands: answered 200 and sunk, with the refusal as a warning on its log
// line. If its sink send failed too, the trigger is retried as usual.
func TestLeaseLostIsAWarning(t *testing.T) {
	var logs bytes.Buffer
	sink := &recordingSink{}
	core := &handler.Core{Function: leaseLostFunction{}, Sink: sink, Source: "x", Logger: newTestLogger(&logs)}
	tr, err := events.DecodeEvent(taggedEvent("lease-1"))
	if err != nil {
		t.Fatal(err)
	}
	out := core.Run(context.Background(), tr, nil)
	if !out.Succeeded() || out.Status != http.StatusOK || out.Event == nil || sink.n != 1 || !errors.Is(out.Warning, function.ErrLeaseLost) {
		t.Fatalf("outcome %+v (sunk %d), want 200 with the created event, sunk, and the warning", out, sink.n)
	}
	var m map[string]any
	if err := json.Unmarshal(logs.Bytes(), &m); err != nil {
		t.Fatalf("log %q: %v", logs.String(), err)
	}
	if m["level"] != "WARN" || m["outcome"] != "created" || m["status"] != float64(200) || m["error"] != nil ||
		!strings.Contains(fmt.Sprint(m["warning"]), "lease lost") {
		t.Fatalf("log line %s", logs.String())
	}

	logs.Reset()
	core.Sink = failingSink{}
	out = handleEvent(context.Background(), core, taggedEvent("lease-2"))
	if out.Status != http.StatusServiceUnavailable || out.Err == nil || !strings.Contains(out.Err.Error(), "sink down") {
		t.Fatalf("outcome %+v, want 503 for the sink error", out)
	}
}
