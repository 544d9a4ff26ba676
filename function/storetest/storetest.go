// Package storetest holds every function.Store to one contract: Run is the
// conformance suite that each implementation runs in its own tests.
//
// The suite works in real durations of a few hundred milliseconds, measured
// from the Harness's clock, so that a networked store whose records expire
// by the server's clock (Redis PX) can run it as it is, while an in-memory
// store with a fake clock runs it without waiting.
package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/restorepoint/restorepoint/function"
)

// Harness is one store under test and its clock.
type Harness struct {
	// Store is a new, empty store.
	Store function.Store
	// Now is the clock the store's expiry follows.
	Now func() time.Time
	// Advance lets d pass on that clock: a fake clock moves, a real one
	// sleeps.
	Advance func(d time.Duration)
}

// Lock and TTL are the lock and record lifetimes the suite uses; Advance is
// asked for no more than TTL plus Lock at a time.
const (
	Lock = 400 * time.Millisecond
	TTL  = 800 * time.Millisecond
)

// Run runs the whole suite; newHarness is called once per subtest.
func Run(t *testing.T, newHarness func(t *testing.T) Harness) {
	tests := []struct {
		name string
		run  func(t *testing.T, h Harness)
	}{
		{"FreshClaim", freshClaim},
		{"InProgressDuplicate", inProgressDuplicate},
		{"LockExpiry", lockExpiry},
		{"CompleteHoldsForDelivery", completeHoldsForDelivery},
		{"DeliveredResultAnswersDuplicates", deliveredResultAnswersDuplicates},
		{"FailedDeliveryIsHandedOn", failedDeliveryIsHandedOn},
		{"DeliveryHoldExpires", deliveryHoldExpires},
		{"CompleteWithoutDelivery", completeWithoutDelivery},
		{"CompletedRecordExpires", completedRecordExpires},
		{"ReleaseLeavesNoRecord", releaseLeavesNoRecord},
		{"PartialResume", partialResume},
		{"PartialExpires", partialExpires},
		{"KeysAreIndependent", keysAreIndependent},
		{"ConcurrentClaimers", concurrentClaimers},
		{"ConcurrentDeliverers", concurrentDeliverers},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.run(t, newHarness(t))
		})
	}
}

var ctx = context.Background()

func begin(t *testing.T, h Harness, key string) (function.Claim, error) {
	t.Helper()
	return h.Store.Begin(ctx, key, h.Now().Add(Lock))
}

func mustClaim(t *testing.T, h Harness, key string) function.Claim {
	t.Helper()
	c, err := begin(t, h, key)
	if err != nil {
		t.Fatalf("Begin(%q): %v", key, err)
	}
	return c
}

func wantInProgress(t *testing.T, h Harness, key, when string) {
	t.Helper()
	if c, err := begin(t, h, key); !errors.Is(err, function.ErrInProgress) {
		t.Fatalf("%s: Begin = %+v, %v; want ErrInProgress", when, c, err)
	}
}

func wantFresh(t *testing.T, h Harness, key, when string) {
	t.Helper()
	if c := mustClaim(t, h, key); c.Result != nil || c.Completed || c.Deliver {
		t.Fatalf("%s: Begin = %+v; want a fresh claim", when, c)
	}
}

