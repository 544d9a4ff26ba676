package handler

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/restorepoint/restorepoint/events"
	"github.com/restorepoint/restorepoint/failure"
	"github.com/restorepoint/restorepoint/iam"
)

// Headers of an invocation read from FunctionGraph's custom runtime API
// (GET /v1/runtime/invocation/request). The four credential headers are set
// when the function has an execution agency.
const (
	HeaderFunctionGraphRequestID     = "X-Cff-Request-Id"
	HeaderFunctionGraphInvokeType    = "X-CFF-Invoke-Type"
	HeaderFunctionGraphAccessKey     = "X-CFF-Access-Key"
	HeaderFunctionGraphSecretKey     = "X-CFF-Secret-Key"
	HeaderFunctionGraphSecurityToken = "X-CFF-Security-Token"
	// The token is HeaderFunctionGraphToken (X-CFF-Auth-Token), as on HTTP
	// functions.
)

// FunctionGraphSource is the Ref.Source of a failed result for an invocation
// whose payload names no trigger; its Ref.ID is the request ID.
const FunctionGraphSource = "functiongraph"

// FunctionGraphOptions configures the FunctionGraph event-function front door.
type FunctionGraphOptions struct {
	// RequestCredentials takes the CBR credentials of each invocation from
	// its agency headers (CBR_AUTH=functiongraph).
	RequestCredentials bool
	// RequireCredentials answers an invocation without agency credentials
	// with a failed result naming the headers, without running it (no
	// fallback credentials are configured).
	RequireCredentials bool
	// Timeout is each invocation's deadline from when it was received
	// (RUNTIME_TIMEOUT); 15 minutes when zero.
	Timeout time.Duration
	// MaxBodyBytes bounds an event (default 6 MiB, FunctionGraph's own
	// bound on a synchronous request).
	MaxBodyBytes int64
	// Flush, when not nil, is called after each invocation ran and before
	// its answer is posted (after which the instance may be frozen): it
	// sends what telemetry holds. Its error is logged.
	Flush func(ctx context.Context) error
}

// FunctionGraph is the front door of a FunctionGraph event function with a
// custom runtime: Serve reads invocations from the runtime API and answers
// each one; Invoke answers one. It takes the payloads of FunctionGraph's
// triggers:
//
//   - a CTS trigger {"cts":{...}}, an Event Grid CloudEvent (structured JSON;
//     CTS records of ECS as data), an EventBridge-style event, a structured
//     CloudEvent, a timer trigger whose user_event holds a CloudEvent or a
//     checkpoint.requested body (events.Decode): answered with the result
//     event as structured CloudEvent JSON;
//   - an SMN trigger {"record":[{"smn":{"message":...}}]} whose messages are
//     any of the above or a bare checkpoint.requested body
//     (events.DecodeSMNMessage): answered as SNS is on Lambda.
//
// Anything else is answered with a failed result (class invalid) naming what
// was expected, so that the platform does not retry it. A trigger that
// failed in a way a retry may mend (Outcome.Retry) is reported to the error
// endpoint, after its failed result went to the sink, as on Lambda.
type FunctionGraph struct {
	runner
	opts FunctionGraphOptions
}

// NewFunctionGraph returns the FunctionGraph event-function front door
// around core (whose failures, as on Lambda, go to the sink too).
func NewFunctionGraph(core *Core, opts FunctionGraphOptions) *FunctionGraph {
	if opts.Timeout <= 0 {
		opts.Timeout = 15 * time.Minute
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = 6 << 20
	}
	f := &FunctionGraph{opts: opts}
	f.runner = newRunner(core, f.unrecognizedPayload)
	return f
}

// Invocation is one event read from the runtime API.
type Invocation struct {
	// RequestID is X-Cff-Request-Id; the answer goes to its endpoints.
	RequestID string
	// InvokeType is X-CFF-Invoke-Type, as the platform sent it.
	InvokeType string
	// Payload is the event.
	Payload []byte
	// Agency holds the execution agency's temporary credentials: the
	// invocation's X-CFF-Auth-Token, X-CFF-Access-Key, X-CFF-Secret-Key and
	// X-CFF-Security-Token headers, and no other. They are used for this
	// invocation only (iam.RequestContext), never stored or printed.
	Agency http.Header
}

// agencyHeaders are the headers of an invocation that carry the agency's
// credentials.
var agencyHeaders = []string{HeaderFunctionGraphToken, HeaderFunctionGraphAccessKey, HeaderFunctionGraphSecretKey, HeaderFunctionGraphSecurityToken}

// agencyFromHeader copies an invocation's agency credential headers, the
// blank ones left out.
func agencyFromHeader(h http.Header) http.Header {
	agency := http.Header{}
	for _, name := range agencyHeaders {
		if v := strings.TrimSpace(h.Get(name)); v != "" {
			agency.Set(name, v)
		}
	}
	return agency
}

// errNoAgency is the failure of an invocation without agency credentials.
var errNoAgency = failure.New(failure.Unauthorized, "no agency credentials in the invocation: the runtime API sent none of "+
	HeaderFunctionGraphToken+", "+HeaderFunctionGraphAccessKey+", "+HeaderFunctionGraphSecretKey+", "+
	HeaderFunctionGraphSecurityToken+"; give the function an execution agency allowed cbr:vaults:backup")

