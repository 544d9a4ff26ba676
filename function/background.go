package function

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/restorepoint/restorepoint/events"
)

// Background follows restore points in the background of a long-running
// process (restorepoint serve): the restore points the process's triggers
// make are handed to it (Track, as the Function's tracker) and recorded off
// the triggers' path, as soon as they come (a gate poll that follows the
// trigger's answer finds them); passes run while any is pending, backing
// off as a wait does (PollInterval, doubling up to PollMax), and not at all
// while none is. Its first pass searches CBR, so that it picks up what a
// process before it left.
type Background struct {
	fn      *Function
	deliver Deliver
	onPass  func(events.FollowReport, error)
	queue   chan Follow
	wake    chan struct{}
	running atomic.Bool
}

// backgroundQueue bounds the restore points waiting to be recorded; a
// trigger that finds it full records its own.
const backgroundQueue = 256

// NewBackground returns the background follower of fn, delivering what
// ended with deliver and telling onPass (may be nil) of every pass.
func NewBackground(fn *Function, deliver Deliver, onPass func(events.FollowReport, error)) *Background {
	return &Background{fn: fn, deliver: deliver, onPass: onPass,
		queue: make(chan Follow, backgroundQueue), wake: make(chan struct{}, 1)}
}

// Track takes the Follow of a restore point a trigger made (WithTracker):
// queued for Run's recorder when Run runs, else recorded at once.
func (b *Background) Track(ctx context.Context, fl Follow) {
	if b.running.Load() {
		select {
		case b.queue <- fl:
			return
		default:
		}
	}
	_ = b.fn.Record(ctx, fl)
	b.signal()
}

// signal wakes Run for a restore point just recorded.
func (b *Background) signal() {
	select {
	case b.wake <- struct{}{}:
	default:
	}
}

// Run follows until ctx ends.
func (b *Background) Run(ctx context.Context) {
	b.running.Store(true)
	defer b.running.Store(false)
	var recorder sync.WaitGroup
	defer recorder.Wait()
	recorder.Go(func() { b.record(ctx) })
	pending := b.pass(ctx, true)
	delay := b.fn.cfg.PollInterval
	for {
		var tick <-chan time.Time
		if pending {
			// Stopped or not, an unreferenced timer is collected.
			tick = time.NewTimer(delay).C
		}
		select {
		case <-ctx.Done():
			return
		case <-b.wake:
			delay = b.fn.cfg.PollInterval
			// Give the new restore point its first interval before reading it.
			if err := b.fn.sleep(ctx, delay); err != nil {
				return
			}
		case <-tick:
			delay = min(2*delay, b.fn.cfg.PollMax)
		}
		pending = b.pass(ctx, false)
	}
}

// record records the restore points Track queues as they come, while
// passes run or wait, and wakes Run for each, until ctx ends.
func (b *Background) record(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case fl := <-b.queue:
			_ = b.fn.Record(ctx, fl)
			b.signal()
		}
	}
}

// pass runs a follow pass; it reports whether any restore point is still
// pending.
func (b *Background) pass(ctx context.Context, search bool) bool {
	report, err := b.fn.FollowPass(ctx, b.deliver, search)
	if b.onPass != nil && ctx.Err() == nil {
		b.onPass(report, err)
	}
	return err != nil || report.Pending > 0 || len(report.Errors) > 0
}
