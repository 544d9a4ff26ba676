package function_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/restorepoint/restorepoint/cbr/cbrtest"
	"github.com/restorepoint/restorepoint/events"
	"github.com/restorepoint/restorepoint/function"
)

// sinkRecorder is a function.Deliver that keeps what it is given.
type sinkRecorder struct {
	mu   sync.Mutex
	got  []events.Result
	fail bool
}

func (s *sinkRecorder) deliver(_ context.Context, r events.Result) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail {
		return errors.New("sink down")
	}
	s.got = append(s.got, r)
	return nil
}

func (s *sinkRecorder) results() []events.Result {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]events.Result(nil), s.got...)
}

// reviewRecorder is a function.Reviewer that keeps the reviews it posts.
type reviewRecorder struct {
	mu      sync.Mutex
	reviews []string
	fail    int
}

func (r *reviewRecorder) Review(_ context.Context, rv events.Review, approve bool, comment string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail > 0 {
		r.fail--
		return errors.New("GitHub answered 502")
	}
	state := "rejected"
	if approve {
		state = "approved"
	}
	r.reviews = append(r.reviews, rv.Environment+" "+state+": "+comment)
	return nil
}

// followEnv is a function whose emulator and clock move together: backups
// are available a minute after their checkpoint is created.
func followEnv(t *testing.T, opts ...function.Option) (*env, *clock) {
	clk := &clock{now: fixedNow}
	return newEnv(t, function.Config{}, cbrtest.Options{Now: clk.Now, AvailableAfter: time.Minute},
		append([]function.Option{function.WithClock(clk.Now)}, opts...)...), clk
}

// A restore point is followed to its end: pending while its backups are
// made, then reported available once, with each resource's backup.
func TestFollowToAvailable(t *testing.T) {
	e, clk := followEnv(t)
	res := mustHandle(t, e.fn, tagged("f-1", map[string]string{"backup-vault": cbrtest.ExampleVaultID}))
	sink := &sinkRecorder{}
	ctx := context.Background()

	report, err := e.fn.FollowPass(ctx, sink.deliver, false)
	if err != nil || report.Pending != 1 || len(sink.results()) != 0 {
		t.Fatalf("pass while protecting: %+v, %v, %d results", report, err, len(sink.results()))
	}
	clk.Advance(2 * time.Minute)
	report, err = e.fn.FollowPass(ctx, sink.deliver, false)
	if err != nil || report.Available != 1 || report.Pending != 0 || len(report.Errors) != 0 {
		t.Fatalf("pass after the backups: %+v, %v", report, err)
	}
	got := sink.results()
	if len(got) != 1 || got[0].Type != events.TypeCheckpointAvailable || got[0].Completed == nil {
		t.Fatalf("results %+v, want one checkpoint.available", got)
	}
	c := got[0].Completed
	if c.Trigger.ID != "f-1" || c.VaultID != cbrtest.ExampleVaultID || len(c.CheckpointIDs) != 1 ||
		c.CheckpointIDs[0] != res.Created.Checkpoints[0].ID || len(c.Resources) != 1 ||
		c.Resources[0].ID != cbrtest.ExampleServerID || c.Resources[0].BackupID == "" || c.Resources[0].Status != "available" ||
		c.Seconds < 60 || c.Error != nil {
		t.Fatalf("completion %+v", c)
	}
	if got[0].ID != function.ResultID(tagged("f-1", nil).Ref.Digest(), events.TypeCheckpointAvailable) {
		t.Errorf("completion id %s, want the one derived from the trigger and the type", got[0].ID)
	}
	// Reported once: a later pass finds nothing left.
	if report, _ := e.fn.FollowPass(ctx, sink.deliver, true); report.Pending != 0 || report.Available != 0 || len(sink.results()) != 1 {
		t.Fatalf("later pass: %+v, %d results", report, len(sink.results()))
	}
}

// A backup that ends in error makes the restore point failed, saying which.
func TestFollowToFailed(t *testing.T) {
	e, clk := followEnv(t)
	if err := e.srv.FailResource(cbrtest.ExampleServerID); err != nil {
		t.Fatal(err)
	}
	mustHandle(t, e.fn, tagged("f-2", map[string]string{"backup-vault": cbrtest.ExampleVaultID}))
	clk.Advance(2 * time.Minute)
	sink := &sinkRecorder{}
	report, err := e.fn.FollowPass(context.Background(), sink.deliver, false)
	if err != nil || report.Failed != 1 {
		t.Fatalf("pass: %+v, %v", report, err)
	}
	got := sink.results()
	if len(got) != 1 || got[0].Type != events.TypeCheckpointFailed || got[0].Completed == nil || got[0].Completed.Error == nil ||
		!strings.Contains(got[0].Completed.Error.Message, cbrtest.ExampleServerID) || got[0].Completed.Resources[0].Status != "error" {
		t.Fatalf("results %+v, want one failed completion naming the server", got)
	}
}

