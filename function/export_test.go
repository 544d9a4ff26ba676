package function

import (
	"context"
	"time"
)

// Options and a constructor only tests use (package function and
// function_test; not tests elsewhere).

// WithClock sets the clock of record, lock and follow expiry, of a
// follow's completion time and of the default stores (default time.Now).
// Restore point names take their time from the trigger, not from the clock.
func WithClock(now func() time.Time) Option { return func(f *Function) { f.now = now } }

// WithIDs sets how the ids of the failed and planned results of Handle are
// made (default: random UUIDs). Other results have ids derived from their
// trigger or restore point (ResultID).
func WithIDs(newID func() string) Option { return func(f *Function) { f.newID = newID } }

// WithSleep sets how the function waits between status reads of a restore
// point (default otc.Sleep).
func WithSleep(sleep func(context.Context, time.Duration) error) Option {
	return func(f *Function) { f.sleep = sleep }
}

// NewMemoryStore returns an empty MemoryStore without a bound that reads time
// from now (time.Now when nil).
func NewMemoryStore(now func() time.Time) *MemoryStore {
	return NewBoundedMemoryStore(now, 0)
}

// FollowMarker is markerOf: the key of a trigger's Follow.
var FollowMarker = markerOf
