package handler

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/cloudevents/sdk-go/v2/binding"
	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/restorepoint/restorepoint/events"
	"github.com/restorepoint/restorepoint/iam"
)

// HTTPOptions configures the HTTP front door.
type HTTPOptions struct {
	// MaxBodyBytes bounds a request body (default 1 MiB).
	MaxBodyBytes int64
	// WebhookSecret, when set, is required as a bearer token or as the key of
	// an X-Hub-Signature-256 HMAC of the body.
	WebhookSecret iam.Secret
	// RequestTokens takes the CBR token of each request from its
	// X-CFF-Auth-Token header (FunctionGraph with "Include Keys").
	RequestTokens bool
	// Ready reports whether the function can serve (GET /readyz).
	Ready func(ctx context.Context) error
}

// Header names read by the HTTP front door.
const (
	HeaderFunctionGraphToken = "X-CFF-Auth-Token"
	HeaderSignature          = "X-Hub-Signature-256"
)

// NewHTTP returns the HTTP front door: POST / takes binary, structured and
// batched CloudEvents, and the raw JSON payloads events.Decode knows (a CTS
// trigger, an EventBridge event); GET /healthz and GET /readyz report health.
func NewHTTP(core *Core, opts HTTPOptions) http.Handler {
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = 1 << 20
	}
	h := &httpHandler{core: core, opts: opts}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /{$}", h.receive)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", h.ready)
	return mux
}

type httpHandler struct {
	core *Core
	opts HTTPOptions
}

func (h *httpHandler) ready(w http.ResponseWriter, r *http.Request) {
	if h.opts.Ready != nil {
		if err := h.opts.Ready(r.Context()); err != nil {
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "not ready", "error": err.Error()})
			return
		}
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

func (h *httpHandler) receive(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.opts.MaxBodyBytes))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body larger than %d bytes (MAX_BODY_BYTES)", tooLarge.Limit))
			return
		}
		writeError(w, http.StatusBadRequest, "reading body: "+err.Error())
		return
	}
	if err := h.authorize(r, body); err != nil {
		writeError(w, http.StatusUnauthorized, err.Error())
		return
	}
	ctx := r.Context()
	if h.opts.RequestTokens {
		if tok := strings.TrimSpace(r.Header.Get(HeaderFunctionGraphToken)); tok != "" {
			ctx = iam.WithToken(ctx, iam.Secret(tok))
		}
	}
	if isBatch(r.Header.Get("Content-Type")) {
		h.receiveBatch(ctx, w, r.Header, body)
		return
	}
	msg := newHTTPMessage(r.Header, bytes.NewReader(body))
	if msg.ReadEncoding() == binding.EncodingUnknown {
		h.receivePayload(ctx, w, r.Header.Get("Content-Type"), body)
		return
	}
	e, err := binding.ToEvent(ctx, msg)
	if err != nil {
		writeError(w, http.StatusBadRequest, "malformed CloudEvent: "+err.Error())
		return
	}
	if err := e.Validate(); err != nil {
		writeError(w, http.StatusBadRequest, "invalid CloudEvent: "+err.Error())
		return
	}
	h.reply(ctx, w, h.core.HandleEvent(ctx, *e))
}

// receivePayload takes a body that is not a CloudEvent: a CTS trigger or an
// EventBridge event, as FunctionGraph and webhooks may POST them.
func (h *httpHandler) receivePayload(ctx context.Context, w http.ResponseWriter, contentType string, body []byte) {
	const expected = "expected a CloudEvent (binary mode ce-* headers, Content-Type application/cloudevents+json, " +
		"or application/cloudevents-batch+json), a CTS trigger payload {\"cts\":{...}} or an EventBridge event as application/json"
	if !isJSON(contentType) {
		writeError(w, http.StatusUnsupportedMediaType, expected+", not Content-Type "+strconv.Quote(contentType))
		return
	}
	t, err := events.Decode(body)
	if errors.Is(err, events.ErrUnrecognized) {
		// Nothing in it names a trigger a failed result could speak of.
		writeError(w, http.StatusUnsupportedMediaType, expected+"; "+err.Error())
		return
	}
	h.reply(ctx, w, h.core.Run(ctx, t, err))
}

