package handler_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	awsevents "github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/restorepoint/restorepoint/cbr"
	"github.com/restorepoint/restorepoint/cbr/cbrtest"
	"github.com/restorepoint/restorepoint/events"
	"github.com/restorepoint/restorepoint/function"
	"github.com/restorepoint/restorepoint/handler"
	"github.com/restorepoint/restorepoint/handler/handlertest"
	"github.com/restorepoint/restorepoint/iam"
)

const lambdaWebhookSecret = "lambda-hook-SECRET-42aa"

// lambdaRig is the Lambda front door wired to an emulator and a result sink
// over loopback; invoke goes through lambda.NewHandler, as the runtime does
// (which calls the Lambda's Invoke method, no reflection).
type lambdaRig struct {
	emu    *cbrtest.Server
	sink   *handlertest.Server
	lambda lambda.Handler
	logs   *bytes.Buffer
}

func newLambdaRig(t *testing.T) *lambdaRig {
	t.Helper()
	return newLambdaRigWith(t, lambdaWebhookSecret, nil)
}

// newLambdaRigWith is newLambdaRig with the given webhook secret and rules.
func newLambdaRigWith(t *testing.T, secret iam.Secret, rules handler.Rules) *lambdaRig {
	t.Helper()
	emu := cbrtest.NewServer(cbrtest.Options{})
	t.Cleanup(emu.Close)
	api, err := cbr.New(emu.URL, cbrtest.DefaultProjectID, iam.TokenAuthorizer{Source: iam.NewStatic(cbrtest.DefaultToken)},
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
	rig := &lambdaRig{emu: emu, sink: sink, logs: &bytes.Buffer{}}
	core := &handler.Core{
		Function: function.New(function.Config{}, api),
		Sink:     s,
		Source:   "restorepoint-lambda-test",
		Logger:   newTestLogger(rig.logs),
		Rules:    rules,
	}
	l := handler.NewLambda(core, handler.HTTPOptions{WebhookSecret: secret})
	rig.lambda = lambda.NewHandler(l)
	t.Cleanup(func() {
		logs := rig.logs.String()
		for _, s := range []string{cbrtest.DefaultToken, secret.Reveal()} {
			if s != "" && strings.Contains(logs, s) {
				t.Errorf("logs contain a secret: %s", logs)
			}
		}
	})
	return rig
}

func (r *lambdaRig) invoke(t *testing.T, payload []byte) ([]byte, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return r.lambda.Invoke(ctx, payload)
}

func readLambdaPayload(t *testing.T, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "testdata", "lambda", name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// resultEvent decodes a Lambda answer as a structured CloudEvent.
func resultEvent(t *testing.T, out []byte) (event.Event, events.Created) {
	t.Helper()
	var e event.Event
	if err := json.Unmarshal(out, &e); err != nil {
		t.Fatalf("answer is not a structured CloudEvent: %v: %s", err, out)
	}
	var c events.Created
	if e.Type() == events.TypeCheckpointCreated {
		if err := e.DataAs(&c); err != nil {
			t.Fatal(err)
		}
	}
	return e, c
}

func TestLambdaSingleEventPayloads(t *testing.T) {
	for _, tc := range []struct {
		name        string
		file        string
		wantTrigger events.Ref
		wantVault   string
		wantTrace   string
	}{
		{"EventBridge", "eventbridge-server-tagged.json",
			events.Ref{ID: "6a7e8feb-b491-4cf7-a9f1-bf3703467718", Source: "com.example.tagger", Type: events.TypeServerTagged},
			cbrtest.ExampleVaultID, ""},
		{"structured CloudEvent", "cloudevent-deploy-pre.json",
			events.Ref{ID: "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d", Source: "/ci/shop/pipelines/1850", Type: events.TypeDeployPre},
			cbrtest.ExampleVaultID, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
		{"CTS trigger", "cts-create-tag.json",
			events.Ref{ID: "0b6f7c1e-2d3a-4e5f-8a9b-0c1d2e3f4a5b", Source: "cts/ECS"},
			cbrtest.ExampleVaultID, ""},
		{"SNS", "sns-checkpoint-requested.json",
			events.Ref{ID: "7d3b9f2a-1c4e-4a6b-8d0f-2e4a6c8b0d1f", Source: "/ops/runbooks/nightly", Type: events.TypeCheckpointRequested},
			cbrtest.ExampleVaultID, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rig := newLambdaRig(t)
			out, err := rig.invoke(t, readLambdaPayload(t, tc.file))
			if err != nil {
				t.Fatalf("invoke: %v", err)
			}
			e, created := resultEvent(t, out)
			if e.Type() != events.TypeCheckpointCreated || e.Subject() != tc.wantVault || e.Source() != "restorepoint-lambda-test" {
				t.Fatalf("result %s subject %q source %q: %s", e.Type(), e.Subject(), e.Source(), out)
			}
			if created.Trigger.ID != tc.wantTrigger.ID || created.Trigger.Source != tc.wantTrigger.Source ||
				(tc.wantTrigger.Type != "" && created.Trigger.Type != tc.wantTrigger.Type) {
				t.Fatalf("trigger %+v, want %+v", created.Trigger, tc.wantTrigger)
			}
			if len(created.Checkpoints) != 1 || created.Duplicate {
				t.Fatalf("created %+v", created)
			}
			if got, _ := e.Extensions()[events.ExtensionTraceParent].(string); got != tc.wantTrace {
				t.Fatalf("traceparent %q, want %q", got, tc.wantTrace)
			}
			if rig.emu.CountCreates() != 1 {
				t.Fatalf("emulator saw %d creates, want 1", rig.emu.CountCreates())
			}
			sunk := rig.sink.Events()
			if len(sunk) != 1 || sunk[0].ID() != e.ID() {
				t.Fatalf("sink got %d events, want the result %s", len(sunk), e.ID())
			}

			// A redelivery (Lambda retries, SQS at-least-once) is answered
			// from the idempotency record without a second checkpoint.
			out, err = rig.invoke(t, readLambdaPayload(t, tc.file))
			if err != nil {
				t.Fatalf("redelivery: %v", err)
			}
			if e2, c2 := resultEvent(t, out); e2.ID() != e.ID() || !c2.Duplicate || rig.emu.CountCreates() != 1 {
				t.Fatalf("redelivery: id %s duplicate %v creates %d", e2.ID(), c2.Duplicate, rig.emu.CountCreates())
			}
		})
	}
}

func TestLambdaSQSBatchReportsEveryFailedRecord(t *testing.T) {
	batch := readLambdaPayload(t, "sqs-batch.json")
	var sqs awsevents.SQSEvent
	if err := json.Unmarshal(batch, &sqs); err != nil {
		t.Fatal(err)
	}
	poison := sqs.Records[2].MessageId

	for _, tc := range []struct {
		name        string
		edit        func(*awsevents.SQSEvent)
		wantFailed  []string
		wantCreates int
		wantSink    []string
	}{
		{"one invalid trigger", func(*awsevents.SQSEvent) {}, []string{poison}, 2,
			[]string{events.TypeCheckpointCreated, events.TypeCheckpointCreated, events.TypeCheckpointFailed}},
		{"one unrecognized body", func(e *awsevents.SQSEvent) { e.Records[2].Body = `{"hello":"world"}` }, []string{poison}, 2,
			[]string{events.TypeCheckpointCreated, events.TypeCheckpointCreated}},
		{"one body that is not JSON", func(e *awsevents.SQSEvent) { e.Records[2].Body = "backup please" }, []string{poison}, 2,
			[]string{events.TypeCheckpointCreated, events.TypeCheckpointCreated}},
		{"all good", func(e *awsevents.SQSEvent) { e.Records = e.Records[:2] }, []string{}, 2,
			[]string{events.TypeCheckpointCreated, events.TypeCheckpointCreated}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rig := newLambdaRig(t)
			var e awsevents.SQSEvent
			_ = json.Unmarshal(batch, &e)
			tc.edit(&e)
			payload, _ := json.Marshal(e)
			out, err := rig.invoke(t, payload)
			if err != nil {
				t.Fatalf("invoke: %v (a batch answers with its failures, never an error)", err)
			}
			var resp awsevents.SQSEventResponse
			if err := json.Unmarshal(out, &resp); err != nil {
				t.Fatalf("answer %s: %v", out, err)
			}
			failed := []string{}
			for _, f := range resp.BatchItemFailures {
				failed = append(failed, f.ItemIdentifier)
			}
			if !slices.Equal(failed, tc.wantFailed) {
				t.Fatalf("batchItemFailures %v, want %v (answer %s)", failed, tc.wantFailed, out)
			}
			if rig.emu.CountCreates() != tc.wantCreates {
				t.Fatalf("creates %d, want %d", rig.emu.CountCreates(), tc.wantCreates)
			}
			if got := rig.sink.Types(); !slices.Equal(got, tc.wantSink) {
				t.Fatalf("sink got %v, want %v", got, tc.wantSink)
			}
		})
	}
}

func TestLambdaFunctionURL(t *testing.T) {
	binary := readLambdaPayload(t, "function-url-binary.json")
	var req awsevents.LambdaFunctionURLRequest
	if err := json.Unmarshal(binary, &req); err != nil {
		t.Fatal(err)
	}
	withHeader := func(payload []byte, key, value string) []byte {
		var m map[string]any
		if err := json.Unmarshal(payload, &m); err != nil {
			t.Fatal(err)
		}
		m["headers"].(map[string]any)[key] = value
		out, _ := json.Marshal(m)
		return out
	}
	for _, tc := range []struct {
		name        string
		payload     []byte
		wantStatus  int
		wantType    string
		wantCreates int
	}{
		{"binary mode with bearer secret", withHeader(binary, "authorization", "Bearer "+lambdaWebhookSecret), 200, events.TypeCheckpointCreated, 1},
		{"binary mode with HMAC signature", withHeader(binary, "x-hub-signature-256",
			handler.Sign(lambdaWebhookSecret, []byte(req.Body))), 200, events.TypeCheckpointCreated, 1},
		{"structured, base64 body, API Gateway HTTP API", withHeader(readLambdaPayload(t, "apigw-v2-structured.json"),
			"authorization", "Bearer "+lambdaWebhookSecret), 200, events.TypeCheckpointCreated, 1},
		{"secret missing", binary, 401, "", 0},
		{"secret wrong", withHeader(binary, "authorization", "Bearer not-the-secret"), 401, "", 0},
		{"signature wrong", withHeader(binary, "x-hub-signature-256", "sha256=00"), 401, "", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rig := newLambdaRig(t)
			out, err := rig.invoke(t, tc.payload)
			if err != nil {
				t.Fatalf("invoke: %v (an HTTP request is answered with a status, never an error)", err)
			}
			var resp awsevents.LambdaFunctionURLResponse
			if err := json.Unmarshal(out, &resp); err != nil {
				t.Fatalf("answer %s: %v", out, err)
			}
			if resp.StatusCode != tc.wantStatus || resp.Headers["ce-type"] != tc.wantType {
				t.Fatalf("status %d ce-type %q, want %d %q: %s", resp.StatusCode, resp.Headers["ce-type"], tc.wantStatus, tc.wantType, out)
			}
			if resp.IsBase64Encoded || !json.Valid([]byte(resp.Body)) {
				t.Fatalf("body is not plain JSON: %+v", resp)
			}
			if rig.emu.CountCreates() != tc.wantCreates {
				t.Fatalf("creates %d, want %d", rig.emu.CountCreates(), tc.wantCreates)
			}
			if body := strings.ToLower(resp.Body); tc.wantStatus == 401 && !strings.Contains(body, "secret") && !strings.Contains(body, "signature") {
				t.Fatalf("401 body does not say why: %s", resp.Body)
			}
		})
	}
}

