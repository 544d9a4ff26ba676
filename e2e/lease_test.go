package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/restorepoint/restorepoint/cbr/cbrtest"
	"github.com/restorepoint/restorepoint/store/redis/redistest"
)

// Attempts that outlive their lock (IDEMPOTENCY_LOCK_TTL): the lease of an
// idempotency record fences their late steps, so that they never drop or
// overwrite the record of the attempt that took the trigger over. The
// lookup is off (CBR_DEDUPE=off), so that only the records keep a trigger
// from making a second restore point.

// leaseTTL is the lock of these tests: short, but long enough for a
// race-enabled child to do a few steps well within it.
const leaseTTL = 3 * time.Second

// asyncPost sends e to child c in the background; the channel yields the
// reply.
func (w *world) asyncPost(c *child, e event.Event) <-chan reply {
	ch := make(chan reply, 1)
	go func() {
		r, err := w.postEventTo(c, e)
		if err != nil {
			w.t.Errorf("delivery of %s: %v", e.ID(), err)
		}
		ch <- r
	}()
	return ch
}

// await returns the reply from ch, failing the test after d.
func await(t *testing.T, ch <-chan reply, d time.Duration, what string) reply {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(d):
		t.Fatalf("no reply to %s within %v", what, d)
		return reply{}
	}
}

// pause stops child c (SIGSTOP) until resume; the cleanup resumes it in
// any case, so that it can be scraped and stopped.
func pause(t *testing.T, c *child) (resume func()) {
	t.Helper()
	if err := syscall.Kill(c.pid(), syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	resume = func() {
		once.Do(func() {
			if err := syscall.Kill(c.pid(), syscall.SIGCONT); err != nil {
				t.Error(err)
			}
		})
	}
	t.Cleanup(resume)
	return resume
}

// triggerLine returns child c's log line for trigger id, waiting up to d.
func triggerLine(t *testing.T, c *child, id string, d time.Duration) map[string]any {
	t.Helper()
	var line map[string]any
	eventually(t, d, "the log line of "+id, func() bool {
		for _, l := range c.logLines("trigger") {
			if l["id"] == id {
				line = l
				return true
			}
		}
		return false
	})
	return line
}

// One instance, CBR slower than the lock: the first attempt's create is
// abandoned when its lock (and so its work) ends, the redeliveries wait
// behind it (409) and then one of them creates. Exactly one restore point,
// one created result at the sink, every delivery answered with it.
func TestSlowCreateOutlivesLock(t *testing.T) {
	w := newWorld(t, options{env: map[string]string{"IDEMPOTENCY_LOCK_TTL": "1s", "CBR_DEDUPE": "off"}})
	w.emu.Inject(cbrtest.Fault{Method: http.MethodPost, Path: checkpointsPath, Delay: 5 * time.Second})
	e := exampleEvent("slow-lock-1")

	first := w.asyncPost(w.proc, e)
	eventually(t, 5*time.Second, "the first create", func() bool { return len(creates(w.emu)) == 1 })
	// Redeliveries, three at a time, from while the first attempt holds the
	// trigger until each is answered 200.
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		results []resultData
	)
	deadline := time.Now().Add(30 * time.Second)
	for range 3 {
		wg.Go(func() {
			for time.Now().Before(deadline) {
				r, err := w.postEventTo(w.proc, e)
				if err == nil && r.status == http.StatusOK {
					mu.Lock()
					results = append(results, dataOf(t, r.event))
					mu.Unlock()
					return
				}
				time.Sleep(20 * time.Millisecond)
			}
			t.Error("a redelivery was never answered 200")
		})
	}
	wg.Wait()

	r := await(t, first, 10*time.Second, "the first delivery")
	if r.status == http.StatusOK {
		t.Errorf("first delivery answered 200 (%s); want its create abandoned with its lock", r.body)
	}
	if got := creates(w.emu); len(got) != 2 || got[0] != 0 || got[1] != http.StatusOK {
		t.Errorf("create statuses %v, want [0 200]: the first abandoned, one more", got)
	}
	if n := w.emu.CountCreates(); n != 1 {
		t.Errorf("%d restore points, want 1", n)
	}
	created := 0
	for _, d := range results {
		if !d.Duplicate {
			created++
		}
	}
	if created != 1 || len(results) != 3 {
		t.Errorf("%d answers of which %d created, want 3 with 1 created and 2 duplicates", len(results), created)
	}
	if evs := w.sink.Events(); len(evs) != 1 {
		t.Errorf("sink got %d events, want the one created result", len(evs))
	}
}

