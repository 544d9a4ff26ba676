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
	// Suspend drops the claim on key like Abort, but keeps partial (with
	// Partial set: the checkpoints a split trigger made before a later
	// request failed) until expiry. The next Begin claims key and is handed
	// partial, so that only the requests left are made.
	Suspend(ctx context.Context, key string, partial events.Result, expiry time.Time) error
	// Settle ends the delivery of key's result: when delivered, duplicates
	// get the result without sending it again; when not, the next duplicate
	// is handed the result to deliver.
	Settle(ctx context.Context, key string, delivered bool) error
}

// MemoryStore is a Store in the process's memory: enough for one replica (a
// Lambda execution environment, one Knative pod). Expired records are swept
// as new keys arrive.
//
// A bounded MemoryStore (NewBoundedMemoryStore) holds at most its bound of
// records: when a new key arrives and the store is full, it first evicts the
// completed records that were completed first (all records live for the same
// TTL, so these expire first) whose result was delivered. It never evicts a
// record in progress, or a result not yet delivered (or held for delivery):
// while only those are left, the store grows beyond its bound. A duplicate of
// an evicted trigger runs again, as after the record expired.
type MemoryStore struct {
	now        func() time.Time
	maxRecords int // 0: no bound
	mu         sync.Mutex
	records    map[string]*record
	sweepAt    time.Time
	// completed lists completed records in the order they completed, the
	// order of eviction; entries whose record is gone or was replaced (its
	// seq differs) are skipped and dropped.
	completed []completedKey
	head      int    // completed[:head] are consumed
	seq       uint64 // numbers completions
}

type record struct {
	result     *events.Result // nil while the work is in progress
	until      time.Time      // lock (in progress) or expiry (completed)
	delivering time.Time      // a completed result is held for delivery until then
	seq        uint64         // the completion's number; 0 while in progress
	suspended  bool           // result is a partial result waiting for the next attempt
}

type completedKey struct {
	key string
	seq uint64
}

// NewMemoryStore returns an empty MemoryStore without a bound that reads time
// from now (time.Now when nil).
func NewMemoryStore(now func() time.Time) *MemoryStore {
	return NewBoundedMemoryStore(now, 0)
}

// NewBoundedMemoryStore returns an empty MemoryStore that holds at most
// maxRecords records (no bound when maxRecords <= 0; see MemoryStore for
// what is evicted) and reads time from now (time.Now when nil).
func NewBoundedMemoryStore(now func() time.Time, maxRecords int) *MemoryStore {
	if now == nil {
		now = time.Now
	}
	return &MemoryStore{now: now, maxRecords: max(maxRecords, 0), records: make(map[string]*record)}
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
		if !ok && s.maxRecords > 0 && len(s.records) >= s.maxRecords {
			s.evict(now)
		}
		s.records[key] = &record{until: lockUntil}
		return nil, nil
	case rec.suspended:
		// The next attempt resumes the work: the record is in progress again.
		partial := *rec.result
		s.records[key] = &record{until: lockUntil}
		return &partial, nil
	case rec.result == nil:
		return nil, ErrInProgress
	case rec.result.Delivered:
	case now.Before(rec.delivering):
		return nil, ErrInProgress
	default:
		rec.delivering = lockUntil
	}
	stored := *rec.result
	return &stored, nil
}

// Complete implements Store.
func (s *MemoryStore) Complete(_ context.Context, key string, r events.Result, expiry time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	rec := &record{result: &r, until: expiry, seq: s.seq}
	if old, ok := s.records[key]; ok {
		// The lock taken by Begin now holds the result for delivery.
		rec.delivering = old.until
	}
	s.records[key] = rec
	s.completed = append(s.completed, completedKey{key, rec.seq})
	return nil
}

// Abort implements Store.
func (s *MemoryStore) Abort(_ context.Context, key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.records, key)
	return nil
}

// Suspend implements Store.
func (s *MemoryStore) Suspend(_ context.Context, key string, partial events.Result, expiry time.Time) error {
	partial.Partial = true
	s.mu.Lock()
	defer s.mu.Unlock()
	s.records[key] = &record{result: &partial, until: expiry, suspended: true}
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
		// Begin hands out copies, so the stored result may change in place.
		rec.result.Delivered = true
	}
	rec.delivering = time.Time{}
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
	// Forget the completions whose records are gone.
	kept := s.completed[:0]
	for _, c := range s.completed[s.head:] {
		if s.current(c) {
			kept = append(kept, c)
		}
	}
	clear(s.completed[len(kept):])
	s.completed, s.head = kept, 0
	s.sweepAt = now.Add(time.Minute)
}

// current reports whether c is the completion of the record now held for its key.
func (s *MemoryStore) current(c completedKey) bool {
	rec, ok := s.records[c.key]
	return ok && rec.seq == c.seq
}

// evictScan bounds the completions one evict looks at, so that a store full
// of undelivered results (a result sink down) costs each new key a constant
// amount of work, not a pass over every record.
const evictScan = 64

// evict drops the earliest completed records that may go (delivered, or
// expired) until the store is below its bound, none is left to drop, or it
// has looked at evictScan of them. Results not yet delivered are passed over
// and go to the back of the line.
func (s *MemoryStore) evict(now time.Time) {
	for n := min(len(s.completed)-s.head, evictScan); n > 0 && len(s.records) >= s.maxRecords; n-- {
		c := s.completed[s.head]
		s.completed[s.head] = completedKey{}
		s.head++
		if !s.current(c) {
			continue
		}
		if rec := s.records[c.key]; rec.result.Delivered || !now.Before(rec.until) {
			delete(s.records, c.key)
			continue
		}
		s.completed = append(s.completed, c)
	}
	if s.head > len(s.completed)/2 {
		n := copy(s.completed, s.completed[s.head:])
		clear(s.completed[n:])
		s.completed, s.head = s.completed[:n], 0
	}
}
