package function_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/restorepoint/restorepoint/events"
	"github.com/restorepoint/restorepoint/function"
)

// clock is a settable time source.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func TestMemoryStoreLifecycle(t *testing.T) {
	ctx := context.Background()
	clk := &clock{now: fixedNow}
	s := function.NewMemoryStore(clk.Now)
	res := events.Result{Type: events.TypeCheckpointCreated, ID: "r1", Created: &events.Created{}}

	if got, err := s.Begin(ctx, "k", clk.Now().Add(time.Minute)); got != nil || err != nil {
		t.Fatalf("first Begin = %v, %v; want the claim", got, err)
	}
	if _, err := s.Begin(ctx, "k", clk.Now().Add(time.Minute)); !errors.Is(err, function.ErrInProgress) {
		t.Fatalf("second Begin = %v, want ErrInProgress", err)
	}
	if err := s.Complete(ctx, "k", res, clk.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	// The completing attempt holds the result for delivery until it settles.
	if _, err := s.Begin(ctx, "k", clk.Now().Add(time.Minute)); !errors.Is(err, function.ErrInProgress) {
		t.Fatalf("Begin while delivering = %v, want ErrInProgress", err)
	}
	// A failed delivery hands the result to the next duplicate, which holds it in turn.
	if err := s.Settle(ctx, "k", false); err != nil {
		t.Fatal(err)
	}
	got, err := s.Begin(ctx, "k", clk.Now().Add(time.Minute))
	if err != nil || got == nil || got.ID != "r1" || got.Delivered {
		t.Fatalf("Begin after a failed delivery = %+v, %v", got, err)
	}
	if _, err := s.Begin(ctx, "k", clk.Now().Add(time.Minute)); !errors.Is(err, function.ErrInProgress) {
		t.Fatalf("Begin while redelivering = %v, want ErrInProgress", err)
	}
	// A delivery lock expires with the attempt that held it.
	clk.Advance(time.Minute)
	if got, err := s.Begin(ctx, "k", clk.Now().Add(time.Minute)); err != nil || got == nil {
		t.Fatalf("Begin after the delivery lock expired = %+v, %v", got, err)
	}
	if err := s.Settle(ctx, "k", true); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if got, err := s.Begin(ctx, "k", clk.Now().Add(time.Minute)); err != nil || got == nil || !got.Delivered {
			t.Fatalf("Begin after delivery = %+v, %v", got, err)
		}
	}
	// The record expires: the key can be claimed again.
	clk.Advance(time.Hour)
	if got, err := s.Begin(ctx, "k", clk.Now().Add(time.Minute)); got != nil || err != nil {
		t.Fatalf("Begin after expiry = %v, %v; want a new claim", got, err)
	}
	// An in-progress record expires at its lock time (a crashed attempt).
	clk.Advance(time.Minute)
	if got, err := s.Begin(ctx, "k", clk.Now().Add(time.Minute)); got != nil || err != nil {
		t.Fatalf("Begin after lock expiry = %v, %v", got, err)
	}
	if err := s.Abort(ctx, "k"); err != nil || s.Len() != 0 {
		t.Fatalf("Abort: %v, %d records", err, s.Len())
	}
	// Expired records are swept as new keys arrive.
	for _, k := range []string{"a", "b", "c"} {
		_, _ = s.Begin(ctx, k, clk.Now().Add(time.Second))
	}
	clk.Advance(2 * time.Minute)
	_, _ = s.Begin(ctx, "d", clk.Now().Add(time.Second))
	if n := s.Len(); n != 1 {
		t.Fatalf("after sweep: %d records, want 1", n)
	}
}

func TestIdempotencyTTL(t *testing.T) {
	clk := &clock{now: fixedNow}
	e := newEnv(t, function.Config{IdempotencyTTL: 10 * time.Minute}, cbrtestOptions(), function.WithClock(clk.Now))
	tr := tagged("ttl", map[string]string{"backup-vault": exampleVault})
	mustHandle(t, e.fn, tr)
	if err := e.fn.Settle(context.Background(), tr, true); err != nil {
		t.Fatal(err)
	}
	clk.Advance(9 * time.Minute)
	if res := mustHandle(t, e.fn, tr); !res.Created.Duplicate {
		t.Fatal("within the TTL: not a duplicate")
	}
	clk.Advance(2 * time.Minute)
	if res := mustHandle(t, e.fn, tr); res.Created == nil || res.Created.Duplicate {
		t.Fatalf("after the TTL: %+v", res)
	}
	if n := e.srv.CountCreates(); n != 2 {
		t.Fatalf("creates = %d, want 2", n)
	}
}

