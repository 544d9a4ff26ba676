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

	"github.com/restorepoint/restorepoint/events"
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
		{"StaleLeaseRefused", staleLeaseRefused},
		{"StaleReleaseAfterResume", staleReleaseAfterResume},
		{"StaleDeliveryRefused", staleDeliveryRefused},
		{"LateStepsWithoutContender", lateStepsWithoutContender},
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

func wantFresh(t *testing.T, h Harness, key, when string) function.Claim {
	t.Helper()
	c := mustClaim(t, h, key)
	if c.Result != nil || c.Completed || c.Deliver || c.Lease == "" {
		t.Fatalf("%s: Begin = %+v; want a fresh claim with a lease", when, c)
	}
	return c
}

func wantCompleted(t *testing.T, h Harness, key string, result []byte, deliver bool, when string) function.Claim {
	t.Helper()
	c := mustClaim(t, h, key)
	if !c.Completed || c.Deliver != deliver || !bytes.Equal(c.Result, result) || (c.Lease != "") != deliver {
		t.Fatalf("%s: Begin = {Completed:%v Deliver:%v Lease:%q Result:%q}; want completed, deliver %v (with a lease if so), %q",
			when, c.Completed, c.Deliver, c.Lease, c.Result, deliver, result)
	}
	return c
}

