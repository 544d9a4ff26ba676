package handler

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"unicode/utf8"

	awsevents "github.com/aws/aws-lambda-go/events"

	"github.com/restorepoint/restorepoint/events"
	"github.com/restorepoint/restorepoint/failure"
)

// Lambda is the AWS Lambda front door. Its Handle method takes every payload
// restorepoint is invoked with:
//
//   - an EventBridge event, a structured CloudEvent or a CTS trigger
//     {"cts":{...}}: the answer is the result event as structured CloudEvent
//     JSON, so that an on-success destination receives it;
//   - with rules (Core.Rules), any JSON payload a rule matches, on its own
//     or as an SQS or SNS message (without headers);
//   - an SQS event whose record bodies are any of the above: the answer is an
//     aws-lambda-go events.SQSEventResponse listing every record that did
//     not succeed (the
//     event source mapping needs ReportBatchItemFailures);
//   - an SNS event whose messages are any of the above: answered as the
//     message alone would be;
//   - a Lambda Function URL or API Gateway HTTP API (payload 2.0) request: it
//     is served by the HTTP front door, with its status codes and its webhook
//     secret, and answered with an aws-lambda-go
//     events.LambdaFunctionURLResponse.
//
// A trigger that does not succeed ends the invocation with a *TriggerError,
// after its failed result event went to the sink, so that the platform's
// retries and on-failure destination apply. Whether a trigger succeeded is
// decided by Outcome.Succeeded, from the one status table (classStatus).
//
// The invocation's deadline, carried by ctx, bounds every API call.
type Lambda struct {
	runner              // over a Core with SinkFailures: failures go to the sink too
	http   http.Handler // the HTTP front door, for Function URL requests
}

// runner runs raw payloads through a Core with SinkFailures and turns their
// outcomes into an invocation's answer: what the Lambda and FunctionGraph
// front doors share.
type runner struct {
	core *Core
	// unrecognized is the outcome of a payload of no known shape (err
	// matches events.ErrUnrecognized).
	unrecognized func(ctx context.Context, payload []byte, err error) Outcome
}

// newRunner returns a runner over a copy of core with SinkFailures set.
func newRunner(core *Core, unrecognized func(ctx context.Context, payload []byte, err error) Outcome) runner {
	withFailures := *core
	withFailures.SinkFailures = true
	return runner{core: &withFailures, unrecognized: unrecognized}
}

// NewLambda returns the Lambda front door around core. Function URL requests
// are served by NewHTTP(core, opts) and keep its behaviour; every other
// payload is run by a copy of core with SinkFailures set.
func NewLambda(core *Core, opts HTTPOptions) *Lambda {
	l := &Lambda{http: NewHTTP(core, opts)}
	l.runner = newRunner(core, l.unrecognizedPayload)
	return l
}

// TriggerError ends a Lambda invocation whose trigger did not succeed. Lambda
// reports it as errorType "TriggerError"; its message names the trigger and
// the failure and never holds a secret.
type TriggerError struct {
	// Status is the HTTP status the HTTP front door answers the same outcome
	// with.
	Status int
	// Retryable reports whether a later attempt may succeed.
	Retryable bool
	// Result is the failed result event as structured CloudEvent JSON, when
	// there is one.
	Result json.RawMessage
	// msg is the error message.
	msg string
}

func (e *TriggerError) Error() string { return e.msg }

// Invoke runs one invocation with the raw payload and returns the raw
// answer; it implements aws-lambda-go's lambda.Handler, so that lambda.Start
// calls it without reflection. It reads and answers as lambda.Start does
// with Handle: the payload must be JSON (the first value is taken), and the
// answer is compact JSON without HTML escaping ("null" when there is no
// answer).
func (l *Lambda) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	var in json.RawMessage
	if err := json.NewDecoder(bytes.NewReader(payload)).Decode(&in); err != nil {
		return nil, err
	}
	out, err := l.Handle(ctx, in)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(out); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// Handle runs one invocation; see Lambda. Invoke is the same for the raw