// A sink that is down leaves the end to report: the next pass does, once.
func TestFollowRetriesTheSink(t *testing.T) {
	e, clk := followEnv(t)
	mustHandle(t, e.fn, tagged("f-3", map[string]string{"backup-vault": cbrtest.ExampleVaultID}))
	clk.Advance(2 * time.Minute)
	sink := &sinkRecorder{fail: true}
	report, _ := e.fn.FollowPass(context.Background(), sink.deliver, false)
	if len(report.Errors) != 1 || !strings.Contains(report.Errors[0], "sink down") {
		t.Fatalf("report %+v, want the sink's error", report)
	}
	sink.fail = false
	for range 2 {
		if _, err := e.fn.FollowPass(context.Background(), sink.deliver, false); err != nil {
			t.Fatal(err)
		}
	}
	if got := sink.results(); len(got) != 1 || got[0].Type != events.TypeCheckpointAvailable {
		t.Fatalf("results %+v, want the one completion", got)
	}
}

// A pass that searches CBR finds the restore points a killed instance
// left, by their markers, and follows them: nothing is lost.
func TestFollowFindsWhatAnotherInstanceLeft(t *testing.T) {
	clk := &clock{now: fixedNow}
	opts := cbrtest.Options{Now: clk.Now, AvailableAfter: time.Minute}
	first := newEnv(t, function.Config{DefaultVaultID: cbrtest.ExampleVaultID}, opts, function.WithClock(clk.Now))
	mustHandle(t, first.fn, tagged("f-4", map[string]string{"backup-vault": cbrtest.ExampleVaultID}))

	// A fresh instance on the same CBR: its stores are empty.
	fresh := newEnvOn(t, first.srv, function.Config{DefaultVaultID: cbrtest.ExampleVaultID}, function.WithClock(clk.Now))
	sink := &sinkRecorder{}
	report, err := fresh.fn.FollowPass(context.Background(), sink.deliver, true)
	if err != nil || report.Pending != 1 {
		t.Fatalf("searching pass: %+v, %v; want the restore point found", report, err)
	}
	clk.Advance(2 * time.Minute)
	if _, err := fresh.fn.FollowPass(context.Background(), sink.deliver, true); err != nil {
		t.Fatal(err)
	}
	got := sink.results()
	if len(got) != 1 || got[0].Type != events.TypeCheckpointAvailable ||
		got[0].ID != function.ResultID(tagged("f-4", nil).Ref.Digest(), events.TypeCheckpointAvailable) {
		t.Fatalf("results %+v, want the completion, under the id any instance gives it", got)
	}
}

