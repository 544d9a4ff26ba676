// Package handler adapts each platform's envelope (CloudEvents over HTTP,
// AWS Lambda, FunctionGraph) to a trigger, runs the function, and turns the
// result back into the platform's answer. One table, classStatus, maps every
// failure class to an HTTP status; the other front doors derive from it.
package handler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/restorepoint/restorepoint/events"
	"github.com/restorepoint/restorepoint/failure"
	"github.com/restorepoint/restorepoint/function"
)

// Function is the core the front doors call; *function.Function implements
// it (see its Handle for the contract).
type Function interface {
	Handle(ctx context.Context, t events.Trigger, deliver function.Deliver) (events.Result, error)
}

// Sink receives every final result event (RESULT_SINK or K_SINK).
type Sink interface {
	Send(ctx context.Context, e event.Event) error
}

// Core runs triggers for every front door: decode, handle, emit the result
// event to the sink, log one line, and decide the platform's answer.
type Core struct {
	// Function handles decoded triggers.
	Function Function
	// Sink, when not nil, receives every final result event.
	Sink Sink
	// Source is the source attribute of result events.
	Source string
	// Logger gets one line per trigger.
	Logger *slog.Logger
	// Now is the clock for result event times (time.Now when nil).
	Now func() time.Time
	// SinkFailures sends every result event to the Sink, also the failures
	// the platform will retry. The HTTP front door leaves it off (the sender
	// retries and the final answer reaches the sink); the Lambda front door
	// turns it on, because its failures end in the platform's retries and
	// on-failure destination, which never see a reply.
	SinkFailures bool
	// Rules, when not nil, are tried on every payload before the built-in
	// decoders (RULES_FILE; see DecodeRequest and DecodePayload).
	Rules Rules
	// Observer, when not nil, watches every trigger (metrics, traces).
	Observer Observer
	// Follower, when not nil, answers gates and runs follow passes.
	Follower Follower
}

// Outcome is what became of one trigger.
type Outcome struct {
	// Result is the function's result; its Type is empty when there is none
	// (a duplicate still in progress).
	Result events.Result
	// Event is the result event, when there is a result.
	Event *event.Event
	// Status is the HTTP status that answers the trigger.
	Status int
	// RetryAfter is sent as Retry-After with a 429.
	RetryAfter time.Duration
	// Err explains a status without a result (in progress, sink down).
	Err error
	// Warning is an error that did not change the answer, for the log line:
	// the result stands and went where it had to, but the function's
	// idempotency store refused to record it because another attempt had
	// taken the trigger over (function.ErrLeaseLost).
	Warning error
	// Pending, for a gate, is its restore point still being made: answered
	// with a status that senders retry, and what is pending.
	Pending *function.Gate
}

// Retry reports whether the platform should deliver the trigger again: when
// the error that kept it from being handled (in progress elsewhere, the
// store or the sink down, a payload of no known shape), or else its failed
// result, is retryable. failure.Class.Retryable decides, and nothing else.
func (o Outcome) Retry() bool {
	if o.Pending != nil {
		return true
	}
	if o.Err != nil {
		return failure.Retryable(o.Err)
	}
	return o.Result.Failed != nil && o.Result.Failed.Error.Retryable
}

// Succeeded reports whether the trigger was handled: created, planned or
// ignored, with the result delivered where it had to go.
func (o Outcome) Succeeded() bool {
	return o.Event != nil && o.Err == nil && o.Status >= 200 && o.Status < 300
}

// batchConcurrency bounds how many triggers of one batch (CloudEvents batch,
// SQS or SNS records) run at once, so that a large batch does not become as
// many concurrent CBR calls.
const batchConcurrency = 8

// runBatch runs the n triggers of a batch, batchConcurrency at a time, and
// returns their outcomes in order.
func runBatch(n int, run func(i int) Outcome) []Outcome {
	outs := make([]Outcome, n)
	sem := make(chan struct{}, batchConcurrency)
	var wg sync.WaitGroup
	for i := range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			outs[i] = run(i)
		})
	}
	wg.Wait()
	return outs
}

