package function

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"sync"
	"time"

	"github.com/restorepoint/restorepoint/failure"
)

// ErrInProgress means the same trigger (same source and id) is being handled
// right now. The platform should deliver it again later (its class is
// unavailable); by then the first delivery has finished and the duplicate is
// answered from its record.
var ErrInProgress = failure.New(failure.Unavailable, "a trigger with this source and id is already in progress")

// ErrLeaseLost means a Store refused Complete, Settle or Release, and changed
// nothing, because the caller's lease is no longer the record's: the lease
// expired and another attempt has claimed the trigger since (or has already
// settled or released what the caller held). Stores return it as it is or
// wrapped; match it with errors.Is.
var ErrLeaseLost = errors.New("lease lost: another attempt has taken over the trigger's idempotency record")

// Store keeps idempotency records, keyed by the trigger's source and id, in the
// manner of Powertools for AWS Lambda: an in-progress record is a lock, a
// completed record answers duplicates until it expires, and a failed attempt
// leaves no record so that a retry runs again.
//
// A completed result must also reach the result sink exactly once. So the
// attempt that completes a record, or a later one handed a result not yet
// delivered, holds the record for delivery until it settles it: meanwhile
// duplicates get ErrInProgress, as while the work itself runs.
//
// Records are fenced by leases. Every Begin that makes the caller the holder
// of key (a fresh claim, the resume of a partial result, the hand-over of an
// undelivered result) hands out a new lease in Claim.Lease, a random token,
// and the record carries it while the caller holds key. Complete, Settle and
// Release take that lease and act only while the record carries it, or
// while there is no record at all (the lock expired and vanished, or a later
// attempt released the key: nobody holds it, and the late step takes
// nothing from anyone). Otherwise they change nothing and return
// ErrLeaseLost, so that an attempt that outlived its lock (a long wait, a
// slow CBR, a paused process) never deletes or overwrites the record of the
// attempt that took over. A lease is not renewed: once the lock Begin took
// (lockUntil) runs out another attempt may claim key, so the caller's work
// should end with it.
//
// Results are opaque bytes to a Store (the Function encodes them). Each step
// of a trigger is one call, so that a networked Store needs one round trip
// per step: Begin; then Complete and Settle, or Release. The package
// function/storetest holds every Store to this contract.
type Store interface {
	// Begin claims key until lockUntil, or reports what an earlier attempt
	// left:
	//   - nothing, or an expired record: the caller holds key to do the work
	//     (a Claim with only a Lease);
	//   - a partial result (see Release): the caller holds key to finish the
	//     work, and Claim.Result is the partial result;
	//   - a completed result: Claim.Completed is set and Claim.Result is the
	//     result. If it was not delivered yet and nobody is delivering it,
	//     Claim.Deliver is set too: the caller now holds it for delivery
	//     until lockUntil and must Settle;
	//   - an attempt working on key, or delivering its result: ErrInProgress.
	// Every claim that makes the caller the holder carries a new lease.
	Begin(ctx context.Context, key string, lockUntil time.Time) (Claim, error)
	// Complete stores the result of the attempt holding key with lease until
	// expiry. When deliver is set the attempt keeps holding key, with the
	// same lease, now to deliver the result, until it calls Settle (or its
	// lock from Begin runs out); when not, the result counts as delivered
	// (there is nowhere to send it). ErrLeaseLost: see Store.
	Complete(ctx context.Context, key, lease string, result []byte, expiry time.Time, deliver bool) error
	// Settle ends the delivery of key's result by the attempt holding it
	// with lease: when delivered, duplicates get the result without sending
	// it again; when not, the next duplicate is handed the result to
	// deliver. ErrLeaseLost: see Store.
	Settle(ctx context.Context, key, lease string, delivered bool) error
	// Release drops the claim on key held with lease, so that the next
	// delivery runs again. When partial is not nil (the checkpoints a split
	// trigger made before a later request failed), it is kept until expiry
	// in the same step, and the next Begin claims key and is handed it, so
	// that only the requests left are made. ErrLeaseLost: see Store.
	Release(ctx context.Context, key, lease string, partial []byte, expiry time.Time) error
}