// With FollowLookback, a pass that searches CBR also finds the restore
// points made within it that ended before any instance read them (a killed
// instance's, without a shared store): it reports each end once, a failure
// too, and leaves older ones alone. Without it, none of them is found.
func TestFollowLookbackFindsWhatEndedUnseen(t *testing.T) {
	clk := &clock{now: fixedNow}
	cfg := function.Config{DefaultVaultID: cbrtest.ExampleVaultID}
	first := newEnv(t, cfg, cbrtest.Options{Now: clk.Now, AvailableAfter: time.Minute}, function.WithClock(clk.Now))
	mustHandle(t, first.fn, tagged("f-old", map[string]string{"backup-vault": cbrtest.ExampleVaultID}))
	clk.Advance(2 * time.Hour)
	if err := first.srv.FailResource(cbrtest.DemoServerID); err != nil {
		t.Fatal(err)
	}
	mustHandle(t, first.fn, tagged("f-new", map[string]string{"backup-vault": cbrtest.ExampleVaultID}))
	mustHandle(t, first.fn, taggedInto("f-failed", cbrtest.DemoServerID, cbrtest.DemoServerName, cbrtest.ExampleVaultID))
	clk.Advance(2 * time.Minute) // all three ended, and no instance read them

	ctx := context.Background()
	sink := &sinkRecorder{}
	without := newEnvOn(t, first.srv, cfg, function.WithClock(clk.Now))
	if report, err := without.fn.FollowPass(ctx, sink.deliver, true); err != nil || !nothing(report) || len(sink.results()) != 0 {
		t.Fatalf("pass without a lookback: %+v, %v, %d results; want nothing found", report, err, len(sink.results()))
	}

	cfg.FollowLookback = time.Hour
	fresh := newEnvOn(t, first.srv, cfg, function.WithClock(clk.Now))
	report, err := fresh.fn.FollowPass(ctx, sink.deliver, true)
	if err != nil || report.Available != 1 || report.Failed != 1 || report.Pending != 0 || len(report.Errors) != 0 {
		t.Fatalf("pass with a lookback of an hour: %+v, %v; want f-new available and f-failed failed", report, err)
	}
	want := map[string]string{
		function.ResultID(tagged("f-new", nil).Ref.Digest(), events.TypeCheckpointAvailable): events.TypeCheckpointAvailable,
		function.ResultID(tagged("f-failed", nil).Ref.Digest(), events.TypeCheckpointFailed): events.TypeCheckpointFailed,
	}
	for _, r := range sink.results() {
		if want[r.ID] != r.Type {
			t.Errorf("result %s %s, want only %v (the ids any instance gives them)", r.Type, r.ID, want)
		}
		delete(want, r.ID)
	}
	if len(want) != 0 {
		t.Errorf("no result for %v", want)
	}
	// Reported once: the next pass finds them in the follow store.
	if report, err := fresh.fn.FollowPass(ctx, sink.deliver, true); err != nil || !nothing(report) || len(sink.results()) != 2 {
		t.Fatalf("next pass: %+v, %v, %d results; want nothing more", report, err, len(sink.results()))
	}
}

// nothing reports whether a pass found nothing to report or follow.
func nothing(r events.FollowReport) bool {
	return r.Available == 0 && r.Failed == 0 && r.Pending == 0 && r.Reviews == 0 && len(r.Errors) == 0
}

// A gate reads the state: pending, then available; a read-only poll
// answers the same, and nothing for a trigger never delivered.
func TestGateAndPoll(t *testing.T) {
	e, clk := followEnv(t)
	e.fn = function.New(function.Config{DefaultVaultID: cbrtest.ExampleVaultID}, e.client, function.WithClock(clk.Now))
	tr := tagged("g-1", map[string]string{"backup-vault": cbrtest.ExampleVaultID})
	res := mustHandle(t, e.fn, tr)
	ctx := context.Background()
	g, err := e.fn.GateOf(ctx, tr, res.Created)
	if err != nil || g.State != function.GatePending {
		t.Fatalf("gate = %+v, %v; want pending", g, err)
	}
	if g, found, err := e.fn.Poll(ctx, tr.Ref); err != nil || !found || g.State != function.GatePending {
		t.Fatalf("poll = %+v, %v, %v; want pending", g, found, err)
	}
	clk.Advance(2 * time.Minute)
	g, err = e.fn.GateOf(ctx, tr, res.Created)
	if err != nil || g.State != function.GateAvailable || g.Result.Type != events.TypeCheckpointAvailable {
		t.Fatalf("gate = %+v, %v; want available", g, err)
	}
	// A fresh instance polls from CBR, by the trigger's marker.
	fresh := newEnvOn(t, e.srv, function.Config{DefaultVaultID: cbrtest.ExampleVaultID}, function.WithClock(clk.Now))
	if g, found, err := fresh.fn.Poll(ctx, tr.Ref); err != nil || !found || g.State != function.GateAvailable {
		t.Fatalf("poll on a fresh instance = %+v, %v, %v; want available", g, found, err)
	}
	if _, found, err := fresh.fn.Poll(ctx, events.Ref{ID: "never", Source: "test"}); err != nil || found {
		t.Fatalf("poll for a trigger never delivered: found %v, %v", found, err)
	}
}

