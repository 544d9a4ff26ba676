package handler_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cloudevents/sdk-go/v2/event"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"

	"github.com/restorepoint/restorepoint/cbr"
	"github.com/restorepoint/restorepoint/cbr/cbrtest"
	"github.com/restorepoint/restorepoint/events"
	"github.com/restorepoint/restorepoint/function"
	"github.com/restorepoint/restorepoint/handler"
)

// noAPI is a CheckpointAPI for dry runs: it is never called.
type noAPI struct{}

func (noAPI) CreateCheckpoint(context.Context, cbr.VaultBackup) (*cbr.CheckpointCreate, error) {
	panic("dry run called the API")
}

func (noAPI) GetCheckpoint(context.Context, string) (*cbr.CheckpointCreate, error) {
	panic("dry run called the API")
}

func (noAPI) ListBackups(context.Context, cbr.BackupQuery) (*cbr.BackupList, error) {
	panic("dry run called the API")
}

// FuzzHTTPReceive posts fuzzed bodies, content types and headers into the
// HTTP front door (dry run: everything but the API call) and checks that
// each is answered with a status of the documented set and a well-formed
// body: a result event, a batch of them, or a JSON error with a message.
// Without valid webhook credentials the answer is always 401 (or 413).
func FuzzHTTPReceive(f *testing.F) {
	const secret = "fuzz-secret"
	const maxBody = 64 << 10
	files, _ := filepath.Glob(filepath.Join("..", "testdata", "events", "*.json"))
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(uint8(1), "application/cloudevents+json", "", data)
		f.Add(uint8(2), "application/json", "", data)
		f.Add(uint8(1), "application/cloudevents-batch+json", "", append(append([]byte("["), data...), ']'))
	}
	binaryHeaders := "Ce-Specversion: 1.0\nCe-Id: f1\nCe-Source: /fuzz\nCe-Type: io.restorepoint.server.tagged\n"
	f.Add(uint8(1), "application/json", binaryHeaders,
		[]byte(`{"server_id":"`+cbrtest.ExampleServerID+`","tags":{"backup":"daily"}}`))
	f.Add(uint8(1), "application/json", binaryHeaders, []byte(`{"server_id":42}`))
	f.Add(uint8(1), "text/plain", binaryHeaders, []byte("hello"))
	f.Add(uint8(1), "", "", []byte(""))
	f.Add(uint8(1), "application/json", "", []byte("[1,2]"))
	f.Add(uint8(0), "application/cloudevents+json", "", []byte(`{"specversion":"1.0"}`))
	f.Add(uint8(3), "application/json", "Authorization: Bearer nope\n", []byte(`{}`))
	f.Add(uint8(1), "application/cloudevents-batch+json", "", []byte(`[{"specversion":"1.0","id":"a","source":"/s","type":"x"},1]`))

	fn := function.New(function.Config{DryRun: true, DefaultVaultID: cbrtest.ExampleVaultID}, noAPI{})
	h := handler.NewHTTP(&handler.Core{Function: fn, Source: "fuzz"},
		handler.HTTPOptions{MaxBodyBytes: maxBody, WebhookSecret: secret})
	allowed := map[int]bool{200: true, 400: true, 401: true, 413: true, 415: true}

	f.Fuzz(func(t *testing.T, auth uint8, contentType, headers string, body []byte) {
		req := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
		for _, line := range strings.Split(headers, "\n") {
			k, v, ok := strings.Cut(line, ":")
			if ok && k != "" {
				req.Header.Add(strings.TrimSpace(k), strings.TrimSpace(v))
			}
		}
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		authorized := false
		switch auth % 4 {
		case 0: // no credentials
			req.Header.Del("Authorization")
			req.Header.Del(handler.HeaderSignature)
		case 1:
			req.Header.Set("Authorization", "Bearer "+secret)
			authorized = true
		case 2:
			req.Header.Del("Authorization")
			req.Header.Set(handler.HeaderSignature, handler.Sign(secret, body))
			authorized = true
		case 3: // forged
			req.Header.Del("Authorization")
			req.Header.Set(handler.HeaderSignature, handler.Sign("guess", body))
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		res := rec.Result()
		status := res.StatusCode

		if !allowed[status] {
			t.Fatalf("status %d not in the documented set; body %.300s", status, rec.Body.Bytes())
		}
		if !authorized && status != http.StatusUnauthorized && status != http.StatusRequestEntityTooLarge {
			t.Fatalf("unauthorized request answered %d", status)
		}
		if len(body) > maxBody && status != http.StatusRequestEntityTooLarge {
			t.Fatalf("body of %d bytes answered %d, want 413", len(body), status)
		}
		checkReply(t, rec)
		if bytes.Contains(rec.Body.Bytes(), []byte(secret)) {
			t.Fatal("the reply holds the webhook secret")
		}
	})
}