func TestLambdaFunctionURLKeepsHTTPStatusRules(t *testing.T) {
	// Through a Function URL the caller sees the status and retries; a
	// retryable failure is not sent to the sink, as on the HTTP front door.
	rig := newLambdaRig(t)
	rig.emu.Inject(cbrtest.Fault{Method: http.MethodPost, Path: "/checkpoints", Status: http.StatusTooManyRequests, Times: 2})
	var m map[string]any
	_ = json.Unmarshal(readLambdaPayload(t, "function-url-binary.json"), &m)
	m["headers"].(map[string]any)["authorization"] = "Bearer " + lambdaWebhookSecret
	payload, _ := json.Marshal(m)
	out, err := rig.invoke(t, payload)
	if err != nil {
		t.Fatal(err)
	}
	var resp awsevents.LambdaFunctionURLResponse
	if err := json.Unmarshal(out, &resp); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusTooManyRequests || resp.Headers["retry-after"] == "" || resp.Headers["ce-type"] != events.TypeCheckpointFailed {
		t.Fatalf("answer %s", out)
	}
	if got := rig.sink.Types(); len(got) != 0 {
		t.Fatalf("sink got %v, want nothing for a retryable HTTP failure", got)
	}
}

func TestLambdaFailuresEndInErrorAfterTheSink(t *testing.T) {
	invalid := []byte(`{"specversion":"1.0","id":"bad-1","source":"/ci","type":"io.restorepoint.deploy.pre","data":{"version":"1"}}`)
	eventBridge := readLambdaPayload(t, "eventbridge-server-tagged.json")
	for _, tc := range []struct {
		name          string
		payload       []byte
		fault         *cbrtest.Fault
		wantStatus    int
		wantRetryable bool
		wantSink      []string
		wantInMessage string
	}{
		{"invalid trigger", invalid, nil, 400, false, []string{events.TypeCheckpointFailed}, "data.service"},
		{"CBR refuses", eventBridge, &cbrtest.Fault{Method: http.MethodPost, Path: "/checkpoints", Status: 400,
			Code: "BackupService.6113", Message: "vault status does not allow backup", Times: 1},
			422, false, []string{events.TypeCheckpointFailed}, "BackupService.6113"},
		{"CBR throttles", eventBridge, &cbrtest.Fault{Method: http.MethodPost, Path: "/checkpoints", Status: 429, Times: 2},
			429, true, []string{events.TypeCheckpointFailed}, "throttled"},
		{"CBR unavailable", eventBridge, &cbrtest.Fault{Method: http.MethodPost, Path: "/checkpoints", Status: 503, Times: 2},
			503, true, []string{events.TypeCheckpointFailed}, "unavailable"},
		{"unrecognized payload", []byte(`{"hello":"world"}`), nil, 415, false, nil, "unrecognized payload"},
		{"payload that is no object", []byte(`["backup"]`), nil, 415, false, nil, "unrecognized payload"},
		{"records of another service", []byte(`{"Records":[{"eventSource":"aws:s3"}]}`), nil, 415, false, nil, "aws:s3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rig := newLambdaRig(t)
			if tc.fault != nil {
				rig.emu.Inject(*tc.fault)
			}
			out, err := rig.invoke(t, tc.payload)
			var te *handler.TriggerError
			if !errors.As(err, &te) {
				t.Fatalf("invoke = %s, %v; want a *handler.TriggerError", out, err)
			}
			if te.Status != tc.wantStatus || te.Retryable != tc.wantRetryable || !strings.Contains(te.Error(), tc.wantInMessage) {
				t.Fatalf("error %q status %d retryable %v; want %d %v containing %q",
					te.Error(), te.Status, te.Retryable, tc.wantStatus, tc.wantRetryable, tc.wantInMessage)
			}
			if got := rig.sink.Types(); !slices.Equal(got, tc.wantSink) {
				t.Fatalf("sink got %v, want %v", got, tc.wantSink)
			}
			if tc.wantSink != nil {
				failed, _ := resultEvent(t, te.Result)
				if failed.Type() != events.TypeCheckpointFailed || failed.ID() != rig.sink.Events()[0].ID() {
					t.Fatalf("error carries %s %s, the sink got %s", failed.Type(), failed.ID(), rig.sink.Events()[0].ID())
				}
				var data events.Failed
				if err := failed.DataAs(&data); err != nil || data.Trigger.ID == "" || data.Trigger.Source == "" {
					t.Fatalf("failed result does not name its trigger: %+v (%v)", data.Trigger, err)
				}
			}
		})
	}
}