// payload.
func (l *Lambda) Handle(ctx context.Context, payload json.RawMessage) (json.RawMessage, error) {
	var top map[string]json.RawMessage
	if json.Unmarshal(payload, &top) == nil {
		if _, ok := top["Records"]; ok {
			return l.handleRecords(ctx, payload)
		}
		if isHTTPRequest(top) {
			return l.handleHTTP(ctx, payload)
		}
	}
	return answer(l.runPayload(ctx, payload))
}

// unrecognizedPayload is the Lambda front door's outcome of a payload of no
// known shape. As on the HTTP front door, a payload that is no JSON object,
// or an object of no known shape, is no trigger: there is nothing to name in
// a failed result event.
func (l *Lambda) unrecognizedPayload(ctx context.Context, _ []byte, err error) Outcome {
	l.core.logger().WarnContext(ctx, "unrecognized payload", "error", err)
	return Outcome{Status: http.StatusUnsupportedMediaType, Err: failure.Wrap(failure.Invalid, fmt.Errorf(
		"unrecognized payload: expected a structured CloudEvent, an EventBridge event, a CTS trigger {\"cts\":{...}}, "+
			"an SQS or SNS event carrying one of these, or a Function URL request: %w", err))}
}

// runPayload decodes and runs one payload that came without headers: the
// rules first, when there are any; else a kind events.Decode knows (a
// structured CloudEvent, an EventBridge event, a CTS or timer trigger).
func (r runner) runPayload(ctx context.Context, payload []byte) Outcome {
	return r.runDecoded(ctx, payload, events.Decode)
}

// runDecoded decodes one payload, by the rules or else with decode, and runs it.
func (r runner) runDecoded(ctx context.Context, payload []byte, decode func([]byte) (events.Trigger, error)) Outcome {
	d := r.core.decodePayload(ctx, payload, decode)
	if errors.Is(d.Err, events.ErrUnrecognized) && d.Status != 0 {
		return r.unrecognized(ctx, payload, d.Err)
	}
	if d.Err != nil && d.Status == 0 && d.Trigger.Ref.ID == "" {
		d.Trigger.Ref = payloadRef(payload)
	}
	return r.core.RunDecoded(ctx, d)
}

// payloadRef reads what it can of the identity of a payload that did not
// decode, so that its failed result names the trigger: id and source, and
// type (a CloudEvent's) or detail-type (an EventBridge event's).
func payloadRef(payload []byte) events.Ref {
	var p struct {
		ID         any `json:"id"`
		Source     any `json:"source"`
		Type       any `json:"type"`
		DetailType any `json:"detail-type"`
		Subject    any `json:"subject"`
	}
	if json.Unmarshal(payload, &p) != nil {
		return events.Ref{}
	}
	str := func(v any) string { s, _ := v.(string); return s }
	ref := events.Ref{ID: str(p.ID), Source: str(p.Source), Type: str(p.Type), Subject: str(p.Subject)}
	if ref.Type == "" {
		ref.Type = str(p.DetailType)
	}
	return ref
}

// answer turns the outcome of one trigger into the invocation's answer: the
// result event, or a *TriggerError carrying it.
func answer(o Outcome) (json.RawMessage, error) {
	var body json.RawMessage
	if o.Event != nil {
		b, err := json.Marshal(o.Event)
		if err != nil {
			return nil, fmt.Errorf("result event: %w", err)
		}
		body = b
	}
	if o.Succeeded() {
		return body, nil
	}
	return nil, triggerError(o, body)
}

// triggerError describes an outcome that did not succeed.
func triggerError(o Outcome, body json.RawMessage) *TriggerError {
	e := &TriggerError{Status: o.Status, Retryable: o.Retry(), Result: body}
	var what string
	switch f := o.Result.Failed; {
	case f != nil:
		what = fmt.Sprintf("%s: %s", o.Result.Type, f.Error.Class)
		if f.Error.Code != "" {
			what += " " + f.Error.Code
		}
		what += fmt.Sprintf(": %s (trigger source %q id %q)", f.Error.Message, f.Trigger.Source, f.Trigger.ID)
		if o.Err != nil {
			what += "; " + o.Err.Error()
		}
	case o.Err != nil:
		what = o.Err.Error()
	default:
		what = "trigger not handled"
	}
	retry := "not retryable"
	if e.Retryable {
		retry = "retryable"
	}
	e.msg = fmt.Sprintf("%s [status %d, %s]", what, o.Status, retry)
	return e
}