// Two instances sharing Redis. The first claims the trigger and sends its
// create, which CBR is slow to answer; it is paused (SIGSTOP) past its
// lock, and the trigger is redelivered to the second, which claims it and
// creates (slowly too). The first is resumed: its create is abandoned (its
// lock is over) and its release of the record is refused, since the record
// is the second's now. Without the fence the release would drop the
// second's claim, and a third delivery would create a second restore point
// beside the second attempt.
func TestPausedInstanceCannotReleaseTakenOverRecord(t *testing.T) {
	redis := redistest.MustStart(t)
	w := newWorld(t, options{env: map[string]string{
		"IDEMPOTENCY_STORE": redis.URL, "CBR_DEDUPE": "off", "IDEMPOTENCY_LOCK_TTL": leaseTTL.String(),
	}})
	w.startMore(1)
	first, second := w.procs[0], w.procs[1]
	// The first create is never answered in time; the second one is, within
	// its lock, but late enough for the first attempt to end meanwhile.
	w.emu.Inject(cbrtest.Fault{Method: http.MethodPost, Path: checkpointsPath, Delay: time.Minute})
	w.emu.Inject(cbrtest.Fault{Method: http.MethodPost, Path: checkpointsPath, Delay: leaseTTL * 2 / 3})
	const id = "paused-release-1"
	e := exampleEvent(id)

	firstReply := w.asyncPost(first, e)
	eventually(t, 5*time.Second, "the first create", func() bool { return len(creates(w.emu)) == 1 })
	resume := pause(t, first)
	time.Sleep(leaseTTL + leaseTTL/6) // the first attempt's lock runs out

	secondReply := w.asyncPost(second, e)
	eventually(t, 5*time.Second, "the second create", func() bool { return len(creates(w.emu)) == 2 })
	resume()
	r1 := await(t, firstReply, 10*time.Second, "the first delivery")
	if r1.status == http.StatusOK || !strings.Contains(r1.message(), "release refused") || !strings.Contains(r1.message(), "lease lost") {
		t.Errorf("first delivery: %d %q; want a failure that says its release was refused", r1.status, r1.message())
	}
	if line := triggerLine(t, first, id, 5*time.Second); !strings.Contains(fmt.Sprint(line["message"]), "release refused") {
		t.Errorf("first instance's log line %v; want the refused release in it", line)
	}
	// The second attempt still holds the trigger.
	if r, err := w.postEventTo(first, e); err != nil || r.status != http.StatusConflict {
		t.Errorf("delivery while the second attempt works: %v %d %s; want 409", err, r.status, r.body)
	}

	r2 := await(t, secondReply, 10*time.Second, "the second delivery")
	d2 := expectCreated(t, r2.event, r2.status, id)
	if d2.Duplicate {
		t.Error("the second attempt's result is marked duplicate")
	}
	r, err := w.postEventTo(first, e)
	if err != nil {
		t.Fatal(err)
	}
	if d := expectCreated(t, r.event, r.status, id); !d.Duplicate || d.Checkpoints[0].ID != d2.Checkpoints[0].ID {
		t.Errorf("later delivery: %+v; want a duplicate of the second attempt's checkpoint %s", d, d2.Checkpoints[0].ID)
	}
	if n := w.emu.CountCreates(); n != 1 {
		t.Errorf("%d restore points, want 1 (create statuses %v)", n, creates(w.emu))
	}
	expectSinkHas(t, w.sink, r2.event.ID())
}

// Two instances sharing Redis, waiting for checkpoints to be available. The
// first creates its restore point and is paused in its wait past its lock;
// the second claims the trigger, creates (the lookup is off, so this is a
// second restore point: the first one's was made before it was overtaken)
// and completes. The first is resumed: its result stands (answered and
// sent), but its Complete is refused, with a warning in its log line, and
// the record stays the second's: a later delivery is answered from it.
// Without the fence the first would overwrite the second's record.
func TestPausedInstanceCannotOverwriteTakenOverRecord(t *testing.T) {
	redis := redistest.MustStart(t)
	w := newWorld(t, options{
		emu: cbrtest.Options{AvailableAfter: time.Second},
		env: map[string]string{
			"IDEMPOTENCY_STORE": redis.URL, "CBR_DEDUPE": "off", "IDEMPOTENCY_LOCK_TTL": leaseTTL.String(),
			"WAIT_FOR_AVAILABLE": "true",
		},
	})
	w.startMore(1)
	first, second := w.procs[0], w.procs[1]
	const id = "paused-complete-1"
	e := exampleEvent(id)

	firstReply := w.asyncPost(first, e)
	eventually(t, 5*time.Second, "the first restore point", func() bool { return w.emu.CountCreates() == 1 })
	resume := pause(t, first) // waiting for its checkpoint to be available
	time.Sleep(leaseTTL + leaseTTL/6)

	r2, err := w.postEventTo(second, e)
	if err != nil {
		t.Fatal(err)
	}
	d2 := expectCreated(t, r2.event, r2.status, id)
	resume()
	r1 := await(t, firstReply, 10*time.Second, "the first delivery")
	d1 := expectCreated(t, r1.event, r1.status, id)
	if d1.Checkpoints[0].ID == d2.Checkpoints[0].ID {
		t.Fatalf("both attempts report checkpoint %s; want each its own", d1.Checkpoints[0].ID)
	}
	line := triggerLine(t, first, id, 5*time.Second)
	if warning := fmt.Sprint(line["warning"]); line["level"] != "WARN" || !strings.Contains(warning, "complete refused") || !strings.Contains(warning, "lease lost") {
		t.Errorf("first instance's log line %v; want a warning that its complete was refused", line)
	}

	r, err := w.postEventTo(first, e)
	if err != nil {
		t.Fatal(err)
	}
	if d := expectCreated(t, r.event, r.status, id); !d.Duplicate || d.Checkpoints[0].ID != d2.Checkpoints[0].ID {
		t.Errorf("later delivery: %+v; want a duplicate of the second attempt's checkpoint %s", d, d2.Checkpoints[0].ID)
	}
	if n := w.emu.CountCreates(); n != 2 {
		t.Errorf("%d restore points, want the 2 made before and after the take-over", n)
	}
	// Both results were reported, under the trigger's one result id.
	sunk := map[string]bool{}
	for _, ev := range w.sink.Events() {
		if ev.ID() != r2.event.ID() {
			t.Errorf("sink got event %s, want only %s", ev.ID(), r2.event.ID())
		}
		sunk[dataOf(t, &ev).Checkpoints[0].ID] = true
	}
	if len(sunk) != 2 || !sunk[d1.Checkpoints[0].ID] || !sunk[d2.Checkpoints[0].ID] {
		t.Errorf("sink got checkpoints %v, want both %s and %s", sunk, d1.Checkpoints[0].ID, d2.Checkpoints[0].ID)
	}
}