// classStatus is the one table from failure classes to HTTP statuses. Whether
// a failure is worth retrying is failure.Class.Retryable's to say; each
// status here is one the sender reads the same way (the Knative data-plane
// contract: 404, 409, 429 and 5xx are delivered again, other 4xx are not),
// and a test holds the two together. The Lambda and FunctionGraph front
// doors derive from Outcome.Retry, which asks the class.
//
//	class         HTTP  retryable  Lambda                         FunctionGraph
//	invalid       400   no         TriggerError, not retryable    the failed result, answered
//	rejected      422   no         TriggerError, not retryable    the failed result, answered
//	unauthorized  403   no         TriggerError, not retryable    the failed result, answered
//	throttled     429   yes        TriggerError, retryable        error endpoint
//	unavailable   503   yes        TriggerError, retryable        error endpoint
//
// A class missing from the table is answered as unavailable.
var classStatus = map[failure.Class]int{
	failure.Invalid:      http.StatusBadRequest,
	failure.Rejected:     http.StatusUnprocessableEntity,
	failure.Unauthorized: http.StatusForbidden,
	failure.Throttled:    http.StatusTooManyRequests,
	failure.Unavailable:  http.StatusServiceUnavailable,
}

// statusOf is the HTTP status of a result: 200, or its failure class's
// status from classStatus.
func statusOf(r events.Result) int {
	if r.Failed == nil {
		return http.StatusOK
	}
	if status, ok := classStatus[r.Failed.Error.Class]; ok {
		return status
	}
	return classStatus[failure.Unavailable]
}

// Run handles t, or reports decodeErr as a failed result when t could not be
// decoded (or must not run); the result goes on to the sink before Run
// returns. The failed result's class is decodeErr's (decoders' errors are
// *failure.FieldError: invalid).
func (c *Core) Run(ctx context.Context, t events.Trigger, decodeErr error) Outcome {
	return c.run(ctx, t, decodeErr, "")
}

// run is Run for a trigger that rule (when not "") made.
func (c *Core) run(ctx context.Context, t events.Trigger, decodeErr error, rule string) Outcome {
	start := c.now()
	var end func(Outcome, time.Duration)
	if c.Observer != nil {
		ctx, end = c.Observer.StartTrigger(ctx, &t)
	}
	d := delivery{core: c}
	var (
		res events.Result
		err error
	)
	if decodeErr == nil {
		decodeErr = checkRef(t.Ref)
	}
	if decodeErr != nil {
		if t.Review != nil && c.Follower != nil {
			// A deployment held for a restore point there will not be.
			c.Follower.Reject(ctx, t, decodeErr.Error())
		}
		// Nothing of a trigger that does not run is echoed whole.
		t.Ref = t.Ref.Short()
		res = events.Result{
			Type:        events.TypeCheckpointFailed,
			ID:          newID(),
			TraceParent: t.TraceParent,
			Failed:      &events.Failed{Trigger: t.Ref, Error: function.Failure(decodeErr)},
		}
		if sendErr := d.deliver(ctx, res); sendErr != nil {
			err = fmt.Errorf("result sink: %w", sendErr)
		}
	} else if t.Kind == events.KindFollow {
		res, err = c.followPass(ctx)
	} else {
		res, err = c.Function.Handle(ctx, t, d.deliver)
	}
	out := d.outcome(res, err)
	if t.Gate && out.Err == nil && res.Created != nil && !res.Created.DryRun {
		out = c.gate(ctx, t, res.Created, out)
	}
	took := time.Since(start)
	c.log(ctx, t, rule, out, took)
	if end != nil {
		end(out, took)
	}
	return out
}

// checkRef refuses a trigger whose id or source is longer than
// events.MaxIDLength: on every front door, before anything is done with it.
func checkRef(r events.Ref) error {
	for _, f := range []struct{ name, value string }{{"id", r.ID}, {"source", r.Source}} {
		if len(f.value) > events.MaxIDLength {
			return &failure.FieldError{Field: f.name, Rule: fmt.Sprintf("at most %d bytes, not %d", events.MaxIDLength, len(f.value))}
		}
	}
	return nil
}

// delivery is the sink side of one trigger: it renders the result event,
// sends it to the sink when it is final (or, with SinkFailures, this
// attempt's), and keeps the rendered event for the answer.
type delivery struct {
	core   *Core
	sent   *event.Event // the event rendered for the sink, reused for the answer
	err    error        // rendering the result event failed
	failed bool         // the sink did not take the result event
}

// deliver is the function.Deliver of one trigger.
func (d *delivery) deliver(ctx context.Context, r events.Result) error {
	c := d.core
	if c.Sink == nil || (r.Failed != nil && r.Failed.Error.Retryable && !c.SinkFailures) {
		return nil
	}
	e, err := r.Event(c.Source, r.ID, c.now())
	if err != nil {
		d.err = err
		return err
	}
	d.sent = &e
	sendCtx, cancel := function.Finishing(ctx)
	defer cancel()
	err = c.Sink.Send(sendCtx, e)
	d.failed = err != nil
	return err
}

