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
	// an X-Hub-Signature-256 HMAC of the body. GitHub, GitLab and Flux
	// webhooks always need it, in their sender's form (see authorize).
	WebhookSecret iam.Secret
	// RequestTokens takes the CBR credentials of each request from its
	// FunctionGraph headers ("Include Keys"): the agency's temporary keys
	// (X-CFF-Security-Access-Key, X-CFF-Security-Secret-Key,
	// X-CFF-Security-Token; custom runtimes X-CFF-Access-Key,
	// X-CFF-Secret-Key) and X-CFF-Auth-Token, put into the context with
	// iam.RequestContext for an iam.RequestCredentials authorizer.
	RequestTokens bool
	// WebhookSecrets, when set, gives the webhook secret for each request
	// instead of WebhookSecret (read at run time, e.g. from AWS Secrets
	// Manager). An error answers 503; an empty secret refuses the request.
	WebhookSecrets func(ctx context.Context) (iam.Secret, error)
	// Ready reports whether the function can serve (GET /readyz).
	Ready func(ctx context.Context) error
}

// Header names read by the HTTP front door.
const (
	HeaderFunctionGraphToken = iam.HeaderCFFAuthToken
	HeaderSignature          = "X-Hub-Signature-256"
)

// NewHTTP returns the HTTP front door: POST / takes binary, structured and
// batched CloudEvents, GitHub, GitLab and Flux webhooks (signed with the
// webhook secret), and the raw JSON payloads events.Decode knows (a CTS
// trigger, an EventBridge event); with core.Rules, the rules are tried first
// on every single request (see Core.DecodeRequest). GET /healthz and GET
// /readyz report health.
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
	secret := h.opts.WebhookSecret
	if h.opts.WebhookSecrets != nil {
		s, err := h.opts.WebhookSecrets(r.Context())
		if err != nil {
			w.Header().Set("Retry-After", "1")
			writeError(w, http.StatusServiceUnavailable, "webhook secret: "+err.Error())
			return
		}
		if s == "" {
			writeError(w, http.StatusUnauthorized, "no webhook secret is configured: requests are refused")
			return
		}
		secret = s
	}
	sender := events.Sender(r.Header)
	if err := authorize(secret, r, sender, body); err != nil {
		// Nothing of the body is read or logged: it is not known to come
		// from the holder of the secret.
		h.core.logger().WarnContext(r.Context(), "request refused", "sender", sender, "error", err.Error())
		writeError(w, http.StatusUnauthorized, err.Error())
		return
	}
	ctx := r.Context()
	if h.opts.RequestTokens {
		ctx = iam.RequestContext(ctx, r.Header)
	}
	if sender == "" && isBatch(r.Header.Get("Content-Type")) {
		h.receiveBatch(ctx, w, r.Header, body)
		return
	}
	h.reply(ctx, w, h.core.RunDecoded(ctx, h.core.DecodeRequest(ctx, r.Header, body)))
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

// authorize checks the request's secret in constant time. A webhook of a
// known sender (events.Sender) must carry its sender's proof of the secret,
// and a webhook secret must be set (WEBHOOK_SECRET, or the webhook_secret
// of CBR_CREDENTIALS_SECRET): GitHub's X-Hub-Signature-256, GitLab's
// X-Gitlab-Token, Flux's X-Signature (generic-hmac provider) or, for Flux's
// generic provider, Authorization: Bearer. Any other request needs, when
// the secret is set, a bearer token or an X-Hub-Signature-256 HMAC of the
// body. No error holds the secret.
func authorize(webhookSecret iam.Secret, r *http.Request, sender string, body []byte) error {
	secret := webhookSecret.Reveal()
	if sender != "" {
		if secret == "" {
			return fmt.Errorf("a %s webhook needs WEBHOOK_SECRET: set it here and as the webhook's secret", sender)
		}
		return verifySender(sender, r.Header, body, secret)
	}
	if secret == "" {
		return nil
	}
	if ok, err := bearer(r.Header, secret); ok || err != nil {
		return err
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

// verifySender checks the proof of secret a webhook sender sends.
func verifySender(sender string, h http.Header, body []byte, secret string) error {
	switch sender {
	case events.SenderGitHub:
		return events.VerifyGitHubSignature(h, body, secret)
	case events.SenderGitLab:
		return events.VerifyGitLabToken(h, secret)
	case events.SenderFlux:
		if h.Get(events.HeaderFluxSignature) != "" {
			return events.VerifyFluxSignature(h, body, secret)
		}
		if ok, err := bearer(h, secret); ok || err != nil {
			return err
		}
		return fmt.Errorf("%w: Flux: use the generic-hmac provider (%s) or send Authorization: Bearer <secret>",
			events.ErrSignature, events.HeaderFluxSignature)
	}
	return fmt.Errorf("%w: unknown sender %q", events.ErrSignature, sender)
}

// bearer checks an Authorization: Bearer token against secret: ok when it
// matches, an error when one is sent that does not, neither when none is.
func bearer(h http.Header, secret string) (ok bool, err error) {
	auth := h.Get("Authorization")
	if auth == "" {
		return false, nil
	}
	token, isBearer := strings.CutPrefix(auth, "Bearer ")
	if isBearer && subtle.ConstantTimeCompare([]byte(strings.TrimSpace(token)), []byte(secret)) == 1 {
		return true, nil
	}
	return false, errors.New("Authorization: bearer token does not match WEBHOOK_SECRET")
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
