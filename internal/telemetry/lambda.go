package telemetry

import (
	"context"
	"time"
)

// Invoker is aws-lambda-go's lambda.Handler.
type Invoker interface {
	Invoke(ctx context.Context, payload []byte) ([]byte, error)
}

// flushTimeout bounds a flush after an invocation whose context has no
// deadline left.
const flushTimeout = 2 * time.Second

// Flushing returns h, made to Flush after every invocation and before it
// returns (Lambda may freeze the process as soon as it has the answer). It
// returns h itself when there is nothing to flush.
func (t *Telemetry) Flushing(h Invoker) Invoker {
	if !t.NeedsFlush() {
		return h
	}
	return flushing{t: t, next: h}
}

type flushing struct {
	t    *Telemetry
	next Invoker
}

// Invoke implements Invoker.
func (f flushing) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	out, err := f.next.Invoke(ctx, payload)
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), flushTimeout)
	defer cancel()
	if ferr := f.t.Flush(fctx); ferr != nil {
		f.t.opts.Logger.WarnContext(ctx, "telemetry flush", "error", ferr)
	}
	return out, err
}