// Answer is how an invocation is answered.
type Answer struct {
	// Error sends Body to the error endpoint (the platform may retry the
	// invocation) instead of the response endpoint.
	Error bool
	// Body is the result event as structured CloudEvent JSON, a list of
	// them (several SMN records), or, on the error endpoint, an ErrorBody.
	Body json.RawMessage
}

// ErrorBody is what restorepoint posts to the error endpoint.
type ErrorBody struct {
	// ErrorType is "TriggerError", or "InternalError" when no result could
	// be made.
	ErrorType string `json:"errorType"`
	// ErrorMessage names the trigger and the failure; never a secret.
	ErrorMessage string `json:"errorMessage"`
	// Status is the HTTP status the HTTP front door answers the same
	// outcome with.
	Status int `json:"status,omitempty"`
	// Result is the failed result event, when there is one.
	Result json.RawMessage `json:"result,omitempty"`
}

// Invoke runs one invocation and says how to answer it. Its deadline is
// ctx's, bounded by the options' Timeout from now.
func (f *FunctionGraph) Invoke(ctx context.Context, inv Invocation) Answer {
	ctx, cancel := context.WithTimeout(ctx, f.opts.Timeout)
	defer cancel()
	if f.opts.RequestCredentials {
		ctx = iam.RequestContext(ctx, inv.Agency)
	}
	body, err := f.handle(ctx, inv)
	return f.answerOf(body, err)
}

// handle runs the payload of inv and answers as the Lambda front door does.
func (f *FunctionGraph) handle(ctx context.Context, inv Invocation) (json.RawMessage, error) {
	ref := events.Ref{ID: inv.RequestID, Source: FunctionGraphSource}
	if int64(len(inv.Payload)) > f.opts.MaxBodyBytes {
		return answer(f.core.Run(ctx, events.Trigger{Ref: ref},
			&failure.FieldError{Field: "payload", Rule: fmt.Sprintf("larger than %d bytes (MAX_BODY_BYTES)", f.opts.MaxBodyBytes)}))
	}
	if f.opts.RequireCredentials && len(inv.Agency) == 0 {
		t, err := events.Decode(inv.Payload)
		if err != nil || t.Ref.ID == "" {
			t = events.Trigger{Ref: ref}
		}
		// No retry of this invocation can carry credentials (the agency is
		// the function's configuration): the failed result is the answer.
		o := f.core.Run(ctx, t, errNoAgency)
		if o.Event == nil {
			return answer(o)
		}
		return json.Marshal(o.Event)
	}
	if !events.IsSMN(inv.Payload) {
		return answer(f.runPayload(ctx, inv.Payload))
	}
	smn, err := events.DecodeSMN(inv.Payload)
	if err != nil {
		return answer(f.core.Run(ctx, events.Trigger{Ref: ref}, err))
	}
	return answerMessages(runBatch(len(smn.Record), func(i int) Outcome {
		m := smn.Record[i].SMN
		return f.runDecoded(ctx, []byte(m.Message), func([]byte) (events.Trigger, error) {
			t, err := events.DecodeSMNMessage(m)
			if err != nil && t.Ref.ID == "" {
				t.Ref = events.Ref{ID: m.MessageID, Source: cmp.Or(m.TopicURN, "smn"), Subject: m.Subject}
			}
			return t, err
		})
	}))
}

// unrecognizedPayload is the FunctionGraph front door's outcome of a payload
// of no known shape: a failed result naming what was expected, answered and
// not retried. Its trigger is the request (FunctionGraphSource, the request
// ID) when the payload names none.
func (f *FunctionGraph) unrecognizedPayload(ctx context.Context, payload []byte, err error) Outcome {
	t := events.Trigger{Ref: payloadRef(payload)}
	if t.Ref.ID == "" {
		t.Ref = events.Ref{Source: FunctionGraphSource}
	}
	return f.core.Run(ctx, t, &failure.FieldError{Field: "payload", Rule: "unrecognized: expected a CTS trigger {\"cts\":{...}}, " +
		"a structured CloudEvent (Event Grid), an EventBridge event, a timer trigger (trigger_type TIMER) " +
		"or an SMN trigger {\"record\":[...]} carrying one of these (" + err.Error() + ")"})
}

// answerOf maps the Lambda-shaped answer to the runtime API's endpoints:
// success and failures no retry can mend go to the response endpoint with the
// result event; retryable failures to the error endpoint.
func (f *FunctionGraph) answerOf(body json.RawMessage, err error) Answer {
	if err == nil {
		return Answer{Body: body}
	}
	var te *TriggerError
	if !errors.As(err, &te) {
		b, _ := json.Marshal(ErrorBody{ErrorType: "InternalError", ErrorMessage: err.Error()})
		return Answer{Error: true, Body: b}
	}
	if !te.Retryable && te.Result != nil {
		return Answer{Body: te.Result}
	}
	b, _ := json.Marshal(ErrorBody{ErrorType: "TriggerError", ErrorMessage: te.Error(), Status: te.Status, Result: te.Result})
	return Answer{Error: te.Retryable, Body: b}
}
