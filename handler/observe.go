package handler

import (
	"context"
	"time"

	"github.com/restorepoint/restorepoint/events"
)

// Observer watches the triggers a Core runs, for metrics and traces (see
// internal/telemetry). Its methods must be safe for concurrent use.
type Observer interface {
	// StartTrigger is called when a trigger starts, before anything else is
	// done with it. The context it returns is the trigger's from then on (it
	// carries the trigger's span); it may set t.TraceParent to the span's,
	// which the result event then carries. end is called once, after the
	// trigger's log line, with its outcome and how long it took.
	StartTrigger(ctx context.Context, t *events.Trigger) (_ context.Context, end func(Outcome, time.Duration))
}