func TestLambdaRetryAfterFailureSucceeds(t *testing.T) {
	// A failed attempt leaves no idempotency record: the platform's retry
	// creates the checkpoint, and the sink sees both results.
	rig := newLambdaRig(t)
	rig.emu.Inject(cbrtest.Fault{Method: http.MethodPost, Path: "/checkpoints", Status: 503, Times: 2})
	payload := readLambdaPayload(t, "eventbridge-server-tagged.json")
	if _, err := rig.invoke(t, payload); err == nil {
		t.Fatal("first attempt succeeded despite CBR being unavailable")
	}
	out, err := rig.invoke(t, payload)
	if err != nil {
		t.Fatalf("retry: %v", err)
	}
	if e, _ := resultEvent(t, out); e.Type() != events.TypeCheckpointCreated || rig.emu.CountCreates() != 1 {
		t.Fatalf("retry: %s, creates %d", e.Type(), rig.emu.CountCreates())
	}
	if got := rig.sink.Types(); !slices.Equal(got, []string{events.TypeCheckpointCreated, events.TypeCheckpointFailed}) {
		t.Fatalf("sink got %v", got)
	}
}

// inProgress is a Function for which every trigger is a duplicate still being
// handled elsewhere.
type inProgress struct{}

func (inProgress) Handle(context.Context, events.Trigger, function.Deliver) (events.Result, error) {
	return events.Result{}, function.ErrInProgress
}

