package handler

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strconv"

	"github.com/cloudevents/sdk-go/v2/binding"
	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/restorepoint/restorepoint/events"
	"github.com/restorepoint/restorepoint/failure"
)

// Rules maps payloads to triggers by declarative rules (RULES_FILE).
// *rules.Set implements it; it is linked only into a bootstrap built with
// the build tag rules, so that nothing else depends on CEL.
type Rules interface {
	// Evaluate tries the rules on one payload: h are its HTTP headers (nil
	// for a payload that came without: a Lambda invocation, an SQS or SNS
	// message) and body its bytes. rule is the name of the rule that
	// matched, "" when none did (then t and err are zero). When a rule
	// matched but its action failed or made an invalid trigger, err names
	// the rule and the field (class invalid) and t carries the payload's Ref.
	Evaluate(ctx context.Context, h http.Header, body []byte) (t events.Trigger, rule string, err error)
}

// Built-in decoders, as Decoded.Decoder names them (besides the webhook
// senders of events.Sender: "github", "gitlab", "flux").
const (
	DecoderCloudEvent = "cloudevent" // a binary-mode or structured CloudEvent over HTTP
	DecoderPayload    = "payload"    // events.Decode: a structured CloudEvent, CTS trigger or EventBridge event as JSON
)

// Decoded is what one request or payload decoded to, and by what.
type Decoded struct {
	// Trigger is the trigger; when Err is set, only its Ref (as far as it
	// could be read).
	Trigger events.Trigger
	// Err, with Status 0, says the trigger is invalid: it is answered with a
	// failed result of class invalid. With a Status, it says why there is no
	// trigger at all.
	Err error
	// Rule is the rule that matched, if one did.
	Rule string
	// Decoder is the built-in decoder that decoded it, when no rule did:
	// "github", "gitlab", "flux", DecoderCloudEvent or DecoderPayload.
	Decoder string
	// Status, when not 0, says there is no trigger to answer with a result
	// (a malformed CloudEvent: 400; a body of no known shape: 415; the
	// request was cancelled while rules ran: 503): answer with the status
	// and Err's message.
	Status int
}

// noTrigger is a Decoded without a trigger.
// It is invalid: sending the same again will not help.
func noTrigger(status int, err error) Decoded {
	return Decoded{Status: status, Err: failure.Wrap(failure.Invalid, err)}
}

// DecodeRequest decodes one HTTP request body (not a batch), as the HTTP
// front door and its Lambda Function URL form do: the rules first, when
// there are any (with the headers); else the decoder of the webhook sender
// the headers name (GitHub, GitLab, Flux); else a binary-mode or structured
// CloudEvent, or a raw JSON payload events.Decode knows. Check the request's
// signature before: nothing here does.
func (c *Core) DecodeRequest(ctx context.Context, h http.Header, body []byte) Decoded {
	if d, ok := c.evaluate(ctx, h, body); ok {
		return d
	}
	if sender := events.Sender(events.Header(h)); sender != "" {
		if mt, _, _ := mime.ParseMediaType(h.Get("Content-Type")); mt == "application/x-www-form-urlencoded" {
			return noTrigger(http.StatusUnsupportedMediaType, fmt.Errorf(
				"%s webhook sent as %s: set the webhook's content type to application/json", sender, mt))
		}
		t, _, err := events.DecodeWebhook(events.Header(h), body)
		return Decoded{Trigger: t, Err: err, Decoder: sender}
	}
	msg := newHTTPMessage(h, bytes.NewReader(body))
	switch msg.ReadEncoding() {
	case binding.EncodingBinary:
		e, err := binding.ToEvent(ctx, msg)
		if err != nil {
			return noTrigger(http.StatusBadRequest, fmt.Errorf("malformed CloudEvent: %w", err))
		}
		if err := e.Validate(); err != nil {
			return noTrigger(http.StatusBadRequest, fmt.Errorf("invalid CloudEvent: %w", err))
		}
		t, err := decodeEvent(*e)
		return Decoded{Trigger: t, Err: err, Decoder: DecoderCloudEvent}
	case binding.EncodingStructured:
		t, err := events.DecodeStructured(body)
		if errors.Is(err, events.ErrUnrecognized) {
			return noTrigger(http.StatusBadRequest, fmt.Errorf("malformed CloudEvent: %w", err))
		}
		return Decoded{Trigger: t, Err: err, Decoder: DecoderCloudEvent}
	}
	const expected = "expected a CloudEvent (binary mode ce-* headers, Content-Type application/cloudevents+json, " +
		"or application/cloudevents-batch+json), a GitHub, GitLab or Flux webhook, a CTS trigger payload {\"cts\":{...}} " +
		"or an EventBridge event as application/json"
	if ct := h.Get("Content-Type"); !isJSON(ct) {
		return noTrigger(http.StatusUnsupportedMediaType, errors.New(expected+", not Content-Type "+strconv.Quote(ct)))
	}
	t, err := events.Decode(body)
	if errors.Is(err, events.ErrUnrecognized) {
		// Nothing in it names a trigger a failed result could speak of.
		return noTrigger(http.StatusUnsupportedMediaType, fmt.Errorf("%s; %w", expected, err))
	}
	return Decoded{Trigger: t, Err: err, Decoder: DecoderPayload}
}