// isJSON reports whether a Content-Type names JSON (or is missing, as some
// webhook senders leave it).
func isJSON(contentType string) bool {
	if contentType == "" {
		return true
	}
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && (mt == "application/json" || strings.HasSuffix(mt, "+json"))
}

func (h *httpHandler) receiveBatch(ctx context.Context, w http.ResponseWriter, header http.Header, body []byte) {
	batch, err := binding.ToEvents(ctx, newHTTPMessage(header, nil), bytes.NewReader(body))
	if err != nil {
		writeError(w, http.StatusBadRequest, "malformed CloudEvents batch: "+err.Error())
		return
	}
	outs := runBatch(len(batch), func(i int) Outcome {
		if err := batch[i].Validate(); err != nil {
			return h.core.Run(ctx, events.Trigger{Ref: events.Ref{ID: batch[i].ID(), Source: batch[i].Source(), Type: batch[i].Type()}},
				fmt.Errorf("invalid CloudEvent: %w", err))
		}
		return h.core.HandleEvent(ctx, batch[i])
	})

	// One delivery answers for all: if any event must be retried, the whole
	// batch is, and the ones already handled are answered from their records.
	status := http.StatusOK
	replies := make([]event.Event, 0, len(outs))
	for _, o := range outs {
		if o.Retry() && o.Status > status {
			status = o.Status
		}
		if o.Event != nil {
			replies = append(replies, *o.Event)
		}
	}
	w.Header().Set("Content-Type", event.ApplicationCloudEventsBatchJSON)
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(replies)
}

// reply writes an outcome: the result event in binary mode, or an error.
func (h *httpHandler) reply(ctx context.Context, w http.ResponseWriter, o Outcome) {
	if o.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int((o.RetryAfter+999_999_999)/1_000_000_000)))
	} else if o.Status == http.StatusTooManyRequests {
		w.Header().Set("Retry-After", "1")
	}
	if o.Event == nil || o.Err != nil {
		msg := "internal error"
		if o.Err != nil {
			msg = o.Err.Error()
		}
		writeError(w, o.Status, msg)
		return
	}
	if err := writeEventResponse(ctx, w, o.Event, o.Status); err != nil {
		h.core.logger().WarnContext(ctx, "writing reply", "error", err)
	}
}

// authorize checks the webhook secret, when one is set, in constant time.
func (h *httpHandler) authorize(r *http.Request, body []byte) error {
	secret := h.opts.WebhookSecret.Reveal()
	if secret == "" {
		return nil
	}
	if auth := r.Header.Get("Authorization"); auth != "" {
		token, ok := strings.CutPrefix(auth, "Bearer ")
		if ok && subtle.ConstantTimeCompare([]byte(strings.TrimSpace(token)), []byte(secret)) == 1 {
			return nil
		}
		return errors.New("Authorization: bearer token does not match WEBHOOK_SECRET")
	}
	if sig := r.Header.Get(HeaderSignature); sig != "" {
		want := SignBody([]byte(secret), body)
		if hmac.Equal([]byte(sig), []byte(want)) {
			return nil
		}
		return errors.New(HeaderSignature + ": signature does not match the body")
	}
	return errors.New("webhook secret required: send Authorization: Bearer <secret> or " + HeaderSignature + ": sha256=<hex HMAC-SHA256 of the body>")
}

// SignBody returns the X-Hub-Signature-256 value for body under secret.
func SignBody(secret, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

func isBatch(contentType string) bool {
	return strings.HasPrefix(strings.ToLower(strings.TrimSpace(contentType)), event.ApplicationCloudEventsBatchJSON)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}
