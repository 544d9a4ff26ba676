package function

import (
	"context"
	"time"

	"github.com/restorepoint/restorepoint/events"
)

// PlanObserver is told of every plan Handle makes (for a tracing span): the
// trigger, the plan, the planning error, and when planning started and
// ended. ctx is the trigger's.
type PlanObserver func(ctx context.Context, t events.Trigger, p Plan, err error, start, end time.Time)

// WithPlanObserver sets the function told of every plan Handle makes.
func WithPlanObserver(o PlanObserver) Option { return func(f *Function) { f.planObserver = o } }

// plan plans t and tells the plan observer, if any.
func (f *Function) plan(ctx context.Context, t events.Trigger) (Plan, error) {
	if f.planObserver == nil {
		return f.Plan(t)
	}
	start := time.Now()
	p, err := f.Plan(t)
	f.planObserver(ctx, t, p, err, start, time.Now())
	return p, err
}
