package main

import (
	"encoding/json"
	"os"
	"testing"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/restorepoint/restorepoint/cbr"
	"github.com/restorepoint/restorepoint/events"
	"github.com/restorepoint/restorepoint/function"
)

const fixture = "../../testdata/events/server-tagged.json"

// TestSameBody holds the floor to its promise: for the benchmark's event it
// sends byte for byte the body restorepoint sends.
func TestSameBody(t *testing.T) {
	raw, err := os.ReadFile(fixture)
	if err != nil {
		t.Fatal(err)
	}
	var e cloudEvent
	if err := json.Unmarshal(raw, &e); err != nil {
		t.Fatal(err)
	}
	got, err := body(&e)
	if err != nil {
		t.Fatal(err)
	}

	var ce event.Event
	if err := json.Unmarshal(raw, &ce); err != nil {
		t.Fatal(err)
	}
	trig, err := events.DecodeEvent(ce)
	if err != nil {
		t.Fatal(err)
	}
	plan, err := function.New(function.Config{}, nil).Plan(trig)
	if err != nil {
		t.Fatal(err)
	}
	if len(plan.Requests) != 1 {
		t.Fatalf("restorepoint plans %d requests, want 1", len(plan.Requests))
	}
	want, err := json.Marshal(cbr.CreateCheckpointRequest{Checkpoint: plan.Requests[0]})
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Errorf("floor body\n%s\nrestorepoint body\n%s", got, want)
	}
}

// BenchmarkFloor is the floor's per-event cost: decode the event, build and
// encode the request body.
func BenchmarkFloor(b *testing.B) {
	raw, err := os.ReadFile(fixture)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		var e cloudEvent
		if err := json.Unmarshal(raw, &e); err != nil {
			b.Fatal(err)
		}
		if _, err := body(&e); err != nil {
			b.Fatal(err)
		}
	}
}
