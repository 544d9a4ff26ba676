package function_test

import (
	"context"
	"testing"
	"time"

	"github.com/restorepoint/restorepoint/cbr/cbrtest"
	"github.com/restorepoint/restorepoint/function"
)

// The background follower records the restore point a trigger made as soon
// as the trigger hands it over, not when its next pass comes: a gate poll
// that follows the trigger's answer finds it, though the follower waits an
// hour between passes.
func TestBackgroundRecordsAtOnce(t *testing.T) {
	var bg *function.Background
	e := newEnv(t, function.Config{PollInterval: time.Hour, PollMax: time.Hour}, cbrtest.Options{AvailableAfter: time.Hour},
		function.WithTracker(func(ctx context.Context, fl function.Follow) { bg.Track(ctx, fl) }))
	bg = function.NewBackground(e.fn, (&sinkRecorder{}).deliver, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { bg.Run(ctx); close(done) }()
	defer func() {
		cancel()
		<-done
	}()

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