// handleRecords runs the records of an SQS or an SNS event.
func (l *Lambda) handleRecords(ctx context.Context, payload []byte) (json.RawMessage, error) {
	// encoding/json matches keys without regard to case, so SQS's
	// eventSource and SNS's EventSource both land here.
	var sqs awsevents.SQSEvent
	if err := json.Unmarshal(payload, &sqs); err != nil || len(sqs.Records) == 0 {
		return nil, &TriggerError{Status: http.StatusBadRequest,
			msg: "unrecognized payload: Records must be a non-empty list of SQS or SNS records"}
	}
	switch src := sqs.Records[0].EventSource; src {
	case "aws:sqs":
		return l.handleSQS(ctx, sqs.Records)
	case "aws:sns":
		var sns awsevents.SNSEvent
		if err := json.Unmarshal(payload, &sns); err != nil {
			return nil, &TriggerError{Status: http.StatusBadRequest, msg: "malformed SNS event: " + err.Error()}
		}
		return l.handleSNS(ctx, sns.Records)
	default:
		return nil, &TriggerError{Status: http.StatusUnsupportedMediaType,
			msg: fmt.Sprintf("unrecognized payload: records from %q; expected aws:sqs or aws:sns", src)}
	}
}

// handleSQS runs every record of an SQS batch and lists the ones that did not
// succeed, so that only those are delivered again.
func (l *Lambda) handleSQS(ctx context.Context, recs []awsevents.SQSMessage) (json.RawMessage, error) {
	outs := l.runAll(ctx, len(recs), func(i int) []byte { return []byte(recs[i].Body) })
	resp := awsevents.SQSEventResponse{BatchItemFailures: []awsevents.SQSBatchItemFailure{}}
	for i, o := range outs {
		if !o.Succeeded() {
			resp.BatchItemFailures = append(resp.BatchItemFailures,
				awsevents.SQSBatchItemFailure{ItemIdentifier: recs[i].MessageId})
		}
	}
	return json.Marshal(resp)
}

// handleSNS runs the message of every record; see answerMessages.
func (l *Lambda) handleSNS(ctx context.Context, recs []awsevents.SNSEventRecord) (json.RawMessage, error) {
	return answerMessages(l.runAll(ctx, len(recs), func(i int) []byte { return []byte(recs[i].SNS.Message) }))
}

// answerMessages answers the outcomes of the messages of a notification
// (SNS, SMN). The platforms invoke with one message, answered as the message
// alone would be; if there are several, the answer is the list of their
// result events, and an error if any did not succeed: the first that is
// retryable, else the first.
func answerMessages(outs []Outcome) (json.RawMessage, error) {
	if len(outs) == 1 {
		return answer(outs[0])
	}
	bodies := make([]json.RawMessage, 0, len(outs))
	var firstErr *TriggerError
	for _, o := range outs {
		body, err := answer(o)
		var te *TriggerError
		if errors.As(err, &te) {
			body = te.Result
			if firstErr == nil || te.Retryable && !firstErr.Retryable {
				firstErr = te
			}
		} else if err != nil {
			return nil, err
		}
		if body != nil {
			bodies = append(bodies, body)
		}
	}
	if firstErr != nil {
		return nil, firstErr
	}
	return json.Marshal(bodies)
}

// runAll runs the n payloads of a batch, a few at a time.
func (r runner) runAll(ctx context.Context, n int, payload func(i int) []byte) []Outcome {
	return runBatch(n, func(i int) Outcome { return r.runPayload(ctx, payload(i)) })
}

// isHTTPRequest reports whether a payload is a Function URL or HTTP API request.
func isHTTPRequest(top map[string]json.RawMessage) bool {
	rc, ok := top["requestContext"]
	if !ok {
		return false
	}
	var ctx struct {
		HTTP *struct {
			Method string `json:"method"`
		} `json:"http"`
	}
	return json.Unmarshal(rc, &ctx) == nil && ctx.HTTP != nil && ctx.HTTP.Method != ""
}