// outcome turns what Handle returned into the answer to the trigger.
func (d *delivery) outcome(res events.Result, err error) Outcome {
	if res.Type == "" {
		// Nothing was done: another attempt holds the trigger, or the
		// idempotency store failed. Both are retried.
		if errors.Is(err, function.ErrInProgress) {
			return Outcome{Status: http.StatusConflict, Err: err}
		}
		return Outcome{Status: http.StatusServiceUnavailable, Err: err}
	}
	out := Outcome{Result: res, Status: statusOf(res)}
	if res.Failed != nil {
		out.RetryAfter = res.Failed.Error.RetryAfter
	}
	if d.err != nil {
		out.Status, out.Err = http.StatusInternalServerError, d.err
		return out
	}
	if d.sent != nil && !(res.Created != nil && res.Created.Duplicate) {
		out.Event = d.sent
	} else {
		e, renderErr := res.Event(d.core.Source, res.ID, d.core.now())
		if renderErr != nil {
			out.Status, out.Err = http.StatusInternalServerError, renderErr
			return out
		}
		out.Event = &e
	}
	switch {
	case err == nil:
	case errors.Is(err, function.ErrLeaseLost) && !d.failed:
		// The result stands and went where it had to; only its
		// idempotency record is another attempt's.
		out.Warning = err
	default:
		// The result was made but the sink could not take it: the trigger
		// is retried, and the result sent then.
		out.Status, out.Err = http.StatusServiceUnavailable, err
	}
	return out
}

func (c *Core) log(ctx context.Context, t events.Trigger, rule string, out Outcome, took time.Duration) {
	ref := t.Ref.Short()
	attrs := make([]slog.Attr, 0, 16) // room for the most a line has: no growing
	attrs = append(attrs,
		slog.String("id", ref.ID),
		slog.String("source", ref.Source),
		slog.String("type", ref.Type),
	)
	if ref.Delivery != "" {
		attrs = append(attrs, slog.String("delivery", ref.Delivery))
	}
	if rule != "" {
		attrs = append(attrs, slog.String("rule", rule))
	}
	attrs = append(attrs,
		slog.String("outcome", outcomeName(out)),
		slog.Int("status", out.Status),
		slog.Float64("duration_ms", float64(took.Microseconds())/1000),
	)
	r := out.Result
	if r.Subject != "" {
		attrs = append(attrs, slog.String("vault", r.Subject))
	}
	switch {
	case r.Created != nil:
		attrs = append(attrs, slog.Any("checkpoints", r.Created.CheckpointIDs()), slog.Int("skipped", len(r.Created.SkippedResources)),
			slog.Bool("duplicate", r.Created.Duplicate), slog.Bool("dry_run", r.Created.DryRun))
	case r.Failed != nil:
		// "message", as in the failed event: "error" is out.Err's, and a
		// failed result can come with one (its sink send failed).
		attrs = append(attrs, slog.String("class", string(r.Failed.Error.Class)), slog.String("code", r.Failed.Error.Code),
			slog.String("message", r.Failed.Error.Message))
	case r.Ignored != nil:
		attrs = append(attrs, slog.String("reason", r.Ignored.Reason))
	}
	if out.Err != nil {
		attrs = append(attrs, slog.String("error", out.Err.Error()))
	}
	if out.Warning != nil {
		attrs = append(attrs, slog.String("warning", out.Warning.Error()))
	}
	level := slog.LevelInfo
	if (out.Status >= 500 && out.Pending == nil) || out.Err != nil || out.Warning != nil {
		// A pending gate is no error: its restore point is being made.
		level = slog.LevelWarn
	}
	c.logger().LogAttrs(ctx, level, "trigger", attrs...)
}

func outcomeName(o Outcome) string {
	r := o.Result
	switch {
	case r.Created != nil && r.Created.DryRun:
		return "planned"
	case r.Created != nil && r.Created.Duplicate:
		return "duplicate"
	case r.Created != nil:
		return "created"
	case r.Failed != nil:
		return "failed"
	case r.Ignored != nil:
		return "ignored"
	case o.Status == http.StatusConflict:
		return "in_progress"
	case o.Status == http.StatusNotFound:
		return "not_found"
	case o.Pending != nil:
		return "pending"
	case r.Completed != nil && r.Completed.Error == nil:
		return "available"
	case r.Completed != nil:
		return "failed"
	case r.Followed != nil:
		return "followed"
	}
	return "error"
}

func (c *Core) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

func (c *Core) logger() *slog.Logger {
	if c.Logger != nil {
		return c.Logger
	}
	return slog.New(slog.DiscardHandler)
}
