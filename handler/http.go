package handler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/restorepoint/restorepoint/events"
	"github.com/restorepoint/restorepoint/function"
	"github.com/restorepoint/restorepoint/iam"
	"github.com/restorepoint/restorepoint/otc"
)

// HTTPOptions configures the HTTP front door.
type HTTPOptions struct {
	// MaxBodyBytes bounds a request body (default 1 MiB).
	MaxBodyBytes int64
	// MaxBatchEvents bounds the events of one CloudEvents batch (default
	// 100); a larger batch is refused whole with 413.
	MaxBatchEvents int
	// WebhookSecret is required as a bearer token or as the key of an
	// X-Hub-Signature-256 HMAC of the body; GitHub, GitLab and Flux webhooks
	// carry it in their sender's form (see authenticate). Without it every
	// request is refused, unless Open is set.
	WebhookSecret iam.Secret
	// Open lets requests of no known webhook sender pass without the secret
	// (WEBHOOK_AUTH=none: behind a Knative Broker, on a cluster-local URL).
	Open bool
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
	// DetailsToken, when set, lets GET /readyz with Authorization: Bearer
	// DetailsToken (METRICS_TOKEN) say why the function is not ready; without
	// it, /readyz says ready or not ready only.
	DetailsToken iam.Secret
}

// HeaderFunctionGraphToken is the header of a FunctionGraph request's token.
const HeaderFunctionGraphToken = iam.HeaderCFFAuthToken

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
	if opts.MaxBatchEvents <= 0 {
		opts.MaxBatchEvents = 100
	}
	h := &httpHandler{core: core, opts: opts}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /{$}", h.receive)
	mux.HandleFunc("GET /{$}", h.poll)
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
			// The reason names hosts and credential sources: only for the
			// holder of the details token, and always for the log.
			h.core.logger().WarnContext(r.Context(), "not ready", "error", err.Error())
			answer := map[string]string{"status": "not ready"}
			if BearerAuthorized(r.Header, h.opts.DetailsToken.Reveal()) {
				answer["error"] = err.Error()
			}
			writeJSON(w, http.StatusServiceUnavailable, answer)
			return
		}
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

func (h *httpHandler) receive(w http.ResponseWriter, r *http.Request) {
	// Until the request is authenticated, every answer is a fixed one: the
	// detail goes to the log.
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.opts.MaxBodyBytes))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body larger than %d bytes (MAX_BODY_BYTES)", tooLarge.Limit))
			return
		}
		h.refuse(r.Context(), w, http.StatusBadRequest, "request body could not be read", "reading body", err)
		return
	}
	sender := events.Sender(events.Header(r.Header))
	if !h.authenticated(w, r, sender, body) {
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
	d := h.core.DecodeRequest(ctx, r.Header, body)
	if r.URL.Query().Get("gate") == "1" {
		d.Trigger.Gate = true // ?gate=1: answered as a gate
	}
	h.reply(ctx, w, h.core.RunDecoded(ctx, d))
}

// authenticated answers a request that does not come from the holder of the
// webhook secret (see authenticate) and reports whether it does.
func (h *httpHandler) authenticated(w http.ResponseWriter, r *http.Request, sender string, body []byte) bool {
	secret := h.opts.WebhookSecret
	if h.opts.WebhookSecrets != nil {
		var err error
		if secret, err = h.opts.WebhookSecrets(r.Context()); err != nil {
			w.Header().Set("Retry-After", "1")
			h.refuse(r.Context(), w, http.StatusServiceUnavailable, "service unavailable", "webhook secret", err)
			return false
		}
	}
	if err := authenticate(secret.Reveal(), h.opts.Open, r, sender, body); err != nil {
		// Nothing of the body is read or logged: it is not known to come
		// from the holder of the secret.
		h.refuse(r.Context(), w, http.StatusUnauthorized, errUnauthenticated.Error(), "request refused", err, "sender", sender)
		return false
	}
	return true
}

// poll answers a read-only gate poll, GET /?gate=1&source=…&id=… (or the
// trigger's Ce-Source and Ce-Id headers): the state of the restore point of
// the CloudEvent with that source and id, creating nothing.
func (h *httpHandler) poll(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("gate") != "1" {
		writeError(w, http.StatusMethodNotAllowed, "GET / is a gate poll: GET /?gate=1&source=…&id=…; send triggers with POST")
		return
	}
	if !h.authenticated(w, r, "", nil) {
		return
	}
	ref := events.Ref{Source: q.Get("source"), ID: q.Get("id")}
	if ref.Source == "" && ref.ID == "" {
		ref = events.Ref{Source: r.Header.Get("Ce-Source"), ID: r.Header.Get("Ce-Id")}
	}
	switch {
	case ref.Source == "" || ref.ID == "":
		writeError(w, http.StatusBadRequest, "a gate poll names the trigger: ?gate=1&source=…&id=…, or the headers Ce-Source and Ce-Id")
		return
	case checkRef(ref) != nil:
		writeError(w, http.StatusBadRequest, checkRef(ref).Error())
		return
	}
	o := h.core.Poll(r.Context(), ref)
	h.core.logger().InfoContext(r.Context(), "gate poll", "source", otc.Shorten(ref.Source), "id", otc.Shorten(ref.ID),
		"outcome", outcomeName(o), "status", o.Status)
	h.reply(r.Context(), w, o)
}

// refuse answers a request that was not authenticated with status and a
// fixed reason, and logs what went wrong (it holds no secret).
func (h *httpHandler) refuse(ctx context.Context, w http.ResponseWriter, status int, reason, msg string, err error, attrs ...any) {
	h.core.logger().WarnContext(ctx, msg, append(attrs, "status", status, "error", err.Error())...)
	writeError(w, status, reason)
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
	var batch []json.RawMessage
	if err := json.Unmarshal(body, &batch); err != nil {
		writeError(w, http.StatusBadRequest, "malformed CloudEvents batch: the body must be a JSON array of structured CloudEvents")
		return
	}
	if len(batch) > h.opts.MaxBatchEvents {
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf(
			"CloudEvents batch of %d events: at most %d (MAX_BATCH_EVENTS); nothing was done", len(batch), h.opts.MaxBatchEvents))
		return
	}
	for i, raw := range batch {
		if len(raw) == 0 || raw[0] != '{' {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("malformed CloudEvents batch: entry %d is not a JSON object", i))
			return
		}
	}
	outs := runBatch(len(batch), func(i int) Outcome {
		t, err := events.DecodeStructured(batch[i])
		return h.core.Run(ctx, t, err)
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
	if o.Pending != nil {
		writeJSON(w, o.Status, pendingBody(o.Pending))
		return
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

// pendingBody says what a pending gate waits for.
func pendingBody(g *function.Gate) map[string]any {
	fl := g.Follow
	return map[string]any{
		"status":         string(function.GatePending),
		"trigger":        fl.Trigger.Short(),
		"marker":         function.KeyMarker(fl.Marker),
		"vault_id":       fl.VaultID,
		"checkpoint_ids": fl.Checkpoints,
		"message":        "the restore point is still being made: ask again after Retry-After",
	}
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