func TestLambdaDuplicateInProgressIsRetried(t *testing.T) {
	l := handler.NewLambda(&handler.Core{Function: inProgress{}, Source: "test"}, handler.HTTPOptions{})
	_, err := lambda.NewHandler(l.Handle).Invoke(context.Background(), readLambdaPayload(t, "eventbridge-server-tagged.json"))
	var te *handler.TriggerError
	if !errors.As(err, &te) || te.Status != http.StatusConflict || !te.Retryable || !strings.Contains(te.Error(), "in progress") {
		t.Fatalf("err = %v, want a retryable TriggerError 409", err)
	}
}

func TestLambdaDeadlineBoundsAPICalls(t *testing.T) {
	rig := newLambdaRig(t)
	rig.emu.SetLatency(5 * time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := rig.lambda.Invoke(ctx, readLambdaPayload(t, "eventbridge-server-tagged.json"))
	took := time.Since(start)
	var te *handler.TriggerError
	if !errors.As(err, &te) || !te.Retryable {
		t.Fatalf("err = %v, want a retryable TriggerError", err)
	}
	if took > 3*time.Second {
		t.Fatalf("invocation took %v; the 300ms deadline did not bound the API call", took)
	}
}

// Invoke answers as lambda.Start answered Handle through reflection: the
// same bytes, and the same errors for payloads that are no JSON.
func TestLambdaInvokeMatchesReflectedHandle(t *testing.T) {
	l := handler.NewLambda(&handler.Core{Function: inProgress{}, Source: "test"}, handler.HTTPOptions{})
	var _ lambda.Handler = l
	reflected := lambda.NewHandler(l.Handle)
	for _, payload := range []string{
		`{"version":"2.0","rawPath":"/healthz","headers":{},"requestContext":{"http":{"method":"GET","path":"/healthz"}},"isBase64Encoded":false}`,
		`{"version":"2.0","rawPath":"/nowhere","headers":{},"requestContext":{"http":{"method":"GET","path":"/nowhere"}}}`,
		`{"version":"2.0","rawPath":"/","headers":{"content-type":"text/plain"},"body":"<&>","requestContext":{"http":{"method":"POST","path":"/"}}}`,
		` {"hello": "world"} trailing`,
		`{"Records":[]}`,
		`not json`,
		`{`,
		``,
	} {
		want, wantErr := reflected.Invoke(context.Background(), []byte(payload))
		got, err := l.Invoke(context.Background(), []byte(payload))
		if string(got) != string(want) || fmt.Sprint(err) != fmt.Sprint(wantErr) {
			t.Errorf("payload %q:\nInvoke    %q, %v\nreflected %q, %v", payload, got, err, want, wantErr)
		}
	}
}