func wantCompleted(t *testing.T, h Harness, key string, result []byte, deliver bool, when string) {
	t.Helper()
	c := mustClaim(t, h, key)
	if !c.Completed || c.Deliver != deliver || !bytes.Equal(c.Result, result) {
		t.Fatalf("%s: Begin = {Completed:%v Deliver:%v Result:%q}; want completed, deliver %v, %q",
			when, c.Completed, c.Deliver, c.Result, deliver, result)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func freshClaim(t *testing.T, h Harness) {
	wantFresh(t, h, "k", "first Begin")
}

func inProgressDuplicate(t *testing.T, h Harness) {
	mustClaim(t, h, "k")
	wantInProgress(t, h, "k", "while the work runs")
}

func lockExpiry(t *testing.T, h Harness) {
	mustClaim(t, h, "k")
	h.Advance(Lock + Lock/4)
	wantFresh(t, h, "k", "after the lock expired")
}

func completeHoldsForDelivery(t *testing.T, h Harness) {
	mustClaim(t, h, "k")
	must(t, h.Store.Complete(ctx, "k", []byte("r1"), h.Now().Add(TTL), true))
	wantInProgress(t, h, "k", "while the result is being delivered")
}

func deliveredResultAnswersDuplicates(t *testing.T, h Harness) {
	mustClaim(t, h, "k")
	must(t, h.Store.Complete(ctx, "k", []byte("r1"), h.Now().Add(TTL), true))
	must(t, h.Store.Settle(ctx, "k", true))
	for i := range 3 {
		wantCompleted(t, h, "k", []byte("r1"), false, fmt.Sprintf("duplicate %d", i+1))
	}
}

func failedDeliveryIsHandedOn(t *testing.T, h Harness) {
	mustClaim(t, h, "k")
	must(t, h.Store.Complete(ctx, "k", []byte("r1"), h.Now().Add(TTL), true))
	must(t, h.Store.Settle(ctx, "k", false))
	wantCompleted(t, h, "k", []byte("r1"), true, "after a failed delivery")
	wantInProgress(t, h, "k", "while the next attempt delivers")
	must(t, h.Store.Settle(ctx, "k", true))
	wantCompleted(t, h, "k", []byte("r1"), false, "after the next attempt delivered")
}

func deliveryHoldExpires(t *testing.T, h Harness) {
	mustClaim(t, h, "k")
	must(t, h.Store.Complete(ctx, "k", []byte("r1"), h.Now().Add(TTL+Lock), true))
	// The attempt died before it settled: once its lock passes, the next
	// one is handed the result.
	h.Advance(Lock + Lock/4)
	wantCompleted(t, h, "k", []byte("r1"), true, "after the delivering attempt's lock expired")
}

func completeWithoutDelivery(t *testing.T, h Harness) {
	mustClaim(t, h, "k")
	must(t, h.Store.Complete(ctx, "k", []byte("r1"), h.Now().Add(TTL), false))
	wantCompleted(t, h, "k", []byte("r1"), false, "a result with nowhere to go")
}

func completedRecordExpires(t *testing.T, h Harness) {
	mustClaim(t, h, "k")
	must(t, h.Store.Complete(ctx, "k", []byte("r1"), h.Now().Add(TTL), false))
	h.Advance(TTL + TTL/4)
	wantFresh(t, h, "k", "after the record expired")
}

func releaseLeavesNoRecord(t *testing.T, h Harness) {
	mustClaim(t, h, "k")
	must(t, h.Store.Release(ctx, "k", nil, h.Now().Add(TTL)))
	wantFresh(t, h, "k", "after Release")
}

func partialResume(t *testing.T, h Harness) {
	mustClaim(t, h, "k")
	must(t, h.Store.Release(ctx, "k", []byte("part-1"), h.Now().Add(TTL)))
	c := mustClaim(t, h, "k")
	if c.Completed || c.Deliver || string(c.Result) != "part-1" {
		t.Fatalf("Begin after a partial Release = %+v; want a claim with the partial result", c)
	}
	// The resumed attempt holds the key as a fresh one does.
	wantInProgress(t, h, "k", "while the resumed attempt runs")
	must(t, h.Store.Release(ctx, "k", []byte("part-2"), h.Now().Add(TTL)))
	if c := mustClaim(t, h, "k"); string(c.Result) != "part-2" {
		t.Fatalf("second resume: %+v; want part-2", c)
	}
	must(t, h.Store.Complete(ctx, "k", []byte("whole"), h.Now().Add(TTL), false))
	wantCompleted(t, h, "k", []byte("whole"), false, "after the resumed attempt completed")
}

func partialExpires(t *testing.T, h Harness) {
	mustClaim(t, h, "k")
	must(t, h.Store.Release(ctx, "k", []byte("part-1"), h.Now().Add(TTL)))
	h.Advance(TTL + TTL/4)
	wantFresh(t, h, "k", "after the partial record expired")
}

func keysAreIndependent(t *testing.T, h Harness) {
	mustClaim(t, h, "a")
	wantFresh(t, h, "b", "another key")
	must(t, h.Store.Complete(ctx, "b", []byte("rb"), h.Now().Add(TTL), false))
	wantInProgress(t, h, "a", "the first key")
	// Keys are opaque: separators and binary bytes are part of them.
	for _, k := range []string{"src\x00id", "src\x00id2", "{braces}", "ü"} {
		wantFresh(t, h, k, "key "+fmt.Sprintf("%q", k))
	}
}

// raceBegins calls Begin on key from n goroutines at once and counts the
// claims that pass want and the ErrInProgress answers.
func raceBegins(t *testing.T, h Harness, key string, n int, want func(function.Claim) bool) (won, waited int) {
	var (
		wg sync.WaitGroup
		mu sync.Mutex
	)
	for range n {
		wg.Go(func() {
			c, err := h.Store.Begin(ctx, key, h.Now().Add(Lock))
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil && want(c):
				won++
			case errors.Is(err, function.ErrInProgress):
				waited++
			default:
				t.Errorf("Begin = %+v, %v", c, err)
			}
		})
	}
	wg.Wait()
	return won, waited
}

func concurrentClaimers(t *testing.T, h Harness) {
	const n = 32
	fresh := func(c function.Claim) bool { return c.Result == nil && !c.Completed }
	if claims, waited := raceBegins(t, h, "k", n, fresh); claims != 1 || waited != n-1 {
		t.Fatalf("%d concurrent Begins: %d claims, %d in progress; want 1 and %d", n, claims, waited, n-1)
	}
}

func concurrentDeliverers(t *testing.T, h Harness) {
	mustClaim(t, h, "k")
	must(t, h.Store.Complete(ctx, "k", []byte("r1"), h.Now().Add(TTL), true))
	must(t, h.Store.Settle(ctx, "k", false))
	const n = 32
	handed := func(c function.Claim) bool { return c.Completed && c.Deliver }
	if deliverers, waited := raceBegins(t, h, "k", n, handed); deliverers != 1 || waited != n-1 {
		t.Fatalf("%d concurrent Begins on an undelivered result: %d handed it, %d waited; want 1 and %d", n, deliverers, waited, n-1)
	}
}
