package handler_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/restorepoint/restorepoint/cbr"
	"github.com/restorepoint/restorepoint/cbr/cbrtest"
	"github.com/restorepoint/restorepoint/events"
	"github.com/restorepoint/restorepoint/function"
	"github.com/restorepoint/restorepoint/handler"
	"github.com/restorepoint/restorepoint/handler/handlertest"
	"github.com/restorepoint/restorepoint/iam"
)

// Agency credentials of the tests: the emulator's temporary keys, which
// restorepoint signs with (as it prefers keys to the token), distinctive so
// that the logs can be searched for them.
const (
	fgAccessKey     = cbrtest.DemoTemporaryAccessKey
	fgSecretKey     = cbrtest.DemoTemporarySecretKey
	fgSecurityToken = cbrtest.DemoSecurityToken
)

// fgRig is the FunctionGraph front door serving the runtime API stand-in
// over loopback, wired to the CBR emulator and a result sink, with per
// invocation credentials (CBR_AUTH=functiongraph).
type fgRig struct {
	emu  *cbrtest.Server
	sink *handlertest.Server
	rt   *handlertest.FunctionGraphRuntimeServer
	logs *bytes.Buffer
	seq  int
	// flushes counts the Flush calls, one before each answer is posted.
	flushes atomic.Int32
}