// handleHTTP serves a Function URL or HTTP API request with the HTTP front
// door and answers with its response. The answer is never an error: the
// status code tells the caller what happened.
func (l *Lambda) handleHTTP(ctx context.Context, payload []byte) (json.RawMessage, error) {
	// An API Gateway HTTP API (2.0) request has the same shape.
	var in awsevents.LambdaFunctionURLRequest
	if err := json.Unmarshal(payload, &in); err != nil {
		return httpAnswer(http.StatusBadRequest, nil, []byte(`{"error":"malformed Function URL request"}`))
	}
	body := []byte(in.Body)
	if in.IsBase64Encoded {
		b, err := base64.StdEncoding.DecodeString(in.Body)
		if err != nil {
			return httpAnswer(http.StatusBadRequest, nil, []byte(`{"error":"body is not base64 although isBase64Encoded is true"}`))
		}
		body = b
	}
	target := in.RawPath
	if target == "" {
		target = "/"
	}
	if in.RawQueryString != "" {
		target += "?" + in.RawQueryString
	}
	req, err := http.NewRequestWithContext(ctx, in.RequestContext.HTTP.Method, target, bytes.NewReader(body))
	if err != nil {
		return httpAnswer(http.StatusBadRequest, nil, []byte(`{"error":"malformed request line"}`))
	}
	for k, v := range in.Headers {
		req.Header.Set(k, v)
	}
	for _, c := range in.Cookies {
		req.Header.Add("Cookie", c)
	}
	if in.RequestContext.DomainName != "" {
		req.Host = in.RequestContext.DomainName
	}
	if ip := in.RequestContext.HTTP.SourceIP; ip != "" {
		req.RemoteAddr = ip + ":0"
	}
	rec := newRecorder()
	l.http.ServeHTTP(rec, req)
	return httpAnswer(rec.status, rec.header, rec.body.Bytes())
}

// httpAnswer renders an HTTP response as a Function URL (and HTTP API 2.0)
// response: a body that is not UTF-8 text is sent base64-encoded.
func httpAnswer(status int, header http.Header, body []byte) (json.RawMessage, error) {
	resp := awsevents.LambdaFunctionURLResponse{StatusCode: status, Headers: map[string]string{}}
	for k, vs := range header {
		if strings.EqualFold(k, "Set-Cookie") {
			resp.Cookies = append(resp.Cookies, vs...)
			continue
		}
		resp.Headers[strings.ToLower(k)] = strings.Join(vs, ",")
	}
	if header == nil {
		resp.Headers["content-type"] = "application/json"
	}
	if utf8.Valid(body) {
		resp.Body = string(body)
	} else {
		resp.Body = base64.StdEncoding.EncodeToString(body)
		resp.IsBase64Encoded = true
	}
	return json.Marshal(resp)
}

// recorder is the http.ResponseWriter a Function URL request is served
// into: the status, the header and the body the HTTP front door wrote.
type recorder struct {
	status      int
	header      http.Header
	body        bytes.Buffer
	wroteHeader bool
}

func newRecorder() *recorder { return &recorder{status: http.StatusOK, header: make(http.Header)} }

// Header implements http.ResponseWriter.
func (r *recorder) Header() http.Header { return r.header }

// WriteHeader implements http.ResponseWriter: the first status counts.
func (r *recorder) WriteHeader(status int) {
	if r.wroteHeader {
		return
	}
	r.status, r.wroteHeader = status, true
}

// Write implements http.ResponseWriter. Like net/http, a body written
// without a status is a 200, and without a Content-Type gets one sniffed
// from its first bytes.
func (r *recorder) Write(p []byte) (int, error) {
	if !r.wroteHeader {
		if _, ok := r.header["Content-Type"]; !ok && r.header.Get("Transfer-Encoding") == "" {
			r.header.Set("Content-Type", http.DetectContentType(p))
		}
		r.WriteHeader(http.StatusOK)
	}
	return r.body.Write(p)
}