// Claim is what Begin found for a key it did not answer with ErrInProgress.
type Claim struct {
	// Lease is the token of the caller's hold on key, to pass to Complete,
	// Settle and Release. Empty when the caller holds nothing (a completed
	// result that was delivered).
	Lease string
	// Result is the stored result: the completed one, or the partial one to
	// resume from. Nil when the caller starts afresh.
	Result []byte
	// Completed says Result is a completed result: the trigger was handled.
	Completed bool
	// Deliver says the completed Result was not delivered yet and the caller
	// now holds it for delivery: it must Settle.
	Deliver bool
}

// NewLease returns a new lease: 16 random bytes from crypto/rand, in hex.
func NewLease() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand.Read)
	return hex.EncodeToString(b[:])
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

// record is one key's state. In progress: result is nil. Partial: partial is
// set. Completed: seq is not 0. Held (in progress, or a completed result held
// for delivery): lease is the holder's, else empty.
type record struct {
	result     []byte
	lease      string
	until      time.Time // lock (in progress) or expiry (partial, completed)
	delivering time.Time // a completed result is held for delivery until then
	seq        uint64    // the completion's number; 0 unless completed
	partial    bool
	delivered  bool
}

type completedKey struct {
	key string
	seq uint64
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
func (s *MemoryStore) Begin(_ context.Context, key string, lockUntil time.Time) (Claim, error) {
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
		lease := NewLease()
		s.records[key] = &record{until: lockUntil, lease: lease}
		return Claim{Lease: lease}, nil
	case rec.partial:
		// The next attempt resumes the work: the record is in progress again.
		lease := NewLease()
		s.records[key] = &record{until: lockUntil, lease: lease}
		return Claim{Lease: lease, Result: rec.result}, nil
	case rec.seq == 0:
		return Claim{}, ErrInProgress
	case rec.delivered:
		return Claim{Result: rec.result, Completed: true}, nil
	case now.Before(rec.delivering):
		return Claim{}, ErrInProgress
	default:
		rec.delivering, rec.lease = lockUntil, NewLease()
		return Claim{Lease: rec.lease, Result: rec.result, Completed: true, Deliver: true}, nil
	}
}

// held returns key's record when the caller holding lease may act on it:
// the record carries lease, or there is none (nil). Otherwise it returns
// ErrLeaseLost. The caller holds s.mu.
func (s *MemoryStore) held(key, lease string) (*record, error) {
	rec, ok := s.records[key]
	if !ok {
		return nil, nil
	}
	if rec.lease == "" || rec.lease != lease {
		return nil, ErrLeaseLost
	}
	return rec, nil
}

// Complete implements Store.
func (s *MemoryStore) Complete(_ context.Context, key, lease string, result []byte, expiry time.Time, deliver bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	old, err := s.held(key, lease)
	if err != nil {
		return err
	}
	s.seq++
	rec := &record{result: result, until: expiry, seq: s.seq, delivered: !deliver}
	if deliver {
		// The lease taken by Begin now holds the result for delivery, until
		// its lock runs out.
		rec.lease = lease
		switch {
		case old == nil: // the lock expired and was swept: not held any more
		case old.seq == 0:
			rec.delivering = old.until
		default: // completed before, and still held
			rec.delivering = old.delivering
		}
	}
	s.records[key] = rec
	s.completed = append(s.completed, completedKey{key, rec.seq})
	return nil
}

// Settle implements Store.
func (s *MemoryStore) Settle(_ context.Context, key, lease string, delivered bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, err := s.held(key, lease)
	if err != nil || rec == nil || rec.seq == 0 {
		return err
	}
	rec.delivered = rec.delivered || delivered
	rec.delivering, rec.lease = time.Time{}, ""
	return nil
}

// Release implements Store.
func (s *MemoryStore) Release(_ context.Context, key, lease string, partial []byte, expiry time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.held(key, lease); err != nil {
		return err
	}
	if partial == nil {
		delete(s.records, key)
		return nil
	}
	s.records[key] = &record{result: partial, until: expiry, partial: true}
	return nil
}

// Len returns how many records are held, expired ones included until swept.
// The telemetry observes it (restorepoint_idempotency_records).
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
		if rec := s.records[c.key]; rec.delivered || !now.Before(rec.until) {
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
