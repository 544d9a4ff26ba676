package function_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/restorepoint/restorepoint/cbr"
	"github.com/restorepoint/restorepoint/events"
	"github.com/restorepoint/restorepoint/function"
)

// BenchmarkPipeline measures the per-event cost inside the process for each
// trigger kind, without network: decode the payload into a Trigger, plan it,
// encode every create-checkpoint request as the CBR client does (validate,
// marshal), decode the API's answer and build the result CloudEvent.
// make bench reports its ns/op, B/op and allocs/op.
func BenchmarkPipeline(b *testing.B) {
	answer, err := os.ReadFile(filepath.Join("..", "cbr", "testdata", "example_response.json"))
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name, file string
		cloudEvent bool // a structured CloudEvent, decoded as the HTTP front door does
	}{
		{"server.tagged", "server-tagged.json", true},
		{"deploy.pre", "deploy-pre.json", true},
		{"checkpoint.requested", "checkpoint-requested.json", true},
		{"cts", "cts-create-tag.json", false},
		{"eventbridge", "eventbridge-deploy-pre.json", false},
	} {
		raw, err := os.ReadFile(filepath.Join("..", "testdata", "events", bc.file))
		if err != nil {
			b.Fatal(err)
		}
		b.Run(bc.name, func(b *testing.B) {
			f := function.New(benchConfig, nil)
			at := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
			b.ReportAllocs()
			for b.Loop() {
				if err := pipeline(f, raw, answer, bc.cloudEvent, at); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestPipeline checks that every benchmarked payload goes through to a
// created result, so that the benchmark measures the real path.
func TestPipeline(t *testing.T) {
	answer, err := os.ReadFile(filepath.Join("..", "cbr", "testdata", "example_response.json"))
	if err != nil {
		t.Fatal(err)
	}
	for file, ce := range map[string]bool{
		"server-tagged.json": true, "deploy-pre.json": true, "checkpoint-requested.json": true,
		"cts-create-tag.json": false, "eventbridge-deploy-pre.json": false,
	} {
		raw, err := os.ReadFile(filepath.Join("..", "testdata", "events", file))
		if err != nil {
			t.Fatal(err)
		}
		if err := pipeline(function.New(benchConfig, nil), raw, answer, ce, time.Now()); err != nil {
			t.Errorf("%s: %v", file, err)
		}
	}
}

func pipeline(f *function.Function, raw, answer []byte, cloudEvent bool, at time.Time) error {
	var t events.Trigger
	if cloudEvent {
		var e event.Event
		if err := json.Unmarshal(raw, &e); err != nil {
			return err
		}
		var err error
		if t, err = events.DecodeEvent(e); err != nil {
			return err
		}
	} else {
		var err error
		if t, err = events.Decode(raw); err != nil {
			return err
		}
	}
	plan, err := f.Plan(t)
	if err != nil {
		return err
	}
	if len(plan.Requests) == 0 {
		return errNoRequest
	}
	created := &events.Created{
		Trigger:          t.Ref,
		VaultID:          plan.VaultID,
		Resources:        plan.Resources,
		SkippedResources: []events.SkippedResource{},
	}
	for _, req := range plan.Requests {
		if err := cbr.Validate(req); err != nil {
			return err
		}
		if _, err := json.Marshal(cbr.CreateCheckpointRequest{Checkpoint: req}); err != nil {
			return err
		}
		var resp cbr.CheckpointResponse
		if err := json.Unmarshal(answer, &resp); err != nil {
			return err
		}
		cp, err := json.Marshal(&resp.Checkpoint)
		if err != nil {
			return err
		}
		created.Checkpoints = append(created.Checkpoints, cp)
	}
	res := events.Result{
		Type:        events.TypeCheckpointCreated,
		Subject:     plan.VaultID,
		TraceParent: t.TraceParent,
		Created:     created,
	}
	_, err = res.Event("restorepoint", "5d7e8f90-1a2b-4c3d-8e4f-5a6b7c8d9e0f", at)
	return err
}

// benchConfig routes triggers that name no vault (the CTS record) to the
// example vault.
var benchConfig = function.Config{DefaultVaultID: "3b5816b5-f29c-4172-9d9a-76c719a659ce"}

var errNoRequest = errors.New("plan has no request")
