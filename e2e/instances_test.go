package e2e

import (
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/restorepoint/restorepoint/events"
	"github.com/restorepoint/restorepoint/store/redis/redistest"
)

// deliverUntilDone delivers e to the children in turn, starting at first,
// until one answers 200, and returns every status seen. Statuses that ask
// for a redelivery (409 in progress, 503) are retried after a pause, as a
// platform would.
func (w *world) deliverUntilDone(e event.Event, first int, deadline time.Time) []int {
	var seen []int
	for i := first; time.Now().Before(deadline); i++ {
		r, err := w.postEventTo(w.procs[i%len(w.procs)], e)
		if err != nil {
			seen = append(seen, 0)
		} else {
			seen = append(seen, r.status)
			if r.status == http.StatusOK {
				return seen
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return seen
}

// distinctIDs returns the ids of the events, each once, and whether every
// one is a created result.
func distinctIDs(evs []event.Event) (map[string]int, bool) {
	ids := make(map[string]int)
	allCreated := true
	for _, e := range evs {
		ids[e.ID()]++
		allCreated = allCreated && e.Type() == events.TypeCheckpointCreated
	}
	return ids, allCreated
}

// Three instances sharing one Redis (and the lookup off, so that only the
// store deduplicates): 200 deliveries of 20 triggers at once, spread over
// them, make exactly 20 restore points and 20 result events at the sink.
func TestInstancesShareRedis(t *testing.T) {
	redis := redistest.MustStart(t)
	w := newWorld(t, options{env: map[string]string{"IDEMPOTENCY_STORE": redis.URL, "CBR_DEDUPE": "off"}})
	w.startMore(2)
	w.emu.SetLatency(20 * time.Millisecond)

	const triggers, deliveries = 20, 200
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		statuses = map[int]int{}
		done     = map[string]bool{}
	)
	for i := range deliveries {
		wg.Go(func() {
			id := fmt.Sprintf("storm-%d", i%triggers)
			r, err := w.postEventTo(w.procs[i%len(w.procs)], exampleEvent(id))
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				t.Errorf("delivery %d: %v", i, err)
				return
			}
			statuses[r.status]++
			done[id] = done[id] || r.status == http.StatusOK
		})
	}
	wg.Wait()
	for s := range statuses {
		if s != http.StatusOK && s != http.StatusConflict {
			t.Errorf("status %d seen (%v), want 200 or 409 (in progress)", s, statuses)
		}
	}
	// Redeliver what was answered "in progress" only.
	deadline := time.Now().Add(30 * time.Second)
	for i := range triggers {
		if id := fmt.Sprintf("storm-%d", i); !done[id] {
			w.deliverUntilDone(exampleEvent(id), i, deadline)
		}
	}
	if n := w.emu.CountCreates(); n != triggers {
		t.Errorf("%d creates, want %d (statuses %v)", n, triggers, statuses)
	}
	evs := w.sink.Events()
	ids, allCreated := distinctIDs(evs)
	if len(evs) != triggers || len(ids) != triggers || !allCreated {
		t.Errorf("sink got %d events with %d ids (all created: %v), want %d once each", len(evs), len(ids), allCreated, triggers)
	}
}

// The same three instances without Redis: redeliveries arriving one after
// another at different instances find the restore point in CBR (the
// lookup), so each trigger makes one; the sink gets each result under one
// id (at least once).
func TestInstancesLookupWithoutRedis(t *testing.T) {
	w := newWorld(t, options{})
	w.startMore(2)
	const triggers = 20
	for i := range triggers {
		id := fmt.Sprintf("lookup-%d", i)
		for k := range len(w.procs) {
			r, err := w.postEventTo(w.procs[(i+k)%len(w.procs)], exampleEvent(id))
			if err != nil || r.status != http.StatusOK {
				t.Fatalf("%s at instance %d: %v %d %s", id, (i+k)%len(w.procs), err, r.status, r.body)
			}
			if d := dataOf(t, r.event); d.Duplicate != (k > 0) {
				t.Errorf("%s delivery %d: duplicate %v", id, k+1, d.Duplicate)
			}
		}
	}
	if n := w.emu.CountCreates(); n != triggers {
		t.Errorf("%d creates, want %d", n, triggers)
	}
	ids, allCreated := distinctIDs(w.sink.Events())
	if len(ids) != triggers || !allCreated {
		t.Errorf("sink got %d distinct ids (all created: %v), want %d", len(ids), allCreated, triggers)
	}
}

// Redis stopped in the middle of a storm and started again (empty): no
// trigger makes a second restore point, and every delivery ends in a
// result or a status that asks for a redelivery.
func TestRedisStoppedMidStorm(t *testing.T) {
	redis := redistest.MustStart(t)
	w := newWorld(t, options{env: map[string]string{"IDEMPOTENCY_STORE": redis.URL}})
	w.startMore(2)
	w.emu.SetLatency(30 * time.Millisecond)

	const triggers = 20
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		statuses = map[int]int{}
		finished int
	)
	deadline := time.Now().Add(60 * time.Second)
	for i := range triggers {
		wg.Go(func() {
			e := exampleEvent(fmt.Sprintf("outage-%d", i))
			// Two deliveries of each trigger, to different instances.
			var seen []int
			for k := range 2 {
				seen = append(seen, w.deliverUntilDone(e, i+k, deadline)...)
			}
			mu.Lock()
			defer mu.Unlock()
			for _, s := range seen {
				statuses[s]++
			}
			if seen[len(seen)-1] == http.StatusOK {
				finished++
			}
		})
		if i == triggers/4 {
			redis.Stop()
			time.AfterFunc(time.Second, func() {
				if err := redis.Restart(); err != nil {
					t.Errorf("restart redis: %v", err)
				}
			})
		}
	}
	wg.Wait()
	for s := range statuses {
		if s != http.StatusOK && s != http.StatusConflict && s != http.StatusServiceUnavailable {
			t.Errorf("status %d seen (%v), want 200, 409 or 503", s, statuses)
		}
	}
	if statuses[http.StatusServiceUnavailable] == 0 {
		t.Errorf("no 503 while Redis was down (%v): the outage was not exercised", statuses)
	}
	if finished != triggers {
		t.Errorf("%d of %d triggers ended in a result", finished, triggers)
	}
	if n := w.emu.CountCreates(); n != triggers {
		t.Errorf("%d creates, want %d (statuses %v)", n, triggers, statuses)
	}
}
