package e2e

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/restorepoint/restorepoint/cbr/cbrtest"
	"github.com/restorepoint/restorepoint/events"
	"github.com/restorepoint/restorepoint/otc"
)

// The result sink up, down and back up: while it is down the trigger is
// answered 503 and redelivered; in the end the sink holds exactly one result
// event for it while the emulator saw exactly one create for it. Both ways a sink can be down: answering 503, and
// refusing connections.
func TestSinkDownThenUp(t *testing.T) {
	for _, mode := range []string{"503", "refused"} {
		t.Run(mode, func(t *testing.T) {
			w := newWorld(t, options{})
			down, up := func() { w.sink.SetFailing(true) }, func() { w.sink.SetFailing(false) }
			if mode == "refused" {
				down, up = w.sink.Down, w.sink.Up
			}
			id := "sink-" + mode

			// Up: a first trigger is answered and sunk.
			before, status := w.mustSend(exampleEvent(id + "-before"))
			expectCreated(t, before, status, id+"-before")
			expectSinkHas(t, w.sink, before.ID())

			down()
			for i := range 2 { // the first delivery and a redelivery while the sink is still down
				reply, status := w.mustSend(exampleEvent(id))
				if status != http.StatusServiceUnavailable {
					t.Fatalf("delivery %d with the sink down: status %d (%v), want 503", i+1, status, reply)
				}
			}
			if mode == "503" && w.sink.Attempts() < 2 {
				t.Errorf("the sink saw %d attempts, want retries", w.sink.Attempts())
			}
			expectSinkHas(t, w.sink, before.ID())
			if n := w.emu.CountCreates(); n != 2 {
				t.Fatalf("%d creates, want 2: one per trigger (the redelivery is answered from the record)", n)
			}

			up()
			reply, status := w.mustSend(exampleEvent(id))
			d := expectCreated(t, reply, status, id)
			expectSinkHas(t, w.sink, before.ID(), reply.ID())
			got := w.sink.Events()[1]
			if got.ID() != reply.ID() || got.Type() != events.TypeCheckpointCreated {
				t.Errorf("sink event %s %s, want the reply's %s", got.Type(), got.ID(), reply.ID())
			}
			sd := dataOf(t, &got)
			if len(sd.Checkpoints) != 1 || sd.Checkpoints[0].ID != d.Checkpoints[0].ID {
				t.Errorf("sink event checkpoints %+v, reply %+v", sd.Checkpoints, d.Checkpoints)
			}
			if sd.Duplicate {
				t.Errorf("the only result the sink ever got says duplicate: true; a consumer dropping duplicates loses it")
			}

			// Delivered: more redeliveries are answered from the record and
			// neither create nor sink again.
			reply, status = w.mustSend(exampleEvent(id))
			d = expectCreated(t, reply, status, id)
			if !d.Duplicate {
				t.Error("a redelivery after success is not marked duplicate")
			}
			if n := w.emu.CountCreates(); n != 2 {
				t.Errorf("%d creates, want 2 (one per trigger)", n)
			}
			expectSinkHas(t, w.sink, before.ID(), reply.ID())
		})
	}
}

