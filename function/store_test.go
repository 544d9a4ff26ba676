package function_test

import (
	"context"
	"errors"
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