// checkReply fails unless a reply is a result event, a batch of them, or a
// JSON error with a message (never a 200 without a result).
func checkReply(t *testing.T, rec *httptest.ResponseRecorder) {
	t.Helper()
	res := rec.Result()
	status := res.StatusCode
	switch {
	case res.Header.Get("Ce-Specversion") != "":
		e, err := cehttp.NewEventFromHTTPResponse(res)
		if err != nil {
			t.Fatalf("reply is not a CloudEvent: %v", err)
		}
		if err := e.Validate(); err != nil {
			t.Fatalf("reply event: %v", err)
		}
		if !json.Valid(e.Data()) {
			t.Fatalf("reply data is not JSON: %.300s", e.Data())
		}
	case strings.HasPrefix(res.Header.Get("Content-Type"), event.ApplicationCloudEventsBatchJSON):
		var batch []json.RawMessage
		if err := json.Unmarshal(rec.Body.Bytes(), &batch); err != nil {
			t.Fatalf("batch reply: %v", err)
		}
	default:
		var e struct {
			Error string `json:"error"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Error == "" {
			t.Fatalf("status %d without a result event or an error message: %.300s", status, rec.Body.Bytes())
		}
		if status == http.StatusOK {
			t.Fatalf("200 without a result: %.300s", rec.Body.Bytes())
		}
	}
}

// FuzzWebhookReceive posts fuzzed bodies as correctly signed GitHub, GitLab
// and Flux webhooks (the event header fuzzed too) into the HTTP front door,
// dry run: hostile bodies (deep nesting, huge strings, invalid UTF-8) are
// answered 200, 400 or 415 with a well-formed reply, never 5xx.
func FuzzWebhookReceive(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("..", "testdata", "webhooks", "*.http"))
	for i, name := range files {
		h, body := webhookRequest(f, filepath.Base(name))
		event := h.Get(events.HeaderGitHubEvent) + h.Get(events.HeaderGitLabEvent)
		f.Add(uint8(i), event, body)
	}
	f.Add(uint8(0), "deployment", []byte(strings.Repeat(`{"a":`, 10000)+"1"+strings.Repeat("}", 10000)))
	f.Add(uint8(1), "Deployment Hook", []byte(`{"status":"running","deployment_id":1,"project":{"id":2,"path_with_namespace":"\xff"},"environment":"e"}`))
	f.Add(uint8(0), "deployment", []byte("{\"action\":\"created\",\"repository\":{\"id\":1,\"full_name\":\"a\xff\"}}"))
	f.Add(uint8(2), "", []byte(`{"involvedObject":{"kind":"K","name":"`+strings.Repeat("n", 100000)+`"},"reason":"r"}`))

	const secret = "fuzz-hook-secret"
	fn := function.New(function.Config{DryRun: true, DefaultVaultID: cbrtest.ExampleVaultID}, noAPI{})
	h := handler.NewHTTP(&handler.Core{Function: fn, Source: "fuzz"}, handler.HTTPOptions{WebhookSecret: secret})
	f.Fuzz(func(t *testing.T, sender uint8, eventName string, body []byte) {
		req := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		switch sender % 3 {
		case 0:
			req.Header.Set(events.HeaderGitHubEvent, eventName)
			req.Header.Set(events.HeaderGitHubDelivery, "d-1")
			req.Header.Set(events.HeaderGitHubSignature, handler.Sign(secret, body))
		case 1:
			req.Header.Set(events.HeaderGitLabEvent, eventName)
			req.Header.Set(events.HeaderGitLabToken, secret)
		case 2:
			req.Header.Set(events.HeaderFluxComponent, eventName)
			req.Header.Set(events.HeaderFluxSignature, handler.Sign(secret, body))
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		switch rec.Code {
		case http.StatusOK, http.StatusBadRequest, http.StatusUnsupportedMediaType:
		default:
			if !(sender%3 == 1 && eventName == "" && rec.Code == http.StatusUnauthorized) {
				t.Fatalf("status %d: %.300s", rec.Code, rec.Body.Bytes())
			}
		}
		checkReply(t, rec)
		if bytes.Contains(rec.Body.Bytes(), []byte(secret)) {
			t.Fatal("the reply holds the webhook secret")
		}
	})
}
