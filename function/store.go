package function

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/restorepoint/restorepoint/events"
)

// ErrInProgress means the same trigger (same source and id) is being handled
// right now. The platform should deliver it again later; by then the first
// delivery has finished and the duplicate is answered from its record.
var ErrInProgress = errors.New("a trigger with this source and id is already in progress")

// Store keeps idempotency records, keyed by the trigger's source and id, in the
// manner of Powertools for AWS Lambda: an in-progress record is a lock, a
// completed record answers duplicates until it expires, and a failed attempt
// leaves no record so that a retry runs again.
//
// A completed result must also reach the result sink exactly once. So the
// attempt that completes a record, or a later one handed a result not yet
// delivered, holds the record for delivery until it settles it: meanwhile
// duplicates get ErrInProgress, as while the work itself runs.
type Store interface {
	// Begin claims key until lockUntil. It returns ErrInProgress when another
	// attempt holds the key (working, or delivering its result); the stored
	// result when the key completed and has not expired (if that result was
	// not yet delivered, the caller now holds it for delivery and must
	// Settle); or (nil, nil) when the caller now holds the key to do the work.
	Begin(ctx context.Context, key string, lockUntil time.Time) (*events.Result, error)
	// Complete stores the result of the attempt holding key until expiry; the
	// attempt keeps holding it for delivery until it calls Settle.
	Complete(ctx context.Context, key string, r events.Result, expiry time.Time) error
	// Abort drops the claim on key, so that the next delivery runs again.
	Abort(ctx context.Context, key string) error
	// Settle ends the delivery of key's result: when delivered, duplicates
	// get the result without sending it again; when not, the next duplicate
	// is handed the result to deliver.
	Settle(ctx context.Context, key string, delivered bool) error
}

// MemoryStore is a Store in the process's memory: enough for one replica (a
// Lambda execution environment, one Knative pod). Expired records are swept
// as new keys arrive.
type MemoryStore struct {
	now     func() time.Time
	mu      sync.Mutex
	records map[string]record
	sweepAt time.Time
}

type record struct {
	result     *events.Result // nil while the work is in progress
	until      time.Time      // lock (in progress) or expiry (completed)
	delivering time.Time      // a completed result is held for delivery until then
}

// NewMemoryStore returns an empty MemoryStore that reads time from now
// (time.Now when nil).
func NewMemoryStore(now func() time.Time) *MemoryStore {
	if now == nil {
		now = time.Now
	}
	return &MemoryStore{now: now, records: make(map[string]record)}
}

// Begin implements Store.
func (s *MemoryStore) Begin(_ context.Context, key string, lockUntil time.Time) (*events.Result, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	s.sweep(now)
	rec, ok := s.records[key]
	switch {
	case !ok || !now.Before(rec.until):
		s.records[key] = record{until: lockUntil}
		return nil, nil
	case rec.result == nil:
		return nil, ErrInProgress
	case rec.result.Delivered:
	case now.Before(rec.delivering):
		return nil, ErrInProgress
	default:
		rec.delivering = lockUntil
		s.records[key] = rec
	}
	stored := *rec.result
	return &stored, nil
}

// Complete implements Store.
func (s *MemoryStore) Complete(_ context.Context, key string, r events.Result, expiry time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	// The lock taken by Begin now holds the result for delivery.
	s.records[key] = record{result: &r, until: expiry, delivering: s.records[key].until}
	return nil
}

// Abort implements Store.
func (s *MemoryStore) Abort(_ context.Context, key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.records, key)
	return nil
}

// Settle implements Store.
func (s *MemoryStore) Settle(_ context.Context, key string, delivered bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, ok := s.records[key]
	if !ok || rec.result == nil {
		return nil
	}
	if delivered {
		r := *rec.result
		r.Delivered = true
		rec.result = &r
	}
	rec.delivering = time.Time{}
	s.records[key] = rec
	return nil
}

// Len returns how many records are held, expired ones included until swept.
func (s *MemoryStore) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.records)
}

// sweep drops expired records, at most once a minute.
func (s *MemoryStore) sweep(now time.Time) {
	if now.Before(s.sweepAt) {
		return
	}
	for k, rec := range s.records {
		if !now.Before(rec.until) {
			delete(s.records, k)
		}
	}
	s.sweepAt = now.Add(time.Minute)
}
