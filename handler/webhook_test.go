package handler_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	awsevents "github.com/aws/aws-lambda-go/events"

	"github.com/restorepoint/restorepoint/cbr/cbrtest"
	"github.com/restorepoint/restorepoint/events"
	"github.com/restorepoint/restorepoint/function"
	"github.com/restorepoint/restorepoint/handler"
	"github.com/restorepoint/restorepoint/iam"
)

// fixtureSecret is the secret every request in testdata/webhooks is signed with.
const fixtureSecret = "change-me"

// webhookRequest reads a request of testdata/webhooks: its headers and body
// as the sender sends them.
func webhookRequest(t testing.TB, name string) (http.Header, []byte) {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "testdata", "webhooks", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	req, body, err := handler.ReadRequest(f)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return req.Header, body
}

// postWebhook sends the request of a testdata/webhooks file over loopback,
// with its own headers.
func (f *front) postWebhook(t *testing.T, h http.Header, body []byte) (*http.Response, []byte) {
	t.Helper()
	return f.post(t, "", body, h.Clone())
}

// webhookFront is the HTTP front door with the fixtures' secret and a
// default vault (a GitLab deployment names none).
func webhookFront(t *testing.T, rules handler.Rules) *front {
	return newFront(t, frontOptions{
		http:     handler.HTTPOptions{WebhookSecret: fixtureSecret},
		function: function.Config{DefaultVaultID: cbrtest.ExampleVaultID},
		rules:    rules,
	})
}

// replyOf reads a binary-mode result reply: its type and data.
func replyOf(t *testing.T, resp *http.Response, body []byte) (string, map[string]any) {
	t.Helper()
	typ := resp.Header.Get("Ce-Type")
	var data map[string]any
	if err := json.Unmarshal(body, &data); err != nil {
		t.Fatalf("reply %d %s: %v", resp.StatusCode, body, err)
	}
	return typ, data
}

func TestWebhooksOverLoopback(t *testing.T) {
	for _, tc := range []struct {
		file       string
		wantStatus int
		wantType   string
		creates    int
		inBody     string // in the reply's data
	}{
		{"github-deployment.http", 200, events.TypeCheckpointCreated, 1, `"delivery":"72d3162e-cc78-11e3-81ab-4c9367dc0958"`},
		{"github-ping.http", 200, events.TypeTriggerIgnored, 0, "GitHub ping"},
		{"github-push.http", 200, events.TypeTriggerIgnored, 0, `GitHub event \"push\" is not handled`},
		{"github-deployment-no-payload.http", 200, events.TypeTriggerIgnored, 0, "no rule maps it"},
		{"gitlab-deployment-running.http", 200, events.TypeCheckpointCreated, 1, `"id":"b1f3c5a7-2d4e-4f60-8a9b-0c1d2e3f4a5b"`},
		{"gitlab-deployment-success.http", 200, events.TypeTriggerIgnored, 0, `has status \"success\"`},
		{"flux-kustomization.http", 200, events.TypeTriggerIgnored, 0, "only a rule maps it"},
	} {
		t.Run(tc.file, func(t *testing.T) {
			f := webhookFront(t, nil)
			h, body := webhookRequest(t, tc.file)
			resp, reply := f.postWebhook(t, h, body)
			if resp.StatusCode != tc.wantStatus || resp.Header.Get("Ce-Type") != tc.wantType {
				t.Fatalf("status %d type %q, want %d %q: %s", resp.StatusCode, resp.Header.Get("Ce-Type"), tc.wantStatus, tc.wantType, reply)
			}
			if !strings.Contains(string(reply), tc.inBody) {
				t.Errorf("reply does not hold %s: %s", tc.inBody, reply)
			}
			if got := f.emu.CountCreates(); got != tc.creates {
				t.Errorf("creates %d, want %d", got, tc.creates)
			}
			if d := h.Get(events.HeaderGitHubDelivery); d != "" && !strings.Contains(f.logs.String(), `"delivery":"`+d+`"`) {
				t.Errorf("log line lacks the delivery %s: %s", d, f.logs.String())
			}
		})
	}
}

func TestWebhookRedeliveryIsADuplicate(t *testing.T) {
	f := webhookFront(t, nil)
	h, body := webhookRequest(t, "github-deployment.http")
	f.postWebhook(t, h, body)
	h.Set(events.HeaderGitHubDelivery, "00000000-0000-0000-0000-000000000001") // GitHub's redelivery: a new GUID
	resp, reply := f.postWebhook(t, h, body)
	typ, data := replyOf(t, resp, reply)
	if typ != events.TypeCheckpointCreated || data["duplicate"] != true || f.emu.CountCreates() != 1 {
		t.Fatalf("redelivery: %s %s, creates %d", typ, reply, f.emu.CountCreates())
	}
}