// A GitHub deployment waiting for a restore point is approved once it is
// available; one a review cannot be posted for is reviewed next pass; one
// with nothing to back up is rejected at once, saying what to configure.
func TestFollowReviews(t *testing.T) {
	reviewer := &reviewRecorder{fail: 1}
	e, clk := followEnv(t, function.WithReviewer(reviewer))
	tr := tagged("r-1", map[string]string{"backup-vault": cbrtest.ExampleVaultID})
	tr.Review = &events.Review{InstallationID: 7, CallbackURL: "https://api.github.com/repos/o/r/actions/runs/1/deployment_protection_rule", Environment: "production"}
	mustHandle(t, e.fn, tr)
	clk.Advance(2 * time.Minute)
	sink := &sinkRecorder{}
	report, _ := e.fn.FollowPass(context.Background(), sink.deliver, false)
	if report.Reviews != 0 || len(report.Errors) != 1 {
		t.Fatalf("first pass: %+v, want the review's failure", report)
	}
	report, _ = e.fn.FollowPass(context.Background(), sink.deliver, false)
	if report.Reviews != 1 || len(reviewer.reviews) != 1 || !strings.HasPrefix(reviewer.reviews[0], "production approved: ") {
		t.Fatalf("second pass: %+v, reviews %q", report, reviewer.reviews)
	}
	if len(sink.results()) != 1 {
		t.Fatalf("%d completions delivered, want 1", len(sink.results()))
	}

	ignored := tagged("r-2", map[string]string{"backup": "off"})
	ignored.Review = &events.Review{InstallationID: 7, CallbackURL: tr.Review.CallbackURL, Environment: "staging"}
	mustHandle(t, e.fn, ignored)
	if len(reviewer.reviews) != 2 || !strings.HasPrefix(reviewer.reviews[1], "staging rejected: ") ||
		!strings.Contains(reviewer.reviews[1], "payload.restorepoint") {
		t.Fatalf("reviews %q, want staging rejected saying what to configure", reviewer.reviews)
	}
}

// Instances sharing the stores review a deployment once, however their
// passes overlap.
func TestReviewedOnceAcrossInstances(t *testing.T) {
	reviewer := &reviewRecorder{}
	clk := &clock{now: fixedNow}
	store, follows := function.NewMemoryStore(clk.Now), function.NewMemoryFollows(clk.Now, 0)
	shared := []function.Option{function.WithClock(clk.Now), function.WithStore(store), function.WithFollows(follows), function.WithReviewer(reviewer)}
	first := newEnv(t, function.Config{}, cbrtest.Options{Now: clk.Now, AvailableAfter: time.Minute}, shared...)
	second := newEnvOn(t, first.srv, function.Config{}, shared...)
	tr := tagged("r-once", map[string]string{"backup-vault": cbrtest.ExampleVaultID})
	tr.Review = &events.Review{InstallationID: 7, CallbackURL: "https://api.github.com/repos/o/r/actions/runs/1/deployment_protection_rule", Environment: "production"}
	mustHandle(t, first.fn, tr)
	clk.Advance(2 * time.Minute)
	sink := &sinkRecorder{}
	var wg sync.WaitGroup
	for _, e := range []*env{first, second, first, second} {
		wg.Go(func() { _, _ = e.fn.FollowPass(context.Background(), sink.deliver, false) })
	}
	wg.Wait()
	for _, e := range []*env{first, second} {
		if _, err := e.fn.FollowPass(context.Background(), sink.deliver, false); err != nil {
			t.Fatal(err)
		}
	}
	if len(reviewer.reviews) != 1 || len(sink.results()) != 1 {
		t.Fatalf("reviews %q, %d completions; want each once", reviewer.reviews, len(sink.results()))
	}
	if list, _ := follows.Following(context.Background()); len(list) != 0 {
		t.Fatalf("still following %+v", list)
	}
}

// MemoryFollows holds at most its bound: done and early-expiring records go
// first.
func TestMemoryFollowsBounded(t *testing.T) {
	clk := &clock{now: fixedNow}
	m := function.NewMemoryFollows(clk.Now, 10)
	ctx := context.Background()
	done := function.Follow{Marker: "done", Completion: &events.Completion{}, Delivered: true}
	_, _ = m.Follow(ctx, done, fixedNow.Add(time.Hour))
	for i := range 30 {
		_, _ = m.Follow(ctx, function.Follow{Marker: fmt.Sprintf("m%02d", i)}, fixedNow.Add(time.Duration(i)*time.Minute+time.Hour))
	}
	list, _ := m.Following(ctx)
	if len(list) > 10 || len(list) < 9 {
		t.Fatalf("%d records followed, want at most the bound of 10", len(list))
	}
	if _, ok, _ := m.Followed(ctx, "m29"); !ok {
		t.Error("the newest record was dropped")
	}
	if _, ok, _ := m.Followed(ctx, "m00"); ok {
		t.Error("the record expiring first was kept")
	}
}
