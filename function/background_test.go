package function_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/restorepoint/restorepoint/cbr/cbrtest"
	"github.com/restorepoint/restorepoint/events"
	"github.com/restorepoint/restorepoint/function"
)

// The background follower records the restore point a trigger made as soon
// as the trigger hands it over, not when its next pass comes: a gate poll
// that follows the trigger's answer finds it, though the follower waits an
// hour between passes.
func TestBackgroundRecordsAtOnce(t *testing.T) {
	e := withHourlyBackground(t)

	tr := tagged("bg-1", map[string]string{"backup-vault": cbrtest.ExampleVaultID})
	mustHandle(t, e.fn, tr)
	deadline := time.Now().Add(5 * time.Second)
	for {
		g, found, err := e.fn.Poll(context.Background(), tr.Ref)
		if err != nil {
			t.Fatal(err)
		}
		if found {
			if g.State != function.GatePending {
				t.Fatalf("poll: %s, want pending", g.State)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the restore point the trigger made is not recorded 5 s after its answer")
		}
		time.Sleep(time.Millisecond)
	}
}

// With the follow store in this process (the default MemoryFollows), the
// restore point is recorded before the trigger's answer, not handed to the
// recorder goroutine: a poll right after each of twenty triggers finds it.
func TestBackgroundRecordsInProcessBeforeTheAnswer(t *testing.T) {
	e := withHourlyBackground(t)
	for i := range 20 {
		tr := tagged(fmt.Sprintf("bg-in-process-%d", i), map[string]string{"backup-vault": cbrtest.ExampleVaultID})
		mustHandle(t, e.fn, tr)
		if _, ok, err := e.fn.Follows().Followed(context.Background(), function.FollowMarker(tr.Ref)); err != nil || !ok {
			t.Fatalf("trigger %d: not recorded when its answer came (found %v, %v)", i, ok, err)
		}
	}
}

// A deployment rejected at once whose review GitHub refused is posted by
// the background follower's next pass, though no restore point is pending
// to wake it.
func TestBackgroundPostsARefusedRejection(t *testing.T) {
	var bg *function.Background
	reviewer := &reviewRecorder{fail: 1}
	e := newEnv(t, function.Config{PollInterval: 10 * time.Millisecond, PollMax: 10 * time.Millisecond}, cbrtest.Options{},
		function.WithReviewer(reviewer),
		function.WithTracker(func(ctx context.Context, fl function.Follow) { bg.Track(ctx, fl) }))
	passes := make(chan events.FollowReport, 100)
	bg = function.NewBackground(e.fn, (&sinkRecorder{}).deliver, func(r events.FollowReport, _ error) {
		select {
		case passes <- r:
		default:
		}
	})
	runBackground(t, bg)
	<-passes // the first pass found nothing: the follower is idle

	tr := tagged("bg-2", map[string]string{"backup": "off"})
	tr.Review = &events.Review{InstallationID: 7, CallbackURL: "https://api.github.com/repos/o/r/actions/runs/2/deployment_protection_rule", Environment: "qa"}
	mustHandle(t, e.fn, tr)
	deadline := time.Now().Add(5 * time.Second)
	for {
		reviewer.mu.Lock()
		n := len(reviewer.reviews)
		reviewer.mu.Unlock()
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the refused rejection is not posted 5 s later")
		}
		time.Sleep(time.Millisecond)
	}
}

// Each restore point is read on its own schedule, doubling from
// PollInterval: a steady stream of new restore points (here four every
// PollInterval) does not make the follower read an older one again at every
// pass, and passes come at most once a PollInterval, each reading what fell
// due since (a pass lists every record). Backups take minutes to hours;
// reading every one each PollInterval would spend CBR's rate limit on
// restore points whose answer cannot have changed.
func TestBackgroundReadsEachOnItsOwnSchedule(t *testing.T) {
	const interval = 20 * time.Millisecond
	var bg *function.Background
	e := newEnv(t, function.Config{PollInterval: interval, PollMax: time.Minute}, cbrtest.Options{AvailableAfter: time.Hour},
		function.WithTracker(func(ctx context.Context, fl function.Follow) { bg.Track(ctx, fl) }))
	var passes atomic.Int32
	bg = function.NewBackground(e.fn, (&sinkRecorder{}).deliver, func(events.FollowReport, error) { passes.Add(1) })
	runBackground(t, bg)

	vault := map[string]string{"backup-vault": cbrtest.ExampleVaultID}
	first := mustHandle(t, e.fn, tagged("sched-0", vault)).Created.Checkpoints[0].ID
	start := time.Now()
	for n := 1; time.Since(start) < 40*interval; n++ {
		mustHandle(t, e.fn, tagged(fmt.Sprintf("sched-%d", n), vault))
		time.Sleep(interval / 4)
	}
	elapsed := time.Since(start)
	reads := 0
	for _, r := range e.srv.Requests() {
		if r.Method == http.MethodGet && strings.HasSuffix(r.Path, "/checkpoints/"+first) {
			reads++
		}
	}
	// Due at 1, 3, 7, 15 and 31 intervals: five reads in 40 intervals, where
	// reading it at every pass would be about twenty.
	if reads < 2 || reads > 8 {
		t.Errorf("the first restore point was read %d times in %d intervals while new ones came, want about 5 (1, 3, 7, 15, 31)",
			reads, 40)
	}
	if n, most := passes.Load(), int32(elapsed/interval)+2; n > most {
		t.Errorf("%d passes in %v, want at most one a PollInterval (%d)", n, elapsed.Round(time.Millisecond), most)
	}
}

// runBackground runs bg until the test ends.
// withHourlyBackground is an env whose Function hands the restore points it
// makes (which stay protecting for an hour) to a running background follower
// that waits an hour between reads.
func withHourlyBackground(t *testing.T) *env {
	t.Helper()
	var bg *function.Background
	e := newEnv(t, function.Config{PollInterval: time.Hour, PollMax: time.Hour}, cbrtest.Options{AvailableAfter: time.Hour},
		function.WithTracker(func(ctx context.Context, fl function.Follow) { bg.Track(ctx, fl) }))
	bg = function.NewBackground(e.fn, (&sinkRecorder{}).deliver, nil)
	runBackground(t, bg)
	return e
}

func runBackground(t *testing.T, bg *function.Background) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { bg.Run(ctx); close(done) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
}
