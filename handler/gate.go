package handler

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/restorepoint/restorepoint/events"
	"github.com/restorepoint/restorepoint/failure"
	"github.com/restorepoint/restorepoint/function"
)

// Follower follows restore points to their end: *function.Function, with
// retention in the follow pass when the app configures it.
type Follower interface {
	// FollowPass reads every restore point being followed and reports
	// those that ended, through deliver; with search, it first finds in
	// CBR those restorepoint made and does not know.
	FollowPass(ctx context.Context, deliver function.Deliver, search bool) (events.FollowReport, error)
	// GateOf reads the state of the restore point created answers t with.
	GateOf(ctx context.Context, t events.Trigger, created *events.Created) (function.Gate, error)
	// Poll reads the state of the restore point of the trigger ref names;
	// found is false when there is none.
	Poll(ctx context.Context, ref events.Ref) (g function.Gate, found bool, err error)
	// Reject rejects the GitHub deployment waiting for t (t.Review), which
	// makes no restore point, saying why.
	Reject(ctx context.Context, t events.Trigger, reason string)
}

// gateRetryAfter is the Retry-After of a pending gate: how soon to ask again.
const gateRetryAfter = 10 * time.Second

// followPassTimeout bounds a follow pass asked for over HTTP, which has no
// deadline of its own.
const followPassTimeout = 5 * time.Minute

// gate answers a gate trigger from the state of its restore point: pending
// (503, Retry-After: senders ask again), available (200 with the
// checkpoint.available result) or failed (422 with the checkpoint.failed
// result). out is the answer of the trigger itself, kept when there is no
// Follower. The completion result goes to the sink from the follower, once.
func (c *Core) gate(ctx context.Context, t events.Trigger, created *events.Created, out Outcome) Outcome {
	if c.Follower == nil {
		return out
	}
	g, err := c.Follower.GateOf(ctx, t, created)
	if err != nil {
		return Outcome{Result: out.Result, Status: http.StatusServiceUnavailable,
			Err: failure.Wrap(failure.Unavailable, fmt.Errorf("gate: %w", err))}
	}
	return c.gateOutcome(g)
}

// gateOutcome is the answer of a gate in state g.
func (c *Core) gateOutcome(g function.Gate) Outcome {
	if g.State == function.GatePending {
		return Outcome{Status: http.StatusServiceUnavailable, RetryAfter: gateRetryAfter, Pending: &g}
	}
	e, err := g.Result.Event(c.Source, g.Result.ID, c.now())
	if err != nil {
		return Outcome{Status: http.StatusInternalServerError, Err: err}
	}
	status := http.StatusOK
	if g.State == function.GateFailed {
		status = http.StatusUnprocessableEntity
	}
	return Outcome{Result: g.Result, Event: &e, Status: status}
}

// followPass runs a follow pass (a schedule's trigger) and answers with its
// report; what ended goes to the sink.
func (c *Core) followPass(ctx context.Context) (events.Result, error) {
	if c.Follower == nil {
		return events.Result{}, failure.New(failure.Invalid, "follow passes are not configured here")
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, followPassTimeout)
		defer cancel()
	}
	deliver := func(ctx context.Context, r events.Result) error {
		d := delivery{core: c}
		return d.deliver(ctx, r)
	}
	report, err := c.Follower.FollowPass(ctx, deliver, true)
	if err != nil {
		return events.Result{}, err
	}
	return events.Result{Type: events.TypeFollowDone, ID: newID(), Followed: &report}, nil
}

// Poll answers a read-only gate poll for ref, creating nothing: 404 when no
// restore point was made for the trigger.
func (c *Core) Poll(ctx context.Context, ref events.Ref) Outcome {
	if c.Follower == nil {
		return Outcome{Status: http.StatusNotFound, Err: failure.New(failure.Invalid, "gates are not configured here")}
	}
	g, found, err := c.Follower.Poll(ctx, ref)
	switch {
	case err != nil:
		return Outcome{Status: http.StatusServiceUnavailable, Err: failure.Wrap(failure.Unavailable, fmt.Errorf("gate: %w", err))}
	case !found:
		return Outcome{Status: http.StatusNotFound, Err: failure.New(failure.Invalid,
			"no restore point was made for this trigger (source and id): it was never delivered, or its record expired")}
	}
	return c.gateOutcome(g)
}
