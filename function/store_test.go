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

	"github.com/restorepoint/restorepoint/cbr/cbrtest"
	"github.com/restorepoint/restorepoint/events"
	"github.com/restorepoint/restorepoint/function"
	"github.com/restorepoint/restorepoint/function/storetest"
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

// The clock's Advance makes it a storetest harness without waiting.
func TestMemoryStoreContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Harness {
		clk := &clock{now: fixedNow}
		return storetest.Harness{Store: function.NewMemoryStore(clk.Now), Now: clk.Now, Advance: clk.Advance}
	})
}

// A bounded store meets the contract too (its bound is not reached).
func TestBoundedMemoryStoreContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Harness {
		clk := &clock{now: fixedNow}
		return storetest.Harness{Store: function.NewBoundedMemoryStore(clk.Now, 100), Now: clk.Now, Advance: clk.Advance}
	})
}

func TestMemoryFollowsContract(t *testing.T) {
	storetest.RunFollows(t, func(t *testing.T) storetest.FollowHarness {
		clk := &clock{now: fixedNow}
		return storetest.FollowHarness{Follows: function.NewMemoryFollows(clk.Now, 0), Now: clk.Now, Advance: clk.Advance}
	})
}

func TestIdempotencyTTL(t *testing.T) {
	clk := &clock{now: fixedNow}
	// Without the lookup, so that only the record answers duplicates
	// (TestLookupAfterRecordExpired has it on).
	e := newEnv(t, function.Config{IdempotencyTTL: 10 * time.Minute, Dedupe: function.DedupeOff}, cbrtestOptions(), function.WithClock(clk.Now))
	tr := tagged("ttl", map[string]string{"backup-vault": exampleVault})
	mustHandle(t, e.fn, tr)
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
	got, err := s.Begin(ctx, key, now.Add(time.Minute))
	if got.Result != nil || err != nil {
		t.Fatalf("Begin(%s) = %v, %v; want the claim", key, got, err)
	}
	if err := s.Complete(ctx, key, got.Lease, []byte("r-"+key), now.Add(time.Hour), true); err != nil {
		t.Fatal(err)
	}
	if err := s.Settle(ctx, key, got.Lease, delivered); err != nil {
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
		if got, err := s.Begin(ctx, k, clk.Now().Add(time.Minute)); err != nil || string(got.Result) != "r-"+k {
			t.Fatalf("Begin(%s) = %+v, %v; want its record", k, got, err)
		}
	}
	// The evicted key runs again (and evicts b in turn).
	if got, err := s.Begin(ctx, "a", clk.Now().Add(time.Minute)); got.Result != nil || err != nil {
		t.Fatalf("Begin(a) after eviction = %+v, %v; want a new claim", got, err)
	}
	if got, _ := s.Begin(ctx, "b", clk.Now().Add(time.Minute)); got.Result != nil {
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
	held, err := s.Begin(ctx, "held", clk.Now().Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Complete(ctx, "held", held.Lease, []byte("r-held"), clk.Now().Add(time.Hour), true); err != nil {
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
	failed, err := s.Begin(ctx, "failed", clk.Now().Add(time.Minute))
	if err != nil || !failed.Deliver {
		t.Fatalf("Begin(failed) = %+v, %v; want its undelivered result", failed, err)
	}
	// Once delivered, they go, oldest first, until the store is within its
	// bound again; the record in progress stays.
	for k, lease := range map[string]string{"held": held.Lease, "failed": failed.Lease} {
		if err := s.Settle(ctx, k, lease, true); err != nil {
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
	if got, err := s.Begin(ctx, "newer", clk.Now().Add(time.Minute)); err != nil || string(got.Result) != "r-newer" {
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

// TestDuplicateKeepsResult holds a duplicate's answer, which comes from the
// idempotency record, to the result first made: the same event but for the
// duplicate flag and the trace context (each delivery's own).
func TestDuplicateKeepsResult(t *testing.T) {
	e := newEnv(t, function.Config{}, cbrtestOptions(), function.WithIDs(func() string { return "r1" }))
	tr := deploy("keep", events.DeployPre{Service: "shop <1> & co", VaultID: exampleVault, Resources: []events.ResourceRef{
		{ID: cbrtest.ExampleServerID, Bare: true},
		{ID: "c2d9e6a1-3f4b-4d7c-8a5e-0b1f2e3d4c5a", Type: "OS::Nova::Server", Name: "not in the vault \u00e9\"quoted\""},
	}})
	tr.TraceParent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	first := mustHandle(t, e.fn, tr)
	if first.Created == nil || len(first.Created.SkippedResources) != 1 {
		t.Fatalf("first: %+v", first)
	}
	tr.TraceParent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	dup := mustHandle(t, e.fn, tr)
	if dup.Created == nil || !dup.Created.Duplicate || dup.TraceParent != tr.TraceParent {
		t.Fatalf("duplicate: %+v", dup)
	}
	dup.Created.Duplicate = false
	dup.TraceParent = first.TraceParent
	got, _ := dup.Event("restorepoint", dup.ID, fixedNow)
	want, _ := first.Event("restorepoint", first.ID, fixedNow)
	gotJSON, _ := json.Marshal(got)
	wantJSON, _ := json.Marshal(want)
	if !bytes.Equal(gotJSON, wantJSON) {
		t.Fatalf("duplicate's event\n%s\nwant\n%s", gotJSON, wantJSON)
	}
}

func TestMaxRecords(t *testing.T) {
	e := newEnv(t, function.Config{MaxRecords: 1, Dedupe: function.DedupeOff}, cbrtestOptions())
	first, second := tagged("max-1", map[string]string{"backup-vault": exampleVault}), tagged("max-2", map[string]string{"backup-vault": exampleVault})
	for _, tr := range []events.Trigger{first, second, first} {
		if res := mustHandle(t, e.fn, tr); res.Created == nil || res.Created.Duplicate {
			t.Fatalf("%s: %+v, want a new checkpoint", tr.Ref.ID, res)
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
	// A duplicate of each is handed its result, and delivers it.
	for i := range 200 {
		key := fmt.Sprint("undelivered-", i)
		c, err := s.Begin(ctx, key, clk.Now().Add(time.Minute))
		if err != nil || !c.Deliver {
			t.Fatalf("Begin(%s) = %+v, %v; want its result to deliver", key, c, err)
		}
		if err := s.Settle(ctx, key, c.Lease, true); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 10 {
		complete(t, s, clk.Now(), fmt.Sprint("new-", i), true)
	}
	if n := s.Len(); n != 10 {
		t.Fatalf("%d records, want 10", n)
	}
	if got, err := s.Begin(ctx, "new-9", clk.Now().Add(time.Minute)); err != nil || got.Result == nil {
		t.Fatalf("Begin(new-9) = %+v, %v; want its record", got, err)
	}
}