func TestWebhookSignatures(t *testing.T) {
	resign := func(h http.Header, header, value string) http.Header {
		h = h.Clone()
		if value == "" {
			h.Del(header)
		} else {
			h.Set(header, value)
		}
		return h
	}
	gh, ghBody := webhookRequest(t, "github-deployment.http")
	gl, glBody := webhookRequest(t, "gitlab-deployment-running.http")
	fx, fxBody := webhookRequest(t, "flux-kustomization.http")
	for _, tc := range []struct {
		name   string
		h      http.Header
		body   []byte
		secret string
	}{
		{"github signature missing", resign(gh, events.HeaderGitHubSignature, ""), ghBody, fixtureSecret},
		{"github signature wrong", resign(gh, events.HeaderGitHubSignature, handler.Sign("guess", ghBody)), ghBody, fixtureSecret},
		{"github bearer instead of signature", resign(resign(gh, events.HeaderGitHubSignature, ""), "Authorization", "Bearer "+fixtureSecret), ghBody, fixtureSecret},
		{"github body changed", gh, bytes.Replace(ghBody, []byte("production"), []byte("productioN"), 1), fixtureSecret},
		{"github without WEBHOOK_SECRET", gh, ghBody, ""},
		{"gitlab token missing", resign(gl, events.HeaderGitLabToken, ""), glBody, fixtureSecret},
		{"gitlab token wrong", resign(gl, events.HeaderGitLabToken, "change-mE"), glBody, fixtureSecret},
		{"flux signature missing", resign(fx, events.HeaderFluxSignature, ""), fxBody, fixtureSecret},
		{"flux signature wrong", resign(fx, events.HeaderFluxSignature, handler.Sign("guess", fxBody)), fxBody, fixtureSecret},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFront(t, frontOptions{http: handler.HTTPOptions{WebhookSecret: iamSecret(tc.secret)},
				function: function.Config{DefaultVaultID: cbrtest.ExampleVaultID}})
			resp, reply := f.postWebhook(t, tc.h, tc.body)
			if resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("status %d, want 401: %s", resp.StatusCode, reply)
			}
			if f.emu.CountCreates() != 0 || len(f.sink.Events()) != 0 {
				t.Fatalf("a refused request was acted on: creates %d, sink %d", f.emu.CountCreates(), len(f.sink.Events()))
			}
			// Nothing of the body is decoded or logged.
			for _, leak := range []string{"example-org", "flux-system", "1584279114", fixtureSecret} {
				if strings.Contains(f.logs.String(), leak) || strings.Contains(string(reply), leak) {
					t.Errorf("%q leaked: reply %s, logs %s", leak, reply, f.logs.String())
				}
			}
		})
	}
	// Flux's generic provider (no HMAC) sends the secret as a bearer token.
	f := webhookFront(t, nil)
	h := resign(resign(fx, events.HeaderFluxSignature, ""), "Authorization", "Bearer "+fixtureSecret)
	if resp, reply := f.postWebhook(t, h, fxBody); resp.StatusCode != http.StatusOK {
		t.Fatalf("flux generic with bearer: %d %s", resp.StatusCode, reply)
	}
}

func TestWebhookMissingFieldIs400NamingIt(t *testing.T) {
	f := webhookFront(t, nil)
	h, body := webhookRequest(t, "github-deployment.http")
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatal(err)
	}
	delete(m["deployment"].(map[string]any), "sha")
	body, _ = json.Marshal(m)
	h.Set(events.HeaderGitHubSignature, handler.Sign(fixtureSecret, body))
	h.Del("Content-Length")
	resp, reply := f.postWebhook(t, h, body)
	typ, data := replyOf(t, resp, reply)
	if resp.StatusCode != http.StatusBadRequest || typ != events.TypeCheckpointFailed ||
		!strings.Contains(string(reply), "deployment.sha") || !strings.Contains(string(reply), `"class":"invalid"`) {
		t.Fatalf("status %d %s: %s", resp.StatusCode, typ, reply)
	}
	// The failed result names the delivery.
	if trig, _ := data["trigger"].(map[string]any); trig["delivery"] != h.Get(events.HeaderGitHubDelivery) {
		t.Errorf("failed result's trigger %v lacks the delivery", data["trigger"])
	}
}