// complete claims, completes and settles key in s.
func complete(t *testing.T, s *function.MemoryStore, now time.Time, key string, delivered bool) {
	t.Helper()
	ctx := context.Background()
	if got, err := s.Begin(ctx, key, now.Add(time.Minute)); got != nil || err != nil {
		t.Fatalf("Begin(%s) = %v, %v; want the claim", key, got, err)
	}
	res := events.Result{Type: events.TypeCheckpointCreated, ID: "r-" + key, Created: &events.Created{VaultID: "v"}}
	if err := s.Complete(ctx, key, res, now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := s.Settle(ctx, key, delivered); err != nil {
		t.Fatal(err)
	}
}

func TestMemoryStoreBound(t *testing.T) {
	ctx := context.Background()
	clk := &clock{now: fixedNow}
	s := function.NewBoundedMemoryStore(clk.Now, 3)
	for _, k := range []string{"a", "b", "c"} {
		complete(t, s, clk.Now(), k, true)
	}
	// A new key evicts the record completed first.
	complete(t, s, clk.Now(), "d", true)
	if n := s.Len(); n != 3 {
		t.Fatalf("%d records, want 3", n)
	}
	for _, k := range []string{"b", "c", "d"} {
		if got, err := s.Begin(ctx, k, clk.Now().Add(time.Minute)); err != nil || got == nil || got.ID != "r-"+k {
			t.Fatalf("Begin(%s) = %+v, %v; want its record", k, got, err)
		}
	}
	// The evicted key runs again (and evicts b in turn).
	if got, err := s.Begin(ctx, "a", clk.Now().Add(time.Minute)); got != nil || err != nil {
		t.Fatalf("Begin(a) after eviction = %+v, %v; want a new claim", got, err)
	}
	if got, _ := s.Begin(ctx, "b", clk.Now().Add(time.Minute)); got != nil {
		t.Fatalf("Begin(b) = %+v; want it evicted", got)
	}
}

func TestMemoryStoreBoundKeepsUnfinished(t *testing.T) {
	ctx := context.Background()
	clk := &clock{now: fixedNow}
	s := function.NewBoundedMemoryStore(clk.Now, 2)
	// "work": in progress; "held": completed, held for delivery; "failed":
	// completed, its delivery failed.
	if _, err := s.Begin(ctx, "work", clk.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Begin(ctx, "held", clk.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := s.Complete(ctx, "held", events.Result{ID: "r-held", Created: &events.Created{}}, clk.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	complete(t, s, clk.Now(), "failed", false)
	complete(t, s, clk.Now(), "new", true)
	if n := s.Len(); n != 4 {
		t.Fatalf("%d records, want all 4: none may be evicted yet", n)
	}
	if _, err := s.Begin(ctx, "work", clk.Now().Add(time.Minute)); !errors.Is(err, function.ErrInProgress) {
		t.Fatalf("Begin(work) = %v, want ErrInProgress", err)
	}
	if _, err := s.Begin(ctx, "held", clk.Now().Add(time.Minute)); !errors.Is(err, function.ErrInProgress) {
		t.Fatalf("Begin(held) = %v, want ErrInProgress", err)
	}
	if got, err := s.Begin(ctx, "failed", clk.Now().Add(time.Minute)); err != nil || got == nil || got.Delivered {
		t.Fatalf("Begin(failed) = %+v, %v; want its undelivered result", got, err)
	}
	// Once delivered, they go, oldest first, until the store is within its
	// bound again; the record in progress stays.
	for _, k := range []string{"held", "failed"} {
		if err := s.Settle(ctx, k, true); err != nil {
			t.Fatal(err)
		}
	}
	complete(t, s, clk.Now(), "newer", true)
	if n := s.Len(); n != 2 {
		t.Fatalf("%d records, want 2 (work and newer)", n)
	}
	if _, err := s.Begin(ctx, "work", clk.Now().Add(time.Minute)); !errors.Is(err, function.ErrInProgress) {
		t.Fatalf("Begin(work) = %v, want ErrInProgress", err)
	}
	if got, err := s.Begin(ctx, "newer", clk.Now().Add(time.Minute)); err != nil || got == nil || got.ID != "r-newer" {
		t.Fatalf("Begin(newer) = %+v, %v; want its record", got, err)
	}
}

func TestMemoryStoreBoundAfterExpiry(t *testing.T) {
	clk := &clock{now: fixedNow}
	s := function.NewBoundedMemoryStore(clk.Now, 10)
	for i := range 100 {
		complete(t, s, clk.Now(), fmt.Sprint("old-", i), true)
	}
	if n := s.Len(); n != 10 {
		t.Fatalf("%d records, want 10", n)
	}
	clk.Advance(2 * time.Hour) // every record expires and is swept
	for i := range 5 {
		complete(t, s, clk.Now(), fmt.Sprint("new-", i), true)
	}
	if n := s.Len(); n != 5 {
		t.Fatalf("%d records, want 5", n)
	}
}

// TestMemoryStoreKeepsResult holds a stored created result to the one
// completed: equal in every field of its data and of the Result.
func TestMemoryStoreKeepsResult(t *testing.T) {
	ctx := context.Background()
	s := function.NewMemoryStore(nil)
	res := events.Result{
		Type: events.TypeCheckpointCreated, Subject: exampleVault, TraceParent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
		ID: "r1",
		Created: &events.Created{
			Trigger:          events.Ref{ID: "1", Source: "/s", Type: events.TypeServerTagged, Subject: "srv"},
			VaultID:          exampleVault,
			Checkpoints:      []json.RawMessage{json.RawMessage(`{"id":"cp-1","status":"available","vault":{"skipped_resources":[]}}`)},
			Resources:        []events.ResourceRef{{ID: "srv", Type: "OS::Nova::Server", Name: "web <1> & co"}},
			SkippedResources: []events.SkippedResource{{ID: "x", Type: "OS::Nova::Server", Code: "BackupService.6135", Reason: "busy"}},
		},
	}
	if _, err := s.Begin(ctx, "k", time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := s.Complete(ctx, "k", res, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := s.Settle(ctx, "k", true); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		got, err := s.Begin(ctx, "k", time.Now().Add(time.Minute))
		if err != nil || got == nil || got.Created == nil {
			t.Fatalf("Begin = %+v, %v", got, err)
		}
		want := res
		want.Delivered = true
		gotData, _ := json.Marshal(got.Created)
		wantData, _ := json.Marshal(want.Created)
		if !bytes.Equal(gotData, wantData) {
			t.Fatalf("stored data\n%s\nwant\n%s", gotData, wantData)
		}
		got.Created, want.Created = nil, nil
		if *got != want {
			t.Fatalf("stored result %+v, want %+v", *got, want)
		}
		// A caller's changes do not reach the record.
		got.ID = "changed"
	}
}

func TestMaxRecords(t *testing.T) {
	e := newEnv(t, function.Config{MaxRecords: 1}, cbrtestOptions())
	first, second := tagged("max-1", map[string]string{"backup-vault": exampleVault}), tagged("max-2", map[string]string{"backup-vault": exampleVault})
	for _, tr := range []events.Trigger{first, second, first} {
		if res := mustHandle(t, e.fn, tr); res.Created == nil || res.Created.Duplicate {
			t.Fatalf("%s: %+v, want a new checkpoint", tr.Ref.ID, res)
		}
		if err := e.fn.Settle(context.Background(), tr, true); err != nil {
			t.Fatal(err)
		}
	}
	if res := mustHandle(t, e.fn, first); !res.Created.Duplicate {
		t.Fatal("the latest record was evicted")
	}
	if n := e.srv.CountCreates(); n != 3 {
		t.Fatalf("creates = %d, want 3", n)
	}
}

// TestMemoryStoreBoundRecovers fills a bounded store with results whose
// delivery failed (a result sink down): it grows past its bound, and comes
// back within it once they are delivered.
func TestMemoryStoreBoundRecovers(t *testing.T) {
	ctx := context.Background()
	clk := &clock{now: fixedNow}
	s := function.NewBoundedMemoryStore(clk.Now, 10)
	for i := range 200 {
		complete(t, s, clk.Now(), fmt.Sprint("undelivered-", i), false)
	}
	if n := s.Len(); n != 200 {
		t.Fatalf("%d records, want all 200: none may be evicted", n)
	}
	for i := range 200 {
		if err := s.Settle(ctx, fmt.Sprint("undelivered-", i), true); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 10 {
		complete(t, s, clk.Now(), fmt.Sprint("new-", i), true)
	}
	if n := s.Len(); n != 10 {
		t.Fatalf("%d records, want 10", n)
	}
	if got, err := s.Begin(ctx, "new-9", clk.Now().Add(time.Minute)); err != nil || got == nil {
		t.Fatalf("Begin(new-9) = %+v, %v; want its record", got, err)
	}
}

func TestMemoryStoreSuspend(t *testing.T) {
	ctx := context.Background()
	clk := &clock{now: fixedNow}
	s := function.NewMemoryStore(clk.Now)
	if _, err := s.Begin(ctx, "k", clk.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	partial := events.Result{Type: events.TypeCheckpointCreated, Created: &events.Created{Checkpoints: []json.RawMessage{[]byte(`{"id":"c1"}`)}}}
	if err := s.Suspend(ctx, "k", partial, clk.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	// The next attempt is handed the partial result and holds the key.
	got, err := s.Begin(ctx, "k", clk.Now().Add(time.Minute))
	if err != nil || got == nil || !got.Partial || len(got.Created.Checkpoints) != 1 {
		t.Fatalf("Begin after Suspend = %+v, %v", got, err)
	}
	if _, err := s.Begin(ctx, "k", clk.Now().Add(time.Minute)); !errors.Is(err, function.ErrInProgress) {
		t.Fatalf("Begin while resuming = %v, want ErrInProgress", err)
	}
	// A suspended record expires like a completed one.
	if err := s.Suspend(ctx, "k", partial, clk.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Hour)
	if got, err := s.Begin(ctx, "k", clk.Now().Add(time.Minute)); got != nil || err != nil {
		t.Fatalf("Begin after expiry = %+v, %v; want a fresh claim", got, err)
	}
}