// DecodePayload decodes a payload that came without headers (a Lambda
// invocation, an SQS or SNS message): the rules first, when there are any;
// else events.Decode. A payload of no known shape is Status 415 with an Err
// matching events.ErrUnrecognized.
func (c *Core) DecodePayload(ctx context.Context, payload []byte) Decoded {
	return c.decodePayload(ctx, payload, events.Decode)
}

// decodePayload is DecodePayload with decode in place of events.Decode (an
// SMN message's decoder, say).
func (c *Core) decodePayload(ctx context.Context, payload []byte, decode func([]byte) (events.Trigger, error)) Decoded {
	if d, ok := c.evaluate(ctx, nil, payload); ok {
		return d
	}
	t, err := decode(payload)
	if errors.Is(err, events.ErrUnrecognized) {
		return noTrigger(http.StatusUnsupportedMediaType, err)
	}
	return Decoded{Trigger: t, Err: err, Decoder: DecoderPayload}
}

// evaluate runs the rules, when there are any; ok is false when none matched.
func (c *Core) evaluate(ctx context.Context, h http.Header, body []byte) (d Decoded, ok bool) {
	if c.Rules == nil {
		return Decoded{}, false
	}
	t, rule, err := c.Rules.Evaluate(ctx, h, body)
	switch {
	case err != nil && ctx.Err() != nil:
		return Decoded{Status: http.StatusServiceUnavailable, Err: failure.Wrap(failure.Unavailable, fmt.Errorf("rules: %w", err))}, true
	case err != nil:
		return Decoded{Trigger: t, Err: err, Rule: rule}, true
	case rule != "":
		return Decoded{Trigger: t, Rule: rule}, true
	}
	return Decoded{}, false
}

// decodeEvent decodes e; an event that does not decode keeps its identity,
// so that its failed result names it.
func decodeEvent(e event.Event) (events.Trigger, error) {
	t, err := events.DecodeEvent(e)
	if err != nil {
		t = events.Trigger{Ref: events.Ref{ID: e.ID(), Source: e.Source(), Type: e.Type(), Subject: e.Subject()}}
	}
	return t, err
}

// RunDecoded runs what DecodeRequest or DecodePayload returned: the trigger,
// or its failed result (class invalid) when it did not decode. A Decoded
// without a trigger (Status set) is answered with its status alone.
func (c *Core) RunDecoded(ctx context.Context, d Decoded) Outcome {
	if d.Status != 0 {
		return Outcome{Status: d.Status, Err: d.Err}
	}
	return c.run(ctx, d.Trigger, d.Err, d.Rule)
}
