package function_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/restorepoint/restorepoint/cbr"
	"github.com/restorepoint/restorepoint/cbr/cbrtest"
	"github.com/restorepoint/restorepoint/events"
	"github.com/restorepoint/restorepoint/function"
	"github.com/restorepoint/restorepoint/iam"
)

// takeover is the CBR client of an attempt that is overtaken: before its
// first create reaches CBR, its lock runs out (the clock jumps past it) and
// a second attempt handles the same trigger to the end.
type takeover struct {
	function.CheckpointAPI
	mu     sync.Mutex
	done   bool
	second func()
}

func (a *takeover) CreateCheckpoint(ctx context.Context, req cbr.VaultBackup) (*cbr.CheckpointCreate, error) {
	a.mu.Lock()
	first := !a.done
	a.done = true
	a.mu.Unlock()
	if first {
		a.second() // its own create comes back here, and passes
	}
	return a.CheckpointAPI.CreateCheckpoint(ctx, req)
}

// leaseEnv is a function over an emulator whose first attempt at a trigger
// is overtaken by a second one (takeover), with a MemoryStore on a fake
// clock and the lookup off, so that only the records deduplicate.
type leaseEnv struct {
	srv   *cbrtest.Server
	fn    *function.Function
	store *function.MemoryStore
	// second is the second attempt's result and error.
	second    events.Result
	secondErr error
}

const leaseLockTTL = time.Minute

func newLeaseEnv(t *testing.T, tr events.Trigger) *leaseEnv {
	t.Helper()
	srv := cbrtest.NewServer(cbrtestOptions())
	t.Cleanup(srv.Close)
	client, err := cbr.New(srv.URL, cbrtest.DefaultProjectID, iam.TokenAuthorizer{Source: iam.NewStatic(cbrtest.DefaultToken)},
		cbr.WithBackoff(time.Millisecond, 5*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	clk := &clock{now: fixedNow}
	e := &leaseEnv{srv: srv, store: function.NewMemoryStore(clk.Now)}
	api := &takeover{CheckpointAPI: client}
	api.second = func() {
		clk.Advance(leaseLockTTL + time.Second)
		e.second, e.secondErr = e.fn.Handle(context.Background(), tr, nil)
	}
	e.fn = function.New(function.Config{LockTTL: leaseLockTTL, Dedupe: function.DedupeOff}, api,
		function.WithClock(clk.Now), function.WithStore(e.store))
	return e
}

// An attempt overtaken after its create keeps its result (its restore point
// exists) but not the record: Complete is refused, the second attempt's
// record stands, and duplicates are answered from it.
func TestLeaseLostOnComplete(t *testing.T) {
	tr := tagged("lease-complete", map[string]string{"backup-vault": exampleVault})
	e := newLeaseEnv(t, tr)
	var sent []events.Result
	first, err := e.fn.Handle(context.Background(), tr, func(_ context.Context, r events.Result) error {
		sent = append(sent, r)
		return nil
	})
	if !errors.Is(err, function.ErrLeaseLost) || !strings.Contains(err.Error(), "complete refused") {
		t.Fatalf("first attempt: %v; want ErrLeaseLost from complete", err)
	}
	if e.secondErr != nil || e.second.Created == nil || e.second.Created.Duplicate {
		t.Fatalf("second attempt: %+v, %v; want created", e.second, e.secondErr)
	}
	if first.Created == nil || first.Created.Duplicate || len(sent) != 1 || sent[0].ID != first.ID {
		t.Fatalf("first attempt: %+v (sent %d); want its created result, delivered", first, len(sent))
	}
	if n := e.srv.CountCreates(); n != 2 {
		t.Fatalf("%d creates, want 2 (the lookup is off)", n)
	}
	dup := mustHandle(t, e.fn, tr)
	if !dup.Created.Duplicate || dup.Created.Checkpoints[0].ID != e.second.Created.Checkpoints[0].ID {
		t.Fatalf("duplicate answered with %v; want the second attempt's checkpoint %s",
			dup.Created.CheckpointIDs(), e.second.Created.Checkpoints[0].ID)
	}
}

// An attempt overtaken whose create then fails does not release the second
// attempt's record: its failed result says the release was refused, and a
// duplicate is answered from the second attempt's record, not created again.
func TestLeaseLostOnRelease(t *testing.T) {
	tr := tagged("lease-release", map[string]string{"backup-vault": exampleVault})
	e := newLeaseEnv(t, tr)
	// The second attempt's create passes; the first one's is refused.
	e.srv.Inject(cbrtest.Fault{Method: http.MethodPost, Path: "/checkpoints", After: 1, Status: http.StatusBadRequest,
		Code: "BackupService.6125", Message: "A backup task is in progress."})
	first := mustHandle(t, e.fn, tr)
	if first.Failed == nil || !strings.Contains(first.Failed.Error.Message, "release refused") ||
		!strings.Contains(first.Failed.Error.Message, "lease lost") {
		t.Fatalf("first attempt: %+v; want failed, saying the release was refused", first)
	}
	if e.secondErr != nil || e.second.Created == nil {
		t.Fatalf("second attempt: %+v, %v; want created", e.second, e.secondErr)
	}
	dup := mustHandle(t, e.fn, tr)
	if dup.Created == nil || !dup.Created.Duplicate {
		t.Fatalf("after the refused release: %+v; want a duplicate", dup)
	}
	if n := e.srv.CountCreates(); n != 1 {
		t.Fatalf("%d creates, want 1", n)
	}
}

// An attempt whose lock runs out while it delivers its result, and whose
// result is handed to the next attempt meanwhile, cannot settle: the next
// attempt's delivery stands.
func TestLeaseLostOnSettle(t *testing.T) {
	clk := &clock{now: fixedNow}
	store := function.NewMemoryStore(clk.Now)
	e := newEnv(t, function.Config{LockTTL: leaseLockTTL, Dedupe: function.DedupeOff}, cbrtestOptions(),
		function.WithClock(clk.Now), function.WithStore(store))
	tr := tagged("lease-settle", map[string]string{"backup-vault": exampleVault})
	var second events.Result
	var secondErr error
	sends := 0
	deliver := func(ctx context.Context, r events.Result) error {
		sends++
		if sends == 1 { // the first attempt's send outlives its lock
			clk.Advance(leaseLockTTL + time.Second)
			second, secondErr = e.fn.Handle(ctx, tr, func(context.Context, events.Result) error { sends++; return nil })
		}
		return nil
	}
	first, err := e.fn.Handle(context.Background(), tr, deliver)
	if !errors.Is(err, function.ErrLeaseLost) || !strings.Contains(err.Error(), "settle refused") || first.Created == nil {
		t.Fatalf("first attempt: %+v, %v; want its result and ErrLeaseLost from settle", first, err)
	}
	if secondErr != nil || second.Created == nil || !second.Created.Duplicate || sends != 2 {
		t.Fatalf("second attempt: %+v, %v (sends %d); want the result handed over and delivered", second, secondErr, sends)
	}
	// Delivered by the second attempt: duplicates are not delivered again.
	if _, err := e.fn.Handle(context.Background(), tr, deliver); err != nil || sends != 2 {
		t.Fatalf("duplicate: %v (sends %d); want no delivery", err, sends)
	}
	if n := e.srv.CountCreates(); n != 1 {
		t.Fatalf("%d creates, want 1", n)
	}
}