func TestWebhookFormEncodedIs415(t *testing.T) {
	f := webhookFront(t, nil)
	h, _ := webhookRequest(t, "github-ping.http")
	body := []byte("payload=%7B%7D")
	h.Set("Content-Type", "application/x-www-form-urlencoded")
	h.Set(events.HeaderGitHubSignature, handler.Sign(fixtureSecret, body))
	h.Del("Content-Length")
	resp, reply := f.postWebhook(t, h, body)
	if resp.StatusCode != http.StatusUnsupportedMediaType || !strings.Contains(string(reply), "application/json") {
		t.Fatalf("status %d: %s", resp.StatusCode, reply)
	}
}

// functionURL wraps a webhook request in a Lambda Function URL payload.
func functionURL(t testing.TB, h http.Header, body []byte) []byte {
	t.Helper()
	req := awsevents.LambdaFunctionURLRequest{
		Version: "2.0", RawPath: "/", Headers: map[string]string{}, Body: string(body),
		RequestContext: awsevents.LambdaFunctionURLRequestContext{
			HTTP: awsevents.LambdaFunctionURLRequestContextHTTPDescription{Method: http.MethodPost, Path: "/", SourceIP: "192.0.2.1"},
		},
	}
	for k, v := range h {
		req.Headers[strings.ToLower(k)] = strings.Join(v, ",")
	}
	out, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestLambdaFunctionURLWebhooks(t *testing.T) {
	gh, ghBody := webhookRequest(t, "github-deployment.http")
	ping, pingBody := webhookRequest(t, "github-ping.http")
	wrong := gh.Clone()
	wrong.Set(events.HeaderGitHubSignature, handler.Sign("guess", ghBody))
	for _, tc := range []struct {
		name       string
		payload    []byte
		wantStatus int
		wantType   string
		creates    int
	}{
		{"github deployment", functionURL(t, gh, ghBody), 200, events.TypeCheckpointCreated, 1},
		{"github ping", functionURL(t, ping, pingBody), 200, events.TypeTriggerIgnored, 0},
		{"github signature wrong", functionURL(t, wrong, ghBody), 401, "", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rig := newLambdaRigWith(t, fixtureSecret, nil)
			out, err := rig.invoke(t, tc.payload)
			if err != nil {
				t.Fatalf("invoke: %v", err)
			}
			var resp awsevents.LambdaFunctionURLResponse
			if err := json.Unmarshal(out, &resp); err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tc.wantStatus || resp.Headers["ce-type"] != tc.wantType || rig.emu.CountCreates() != tc.creates {
				t.Fatalf("status %d type %q creates %d, want %d %q %d: %s", resp.StatusCode, resp.Headers["ce-type"],
					rig.emu.CountCreates(), tc.wantStatus, tc.wantType, tc.creates, resp.Body)
			}
		})
	}
}

// TestDecodeRequestNamesTheDecoder: explain --request reports which built-in
// decoder took a request.
func TestDecodeRequestNamesTheDecoder(t *testing.T) {
	core := &handler.Core{}
	for file, want := range map[string]string{
		"github-deployment.http":         events.SenderGitHub,
		"gitlab-deployment-running.http": events.SenderGitLab,
		"flux-progressing.http":          events.SenderFlux,
	} {
		h, body := webhookRequest(t, file)
		if d := core.DecodeRequest(context.Background(), h, body); d.Decoder != want || d.Err != nil || d.Rule != "" {
			t.Errorf("%s: %+v, want decoder %s", file, d, want)
		}
	}
	h := http.Header{"Content-Type": {"application/json"}}
	if d := core.DecodeRequest(context.Background(), h, readFixture(t, "deploy-pre.json")); d.Decoder != handler.DecoderPayload {
		t.Errorf("structured CloudEvent as JSON: %+v", d)
	}
}

// iamSecret is a webhook secret as HTTPOptions takes it.
func iamSecret(s string) iam.Secret { return iam.Secret(s) }

// TestBearerAuthorized: the secret must come as the bearer token, compared
// whole; an empty secret authorizes nothing, not even an empty token (which
// net/http's header parsing cannot deliver, so only here can it be sent).
func TestBearerAuthorized(t *testing.T) {
	for _, tc := range []struct {
		auth, secret string
		want         bool
	}{
		{"Bearer s3cret", "s3cret", true},
		{"Bearer  s3cret ", "s3cret", true},
		{"Bearer s3cre", "s3cret", false},
		{"bearer s3cret", "s3cret", false},
		{"Basic s3cret", "s3cret", false},
		{"", "s3cret", false},
		{"Bearer ", "", false},
		{"", "", false},
	} {
		h := http.Header{}
		if tc.auth != "" {
			h["Authorization"] = []string{tc.auth}
		}
		if got := handler.BearerAuthorized(h, tc.secret); got != tc.want {
			t.Errorf("BearerAuthorized(%q, %q) = %v, want %v", tc.auth, tc.secret, got, tc.want)
		}
	}
}