func newFGRig(t *testing.T) *fgRig {
	t.Helper()
	emu := cbrtest.NewServer(cbrtest.Options{})
	t.Cleanup(emu.Close)
	api, err := cbr.New(emu.URL, cbrtest.DefaultProjectID, iam.RequestCredentials{},
		cbr.WithMaxAttempts(2), cbr.WithBackoff(time.Millisecond, 2*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	sink := handlertest.NewServer()
	t.Cleanup(sink.Close)
	s, err := handler.NewHTTPSink(sink.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	rig := &fgRig{emu: emu, sink: sink, rt: handlertest.NewFunctionGraphRuntimeServer(), logs: &bytes.Buffer{}}
	core := &handler.Core{
		Function: function.New(function.Config{DefaultVaultID: cbrtest.ExampleVaultID}, api),
		Sink:     s,
		Source:   "restorepoint-fg-test",
		Logger:   newTestLogger(rig.logs),
	}
	fg := handler.NewFunctionGraph(core, handler.FunctionGraphOptions{
		RequestCredentials: true, RequireCredentials: true, Timeout: 20 * time.Second,
		Flush: func(context.Context) error { rig.flushes.Add(1); return nil },
	})
	rtAPI, err := handler.NewRuntimeAPI(rig.rt.Addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- fg.Serve(ctx, rtAPI) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
		rig.rt.Close()
		if refused := rig.rt.Refused(); len(refused) > 0 {
			t.Errorf("the runtime strayed from the API: %v", refused)
		}
		logs := rig.logs.String()
		for _, secret := range []string{cbrtest.DefaultToken, fgSecretKey, fgSecurityToken} {
			if strings.Contains(logs, secret) {
				t.Errorf("logs contain a secret: %s", logs)
			}
		}
	})
	return rig
}

// invoke sends body as a new invocation with the agency's credentials
// (unless bare) and returns the answer.
func (r *fgRig) invoke(t *testing.T, id string, body []byte, bare bool) handlertest.FunctionGraphAnswer {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	inv := handlertest.FunctionGraphInvocation{RequestID: id, Body: body}
	if !bare {
		inv.AuthToken, inv.AccessKey, inv.SecretKey, inv.SecurityToken = cbrtest.DefaultToken, fgAccessKey, fgSecretKey, fgSecurityToken
	}
	a, err := r.rt.Invoke(ctx, inv)
	if err != nil {
		t.Fatalf("invoke %s: %v", id, err)
	}
	return a
}

func resultOf(t *testing.T, a handlertest.FunctionGraphAnswer) (event.Event, map[string]any) {
	t.Helper()
	var e event.Event
	if err := json.Unmarshal(a.Body, &e); err != nil {
		t.Fatalf("answer is no structured CloudEvent: %v: %s", err, a.Body)
	}
	var data map[string]any
	if err := e.DataAs(&data); err != nil {
		t.Fatal(err)
	}
	return e, data
}

func TestFunctionGraphTriggerPayloads(t *testing.T) {
	rig := newFGRig(t)
	for _, tc := range []struct {
		file, typ, mention string
	}{
		{"cts-create-tag.json", events.TypeCheckpointCreated, ""},
		{"eventgrid-cts.json", events.TypeCheckpointCreated, ""},
		{"smn-cloudevent.json", events.TypeCheckpointCreated, ""},
		{"smn-checkpoint-requested.json", events.TypeCheckpointCreated, ""},
		{"timer-checkpoint-requested.json", events.TypeCheckpointCreated, ""},
		{"timer-cloudevent.json", events.TypeCheckpointCreated, ""},
		{"timer-not-a-trigger.json", events.TypeCheckpointFailed, "user_event: must be a string holding a structured CloudEvent"},
		{"smn-unknown-message.json", events.TypeCheckpointFailed, "smn.message: must be a structured CloudEvent"},
	} {
		t.Run(tc.file, func(t *testing.T) {
			body, err := os.ReadFile(filepath.Join("..", "testdata", "functiongraph", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			a := rig.invoke(t, "req-"+tc.file, body, false)
			if a.Endpoint != "response" {
				t.Fatalf("answered on %s: %s", a.Endpoint, a.Body)
			}
			e, _ := resultOf(t, a)
			if e.Type() != tc.typ || !strings.Contains(string(a.Body), tc.mention) {
				t.Fatalf("answer %s, want %s mentioning %q", a.Body, tc.typ, tc.mention)
			}
		})
	}
	for _, req := range rig.emu.Requests() {
		if req.AccessKey != fgAccessKey || req.HasToken {
			t.Errorf("CBR call signed by %q (token sent: %v), want the invocation's temporary keys", req.AccessKey, req.HasToken)
		}
	}
}

func TestFunctionGraphRedeliveryAndRetries(t *testing.T) {
	rig := newFGRig(t)
	cts, err := os.ReadFile(filepath.Join("..", "testdata", "functiongraph", "cts-create-tag.json"))
	if err != nil {
		t.Fatal(err)
	}

	// Throttled beyond the client's retries: the error endpoint, after the
	// failed result went to the sink.
	rig.emu.Inject(cbrtest.Fault{Method: "POST", Path: "checkpoints", Status: 429, Times: 2})
	a := rig.invoke(t, "req-1", cts, false)
	var eb handler.ErrorBody
	if a.Endpoint != "error" || json.Unmarshal(a.Body, &eb) != nil || eb.Status != 429 || eb.Result == nil {
		t.Fatalf("throttled: %s %s", a.Endpoint, a.Body)
	}
	if types := rig.sink.Types(); len(types) != 1 || types[0] != events.TypeCheckpointFailed {
		t.Fatalf("sink got %v", types)
	}

	// The platform retries the same request: now it succeeds.
	a = rig.invoke(t, "req-1", cts, false)
	if e, data := resultOf(t, a); a.Endpoint != "response" || e.Type() != events.TypeCheckpointCreated || data["duplicate"] == true {
		t.Fatalf("retry: %s %s", a.Endpoint, a.Body)
	}
	// A redelivery is answered from the idempotency record.
	a = rig.invoke(t, "req-1", cts, false)
	if _, data := resultOf(t, a); a.Endpoint != "response" || data["duplicate"] != true {
		t.Fatalf("redelivery: %s %s", a.Endpoint, a.Body)
	}
	if n := rig.emu.CountCreates(); n != 1 {
		t.Fatalf("%d restore points, want 1", n)
	}
	// Telemetry was flushed before each answer was posted.
	if n := rig.flushes.Load(); n != 3 {
		t.Fatalf("%d flushes for 3 invocations, want 3", n)
	}
}

func TestFunctionGraphBadInvocations(t *testing.T) {
	rig := newFGRig(t)
	cts, err := os.ReadFile(filepath.Join("..", "testdata", "functiongraph", "cts-create-tag.json"))
	if err != nil {
		t.Fatal(err)
	}
	// No agency: a failed result naming the headers, answered, not run.
	a := rig.invoke(t, "req-bare", cts, true)
	e, data := resultOf(t, a)
	if a.Endpoint != "response" || e.Type() != events.TypeCheckpointFailed {
		t.Fatalf("no agency: %s %s", a.Endpoint, a.Body)
	}
	for _, h := range []string{"X-CFF-Auth-Token", "X-CFF-Access-Key", "X-CFF-Secret-Key", "X-CFF-Security-Token"} {
		if !strings.Contains(string(a.Body), h) {
			t.Errorf("the failed result does not name %s: %s", h, a.Body)
		}
	}
	if trig, _ := data["trigger"].(map[string]any); trig["source"] != "cts/ECS" {
		t.Errorf("the failed result does not name the trigger: %v", data["trigger"])
	}
	if n := len(rig.emu.Requests()); n != 0 {
		t.Fatalf("%d CBR calls without credentials", n)
	}

	for _, body := range []string{`not json`, `{"hello":"world"}`, `[]`} {
		a := rig.invoke(t, "req-junk", []byte(body), false)
		e, data := resultOf(t, a)
		trig, _ := data["trigger"].(map[string]any)
		if a.Endpoint != "response" || e.Type() != events.TypeCheckpointFailed ||
			!strings.Contains(string(a.Body), "expected a CTS trigger") || trig["source"] != handler.FunctionGraphSource {
			t.Fatalf("%s: %s %s", body, a.Endpoint, a.Body)
		}
	}
}

func TestFunctionGraphServe(t *testing.T) {
	api, err := handler.NewRuntimeAPI("127.0.0.1:1", nil)
	if err != nil {
		t.Fatal(err)
	}
	fg := handler.NewFunctionGraph(&handler.Core{}, handler.FunctionGraphOptions{})
	if err := fg.Serve(context.Background(), api); !errors.Is(err, handler.ErrRuntimeAPIUnreachable) {
		t.Fatalf("unreachable runtime API: %v", err)
	}
	for _, addr := range []string{"", "host:1/path", "user@host:1"} {
		if _, err := handler.NewRuntimeAPI(addr, nil); err == nil {
			t.Errorf("NewRuntimeAPI(%q) accepted", addr)
		}
	}

	// Cancelled while waiting for an invocation: a clean return.
	rt := handlertest.NewFunctionGraphRuntimeServer()
	defer rt.Close()
	api, err = handler.NewRuntimeAPI(rt.Addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- fg.Serve(ctx, api) }()
	deadline := time.Now().Add(5 * time.Second)
	for rt.Polling() == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Serve after cancel: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after cancel")
	}
}