// A storm: 200 deliveries of 20 distinct triggers, 10 copies each, all at
// once. Each delivery is answered 200 (created or duplicate) or 409 (in
// progress), in which case it is redelivered until 200, as a platform does.
// In the end: exactly 20 creates, exactly 20 result events at the sink, one
// per trigger, and one non-duplicate reply per trigger.
func TestStorm(t *testing.T) {
	const (
		triggers = 20
		copies   = 10
	)
	vault := cbrtest.FixtureVault{ID: "5e1d0c3b-7a2f-4e6d-9b8c-1a2b3c4d5e6f", Name: "vault-storm"}
	for i := range triggers {
		vault.Resources = append(vault.Resources, cbrtest.FixtureResource{
			ID: serverID(i), Name: fmt.Sprintf("storm-%02d", i), Type: otc.TypeServer, SizeGB: 10,
		})
	}
	fixture := &cbrtest.Fixture{Vaults: []cbrtest.FixtureVault{vault}}
	// CBR_TIMEOUT stays long: an attempt abandoned after CBR acted creates a
	// second restore point (see TestSlowerThanDeadline), which a loaded
	// 2-core machine under -race must not turn into a flaky count here.
	w := newWorld(t, options{emu: cbrtest.Options{Fixture: fixture}, env: map[string]string{"CBR_TIMEOUT": "30s"}})
	// A little latency keeps triggers in progress while their copies arrive.
	w.emu.SetLatency(30 * time.Millisecond)

	type answer struct {
		trigger   int
		resultID  string
		duplicate bool
		conflicts int
	}
	answers := make(chan answer, triggers*copies)
	errs := make(chan error, triggers*copies)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range triggers {
		e := taggedEvent(fmt.Sprintf("storm-%02d", i), serverID(i), vault.ID)
		for range copies {
			wg.Go(func() {
				<-start
				ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
				defer cancel()
				a := answer{trigger: i}
				for attempt := 0; ; attempt++ {
					if attempt == 200 {
						errs <- fmt.Errorf("trigger %d: still 409 after %d deliveries", i, attempt)
						return
					}
					reply, status, err := w.send(ctx, e)
					switch {
					case err != nil:
						errs <- fmt.Errorf("trigger %d: %v", i, err)
						return
					case status == http.StatusConflict:
						a.conflicts++
						time.Sleep(20 * time.Millisecond)
						continue
					case status != http.StatusOK || reply == nil || reply.Type() != events.TypeCheckpointCreated:
						errs <- fmt.Errorf("trigger %d: status %d, reply %v", i, status, reply)
						return
					}
					a.resultID = reply.ID()
					a.duplicate = dataOf(t, reply).Duplicate
					answers <- a
					return
				}
			})
		}
	}
	began := time.Now()
	close(start)
	wg.Wait()
	close(answers)
	close(errs)
	for err := range errs {
		t.Error(err)
	}

	ids := map[int]map[string]bool{}
	originals := map[int]int{}
	conflicts := 0
	for a := range answers {
		if ids[a.trigger] == nil {
			ids[a.trigger] = map[string]bool{}
		}
		ids[a.trigger][a.resultID] = true
		if !a.duplicate {
			originals[a.trigger]++
		}
		conflicts += a.conflicts
	}
	t.Logf("%d deliveries in %v, %d answered 409 and redelivered", triggers*copies, time.Since(began).Round(time.Millisecond), conflicts)
	for i := range triggers {
		if len(ids[i]) != 1 {
			t.Errorf("trigger %d: result ids %v, want one id for every copy", i, ids[i])
		}
		if originals[i] != 1 {
			t.Errorf("trigger %d: %d replies not marked duplicate, want 1", i, originals[i])
		}
	}
	if n := w.emu.CountCreates(); n != triggers {
		t.Errorf("%d creates, want %d; create statuses %v", n, triggers, creates(w.emu))
	}
	sunk := map[string]int{}
	byTrigger := map[string]int{}
	for _, e := range w.sink.Events() {
		sunk[e.ID()]++
		byTrigger[dataOf(t, &e).Trigger.ID]++
	}
	if n := len(w.sink.Events()); n != triggers || len(sunk) != triggers || len(byTrigger) != triggers {
		t.Errorf("sink holds %d events, %d distinct, for %d triggers; want exactly %d of each", n, len(sunk), len(byTrigger), triggers)
	}
	for i := range triggers {
		for id := range ids[i] {
			if sunk[id] != 1 {
				t.Errorf("trigger %d: result %s reached the sink %d times, want 1", i, id, sunk[id])
			}
		}
	}
	// One log line per delivery, saying what became of it (the last ones
	// may still be on their way through the child's stderr pipe).
	var outcomes map[any]int
	logged := func() bool {
		outcomes = map[any]int{}
		for _, line := range w.proc.logLines("trigger") {
			outcomes[line["outcome"]]++
		}
		return outcomes["created"] == triggers && outcomes["duplicate"] == triggers*(copies-1) && outcomes["in_progress"] == conflicts
	}
	for deadline := time.Now().Add(5 * time.Second); !logged() && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	if !logged() {
		t.Errorf("log lines by outcome %v; want %d created, %d duplicate, %d in_progress", outcomes, triggers, triggers*(copies-1), conflicts)
	}
}

// serverID is the id of storm server i.
func serverID(i int) string { return fmt.Sprintf("0c0ffee0-0000-4000-8000-%012d", i) }
