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
// make are handed to it (Track, as the Function's tracker) and recorded as
// soon as they come (a gate poll that follows the trigger's answer finds
// them): off the triggers' path in a shared store, at once in this
// process's. Each restore point is read on its own schedule, as a wait reads
// one: PollInterval after it was handed over, then after twice as long each
// time, up to PollMax. Passes come at most once a PollInterval and read only
// those that are due, so a steady stream of new restore points does not make
// them read every older one again each PollInterval (a backup can take
// hours), and no pass runs while none is due. Its first pass reads every
// record and searches CBR, so that it picks up what a process before it
// left. Schedules run on the real clock (they are timers), not the
// Function's.
type Background struct {
	fn      *Function
	deliver Deliver
	onPass  func(events.FollowReport, error)
	queue   chan Follow
	wake    chan struct{}
	running atomic.Bool
	// inProcess says the follow store is this process's (a MemoryFollows):
	// recording in it takes less time than a hand-over to the recorder.
	inProcess bool

	mu      sync.Mutex
	due     map[string]dueRead // by marker: the records this process reads on a schedule
	soonest time.Time          // the earliest due read; zero when none is scheduled
}

// dueRead is when a followed restore point is read next, and how long the
// wait before that was.
type dueRead struct {
	at    time.Time
	delay time.Duration
}

// backgroundQueue bounds the restore points waiting to be recorded; a
// trigger that finds it full records its own.
const backgroundQueue = 256

// NewBackground returns the background follower of fn, delivering what
// ended with deliver and telling onPass (may be nil) of every pass.
func NewBackground(fn *Function, deliver Deliver, onPass func(events.FollowReport, error)) *Background {
	_, inProcess := fn.follows.(*MemoryFollows)
	return &Background{fn: fn, deliver: deliver, onPass: onPass, inProcess: inProcess,
		queue: make(chan Follow, backgroundQueue), wake: make(chan struct{}, 1), due: map[string]dueRead{}}
}

// Track takes the Follow of a restore point a trigger made (WithTracker):
// queued for Run's recorder when Run runs and the follow store is not in
// this process, else recorded at once.
func (b *Background) Track(ctx context.Context, fl Follow) {
	if b.running.Load() && !b.inProcess {
		select {
		case b.queue <- fl:
			return
		default:
		}
	}
	b.recordOne(ctx, fl)
}

// recordOne schedules the first read of fl and records it (in that order,
// so that no pass finds it unscheduled and reads it at once).
func (b *Background) recordOne(ctx context.Context, fl Follow) {
	b.schedule(fl.Marker)
	_ = b.fn.Record(ctx, fl)
}

// schedule schedules the first read of the restore point under marker, one
// PollInterval from now, unless it has a schedule.
func (b *Background) schedule(marker string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.due[marker]; ok {
		return
	}
	at := time.Now().Add(b.fn.cfg.PollInterval)
	b.due[marker] = dueRead{at: at, delay: b.fn.cfg.PollInterval}
	if b.soonest.IsZero() || at.Before(b.soonest) {
		b.soonest = at
		// Wake Run for a read sooner than the one it waits for.
		select {
		case b.wake <- struct{}{}:
		default:
		}
	}
}

// Run follows until ctx ends.
func (b *Background) Run(ctx context.Context) {
	b.running.Store(true)
	defer b.running.Store(false)
	var recorder sync.WaitGroup
	defer recorder.Wait()
	recorder.Go(func() { b.record(ctx) })
	retry := b.fn.cfg.PollInterval
	last := time.Now()
	failed := b.pass(ctx, true)
	for {
		var tick <-chan time.Time
		if at, ok := b.next(last, failed, retry); ok {
			// Stopped or not, an unreferenced timer is collected.
			tick = time.NewTimer(time.Until(at)).C
		}
		select {
		case <-ctx.Done():
			return
		case <-b.wake:
			continue
		case <-tick:
		}
		last = time.Now()
		if failed = b.pass(ctx, false); failed {
			retry = min(2*retry, b.fn.cfg.PollMax)
		} else {
			retry = b.fn.cfg.PollInterval
		}
	}
}

// next is when the next pass is due: at the soonest read, but not before
// PollInterval after the last pass began (a pass lists every record, so
// passes come at most that often, each reading what fell due since), and
// after a pass that read nothing, not before retry from now.
func (b *Background) next(last time.Time, failed bool, retry time.Duration) (time.Time, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.soonest.IsZero() && !failed {
		return time.Time{}, false
	}
	at := b.soonest
	if spaced := last.Add(b.fn.cfg.PollInterval); at.Before(spaced) {
		at = spaced
	}
	if later := time.Now().Add(retry); failed && at.Before(later) {
		at = later
	}
	return at, true
}

// record records the restore points Track queues as they come, while
// passes run or wait, until ctx ends.
func (b *Background) record(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case fl := <-b.queue:
			b.recordOne(ctx, fl)
		}
	}
}

// pass runs a follow pass over the restore points that are due (every one,
// with all) and schedules the next read of each it read and left pending. It
// reports whether the pass failed to read the follow store.
func (b *Background) pass(ctx context.Context, all bool) bool {
	now := time.Now()
	listed := map[string]bool{}
	pick := func(fl Follow) bool {
		listed[fl.Marker] = true
		if all {
			return true
		}
		b.mu.Lock()
		defer b.mu.Unlock()
		d, ok := b.due[fl.Marker]
		// One this process did not hand over (another instance's, or found
		// in CBR) is read now, and then on its own schedule.
		return !ok || !now.Before(d.at)
	}
	seen := func(fl Follow) {
		b.mu.Lock()
		defer b.mu.Unlock()
		if fl.Done() {
			delete(b.due, fl.Marker)
			return
		}
		d := b.due[fl.Marker]
		d.delay = min(max(2*d.delay, b.fn.cfg.PollInterval), b.fn.cfg.PollMax)
		d.at = time.Now().Add(d.delay)
		b.due[fl.Marker] = d
	}
	report, err := b.fn.followPass(ctx, b.deliver, all, pick, seen)
	if b.onPass != nil && ctx.Err() == nil {
		b.onPass(report, err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.soonest = time.Time{}
	for marker, d := range b.due {
		switch {
		case err == nil && !listed[marker] && d.at.Before(now):
			// Ended or expired (here or in another instance), and no
			// longer followed.
			delete(b.due, marker)
		case b.soonest.IsZero() || d.at.Before(b.soonest):
			b.soonest = d.at
		}
	}
	return err != nil
}
