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
type Store interface {
	// Begin claims key until lockUntil. It returns the stored result when the
	// key completed earlier and has not expired, ErrInProgress when another
	// attempt holds it, or (nil, nil) when the caller now holds it.
	Begin(ctx context.Context, key string, lockUntil time.Time) (*events.Result, error)
	// Complete stores the result of the attempt holding key until expiry.
	Complete(ctx context.Context, key string, r events.Result, expiry time.Time) error
	// Abort drops the claim on key, so that the next delivery runs again.
	Abort(ctx context.Context, key string) error
	// MarkDelivered notes that the completed result of key reached the result
	// sink, so that a duplicate does not send it again.
	MarkDelivered(ctx context.Context, key string) error
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
	result *events.Result // nil while in progress
	until  time.Time      // lock or expiry time
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
	if rec, ok := s.records[key]; ok && now.Before(rec.until) {
		if rec.result == nil {
			return nil, ErrInProgress
		}
		stored := *rec.result
		return &stored, nil
	}
	s.records[key] = record{until: lockUntil}
	return nil, nil
}

// Complete implements Store.
func (s *MemoryStore) Complete(_ context.Context, key string, r events.Result, expiry time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.records[key] = record{result: &r, until: expiry}
	return nil
}

// Abort implements Store.
func (s *MemoryStore) Abort(_ context.Context, key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.records, key)
	return nil
}

// MarkDelivered implements Store.
func (s *MemoryStore) MarkDelivered(_ context.Context, key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if rec, ok := s.records[key]; ok && rec.result != nil {
		r := *rec.result
		r.Delivered = true
		rec.result = &r
		s.records[key] = rec
	}
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