// follow calls h.Follows.Follow and returns what it says it recorded.
func follow(t *testing.T, h FollowHarness, f function.Follow, expiry time.Time) bool {
	t.Helper()
	recorded, err := h.Follows.Follow(context.Background(), f, expiry)
	if err != nil {
		t.Fatalf("Follow(%s): %v", f.Marker, err)
	}
	return recorded
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// wantLeaseLost checks that a step taken with a stale lease was refused.
func wantLeaseLost(t *testing.T, err error, step string) {
	t.Helper()
	if !errors.Is(err, function.ErrLeaseLost) {
		t.Fatalf("%s with a stale lease: %v; want ErrLeaseLost", step, err)
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
	c := mustClaim(t, h, "k")
	must(t, h.Store.Complete(ctx, "k", c.Lease, []byte("r1"), h.Now().Add(TTL), true))
	wantInProgress(t, h, "k", "while the result is being delivered")
}

func deliveredResultAnswersDuplicates(t *testing.T, h Harness) {
	c := mustClaim(t, h, "k")
	must(t, h.Store.Complete(ctx, "k", c.Lease, []byte("r1"), h.Now().Add(TTL), true))
	must(t, h.Store.Settle(ctx, "k", c.Lease, true))
	for i := range 3 {
		wantCompleted(t, h, "k", []byte("r1"), false, fmt.Sprintf("duplicate %d", i+1))
	}
}

func failedDeliveryIsHandedOn(t *testing.T, h Harness) {
	c := mustClaim(t, h, "k")
	must(t, h.Store.Complete(ctx, "k", c.Lease, []byte("r1"), h.Now().Add(TTL), true))
	must(t, h.Store.Settle(ctx, "k", c.Lease, false))
	next := wantCompleted(t, h, "k", []byte("r1"), true, "after a failed delivery")
	if next.Lease == c.Lease {
		t.Fatal("the hand-over kept the first attempt's lease; want a new one")
	}
	wantInProgress(t, h, "k", "while the next attempt delivers")
	must(t, h.Store.Settle(ctx, "k", next.Lease, true))
	wantCompleted(t, h, "k", []byte("r1"), false, "after the next attempt delivered")
}

func deliveryHoldExpires(t *testing.T, h Harness) {
	c := mustClaim(t, h, "k")
	must(t, h.Store.Complete(ctx, "k", c.Lease, []byte("r1"), h.Now().Add(TTL+Lock), true))
	// The attempt died before it settled: once its lock passes, the next
	// one is handed the result.
	h.Advance(Lock + Lock/4)
	wantCompleted(t, h, "k", []byte("r1"), true, "after the delivering attempt's lock expired")
}

func completeWithoutDelivery(t *testing.T, h Harness) {
	c := mustClaim(t, h, "k")
	must(t, h.Store.Complete(ctx, "k", c.Lease, []byte("r1"), h.Now().Add(TTL), false))
	wantCompleted(t, h, "k", []byte("r1"), false, "a result with nowhere to go")
}

func completedRecordExpires(t *testing.T, h Harness) {
	c := mustClaim(t, h, "k")
	must(t, h.Store.Complete(ctx, "k", c.Lease, []byte("r1"), h.Now().Add(TTL), false))
	h.Advance(TTL + TTL/4)
	wantFresh(t, h, "k", "after the record expired")
}

func releaseLeavesNoRecord(t *testing.T, h Harness) {
	c := mustClaim(t, h, "k")
	must(t, h.Store.Release(ctx, "k", c.Lease, nil, h.Now().Add(TTL)))
	wantFresh(t, h, "k", "after Release")
}

func partialResume(t *testing.T, h Harness) {
	first := mustClaim(t, h, "k")
	must(t, h.Store.Release(ctx, "k", first.Lease, []byte("part-1"), h.Now().Add(TTL)))
	c := mustClaim(t, h, "k")
	if c.Completed || c.Deliver || string(c.Result) != "part-1" || c.Lease == "" || c.Lease == first.Lease {
		t.Fatalf("Begin after a partial Release = %+v; want a claim with the partial result and a new lease", c)
	}
	// The resumed attempt holds the key as a fresh one does.
	wantInProgress(t, h, "k", "while the resumed attempt runs")
	must(t, h.Store.Release(ctx, "k", c.Lease, []byte("part-2"), h.Now().Add(TTL)))
	c = mustClaim(t, h, "k")
	if string(c.Result) != "part-2" {
		t.Fatalf("second resume: %+v; want part-2", c)
	}
	must(t, h.Store.Complete(ctx, "k", c.Lease, []byte("whole"), h.Now().Add(TTL), false))
	wantCompleted(t, h, "k", []byte("whole"), false, "after the resumed attempt completed")
}

func partialExpires(t *testing.T, h Harness) {
	c := mustClaim(t, h, "k")
	must(t, h.Store.Release(ctx, "k", c.Lease, []byte("part-1"), h.Now().Add(TTL)))
	h.Advance(TTL + TTL/4)
	wantFresh(t, h, "k", "after the partial record expired")
}

func keysAreIndependent(t *testing.T, h Harness) {
	mustClaim(t, h, "a")
	b := wantFresh(t, h, "b", "another key")
	must(t, h.Store.Complete(ctx, "b", b.Lease, []byte("rb"), h.Now().Add(TTL), false))
	wantInProgress(t, h, "a", "the first key")
	// Keys are opaque: separators and binary bytes are part of them.
	for _, k := range []string{"src\x00id", "src\x00id2", "{braces}", "ü"} {
		wantFresh(t, h, k, "key "+fmt.Sprintf("%q", k))
	}
}

// staleLeaseRefused: the first attempt outlives its lock and a second
// claims the key. The first one's late steps are refused and change
// nothing: the second still holds the key, and completes normally.
func staleLeaseRefused(t *testing.T, h Harness) {
	first := mustClaim(t, h, "k")
	h.Advance(Lock + Lock/4)
	second := wantFresh(t, h, "k", "after the first attempt's lock expired")
	if second.Lease == first.Lease {
		t.Fatal("the second claim has the first one's lease")
	}
	wantLeaseLost(t, h.Store.Complete(ctx, "k", first.Lease, []byte("r-first"), h.Now().Add(TTL), true), "Complete")
	wantLeaseLost(t, h.Store.Settle(ctx, "k", first.Lease, true), "Settle")
	wantLeaseLost(t, h.Store.Release(ctx, "k", first.Lease, []byte("part-first"), h.Now().Add(TTL)), "Release of a partial result")
	wantLeaseLost(t, h.Store.Release(ctx, "k", first.Lease, nil, h.Now().Add(TTL)), "Release")
	wantInProgress(t, h, "k", "after the stale steps: the second attempt's claim")

	must(t, h.Store.Complete(ctx, "k", second.Lease, []byte("r-second"), h.Now().Add(TTL), true))
	wantLeaseLost(t, h.Store.Settle(ctx, "k", first.Lease, true), "Settle of the second's result")
	wantLeaseLost(t, h.Store.Release(ctx, "k", first.Lease, nil, h.Now().Add(TTL)), "Release of the second's result")
	wantInProgress(t, h, "k", "while the second attempt delivers")
	must(t, h.Store.Settle(ctx, "k", second.Lease, true))
	wantLeaseLost(t, h.Store.Complete(ctx, "k", first.Lease, []byte("r-first"), h.Now().Add(TTL), false), "Complete over the second's result")
	wantLeaseLost(t, h.Store.Release(ctx, "k", first.Lease, nil, h.Now().Add(TTL)), "Release of the delivered result")
	for i := range 2 {
		wantCompleted(t, h, "k", []byte("r-second"), false, fmt.Sprintf("duplicate %d", i+1))
	}
}

// staleReleaseAfterResume: a Release with the lease of an attempt that
// released a partial result does not drop the record of the attempt that
// resumed from it.
func staleReleaseAfterResume(t *testing.T, h Harness) {
	first := mustClaim(t, h, "k")
	must(t, h.Store.Release(ctx, "k", first.Lease, []byte("part-1"), h.Now().Add(TTL)))
	wantLeaseLost(t, h.Store.Release(ctx, "k", first.Lease, nil, h.Now().Add(TTL)), "Release of the partial result")
	resumed := mustClaim(t, h, "k")
	if string(resumed.Result) != "part-1" {
		t.Fatalf("Begin = %+v; want the partial result kept", resumed)
	}
	wantLeaseLost(t, h.Store.Release(ctx, "k", first.Lease, nil, h.Now().Add(TTL)), "Release")
	wantLeaseLost(t, h.Store.Complete(ctx, "k", first.Lease, []byte("r-first"), h.Now().Add(TTL), false), "Complete")
	wantInProgress(t, h, "k", "while the resumed attempt runs")
	must(t, h.Store.Complete(ctx, "k", resumed.Lease, []byte("whole"), h.Now().Add(TTL), false))
	wantCompleted(t, h, "k", []byte("whole"), false, "after the resumed attempt completed")
}

// staleDeliveryRefused: the attempt delivering a result outlives its lock
// and the next one is handed the result; the first one's Settle is refused
// and the second one's delivery stands.
func staleDeliveryRefused(t *testing.T, h Harness) {
	first := mustClaim(t, h, "k")
	must(t, h.Store.Complete(ctx, "k", first.Lease, []byte("r1"), h.Now().Add(TTL+Lock), true))
	h.Advance(Lock + Lock/4)
	second := wantCompleted(t, h, "k", []byte("r1"), true, "after the delivering attempt's lock expired")
	wantLeaseLost(t, h.Store.Settle(ctx, "k", first.Lease, false), "Settle")
	wantLeaseLost(t, h.Store.Release(ctx, "k", first.Lease, nil, h.Now().Add(TTL)), "Release")
	wantInProgress(t, h, "k", "while the second attempt delivers")
	must(t, h.Store.Settle(ctx, "k", second.Lease, true))
	wantCompleted(t, h, "k", []byte("r1"), false, "after the second attempt delivered")
}

// lateStepsWithoutContender: an attempt whose lock expired while nobody
// claimed the key since still takes its steps (nothing is lost by them).
func lateStepsWithoutContender(t *testing.T, h Harness) {
	c := mustClaim(t, h, "a")
	h.Advance(Lock + Lock/4)
	must(t, h.Store.Complete(ctx, "a", c.Lease, []byte("ra"), h.Now().Add(TTL), true))
	// Its hold for delivery ended with its lock: the next one is handed it.
	wantCompleted(t, h, "a", []byte("ra"), true, "after a late Complete")

	c = mustClaim(t, h, "b")
	h.Advance(Lock + Lock/4)
	must(t, h.Store.Release(ctx, "b", c.Lease, []byte("part-b"), h.Now().Add(TTL)))
	if got := mustClaim(t, h, "b"); string(got.Result) != "part-b" {
		t.Fatalf("Begin after a late partial Release = %+v; want part-b", got)
	}

	c = mustClaim(t, h, "c")
	h.Advance(Lock + Lock/4)
	must(t, h.Store.Release(ctx, "c", c.Lease, nil, h.Now().Add(TTL)))
	wantFresh(t, h, "c", "after a late Release")
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
	c := mustClaim(t, h, "k")
	must(t, h.Store.Complete(ctx, "k", c.Lease, []byte("r1"), h.Now().Add(TTL), true))
	must(t, h.Store.Settle(ctx, "k", c.Lease, false))
	const n = 32
	handed := func(c function.Claim) bool { return c.Completed && c.Deliver }
	if deliverers, waited := raceBegins(t, h, "k", n, handed); deliverers != 1 || waited != n-1 {
		t.Fatalf("%d concurrent Begins on an undelivered result: %d handed it, %d waited; want 1 and %d", n, deliverers, waited, n-1)
	}
}

// FollowHarness is one FollowStore under test and its clock.
type FollowHarness struct {
	// Follows is a new, empty store.
	Follows function.FollowStore
	// Now and Advance are as in Harness.
	Now     func() time.Time
	Advance func(d time.Duration)
}

// RunFollows holds a FollowStore to its contract; newHarness is called once
// per subtest, and the subtests run one after another (a store's list of
// restore points being followed is one for the whole store).
func RunFollows(t *testing.T, newHarness func(t *testing.T) FollowHarness) {
	pending := func(marker string) function.Follow {
		return function.Follow{Marker: marker, VaultID: "v", Checkpoints: []string{"cp-" + marker}}
	}
	following := func(t *testing.T, h FollowHarness) []string {
		t.Helper()
		list, err := h.Follows.Following(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var markers []string
		for _, f := range list {
			markers = append(markers, f.Marker)
		}
		return markers
	}
	t.Run("FollowOnce", func(t *testing.T) {
		h := newHarness(t)
		if !follow(t, h, pending("a"), h.Now().Add(TTL)) {
			t.Fatal("Follow of a new marker says it recorded nothing")
		}
		changed := pending("a")
		changed.VaultID = "other"
		if follow(t, h, changed, h.Now().Add(TTL)) {
			t.Fatal("Follow of a marker with a record says it recorded")
		}
		got, ok, err := h.Follows.Followed(ctx, "a")
		if err != nil || !ok || got.VaultID != "v" || got.Checkpoints[0] != "cp-a" {
			t.Fatalf("Followed = %+v, %v, %v; want the first record, kept", got, ok, err)
		}
		if _, ok, err := h.Follows.Followed(ctx, "b"); ok || err != nil {
			t.Fatalf("Followed(unknown) = %v, %v", ok, err)
		}
	})
	t.Run("DoneLeavesTheList", func(t *testing.T) {
		h := newHarness(t)
		follow(t, h, pending("a"), h.Now().Add(TTL))
		follow(t, h, pending("b"), h.Now().Add(TTL))
		if got := following(t, h); fmt.Sprint(got) != "[a b]" {
			t.Fatalf("Following = %v, want [a b]", got)
		}
		done := pending("a")
		done.Completion = &events.Completion{VaultID: "v"}
		must(t, h.Follows.Update(ctx, done, h.Now().Add(TTL)))
		half := pending("b") // ended, not yet delivered: still followed
		half.Completion = &events.Completion{VaultID: "v"}
		must(t, h.Follows.Update(ctx, half, h.Now().Add(TTL)))
		if got := following(t, h); fmt.Sprint(got) != "[a b]" {
			t.Fatalf("Following = %v, want both (neither delivered)", got)
		}
		done.Delivered = true
		must(t, h.Follows.Update(ctx, done, h.Now().Add(TTL)))
		if got := following(t, h); fmt.Sprint(got) != "[b]" {
			t.Fatalf("Following = %v, want [b] once a is done", got)
		}
		if got, ok, _ := h.Follows.Followed(ctx, "a"); !ok || !got.Done() || got.Completion == nil {
			t.Fatalf("Followed(a) = %+v, %v; want the done record, for gates", got, ok)
		}
	})
	t.Run("ReviewKeepsItFollowed", func(t *testing.T) {
		h := newHarness(t)
		f := pending("r")
		f.Review = &events.Review{InstallationID: 1, CallbackURL: "https://api.github.com/x", Environment: "prod"}
		f.Completion, f.Delivered = &events.Completion{}, true
		follow(t, h, f, h.Now().Add(TTL))
		if got := following(t, h); fmt.Sprint(got) != "[r]" {
			t.Fatalf("Following = %v, want [r] until reviewed", got)
		}
		f.Reviewed = true
		must(t, h.Follows.Update(ctx, f, h.Now().Add(TTL)))
		if got := following(t, h); len(got) != 0 {
			t.Fatalf("Following = %v, want none", got)
		}
	})
	t.Run("Expiry", func(t *testing.T) {
		h := newHarness(t)
		follow(t, h, pending("e"), h.Now().Add(Lock))
		h.Advance(Lock + Lock/4)
		if _, ok, _ := h.Follows.Followed(ctx, "e"); ok {
			t.Fatal("Followed after the record expired")
		}
		if got := following(t, h); len(got) != 0 {
			t.Fatalf("Following = %v after expiry, want none", got)
		}
		// An expired record is no record: the marker is recorded afresh.
		if !follow(t, h, pending("e"), h.Now().Add(TTL)) {
			t.Fatal("Follow after the record expired says it recorded nothing")
		}
		if got := following(t, h); fmt.Sprint(got) != "[e]" {
			t.Fatalf("Following = %v after following again, want [e]", got)
		}
	})
}
