package function_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/restorepoint/restorepoint/cbr"
	"github.com/restorepoint/restorepoint/events"
	"github.com/restorepoint/restorepoint/failure"
	"github.com/restorepoint/restorepoint/function"
)

// FuzzPlanCheckpointRequested feeds arbitrary request bodies to the planner,
// which decodes them into CBR requests: it must never panic, and every plan
// it accepts must pass the API's validation.
func FuzzPlanCheckpointRequested(f *testing.F) {
	for _, name := range []string{"checkpoint-requested.json", "checkpoint-requested-inner.json"} {
		data, err := os.ReadFile(filepath.Join("..", "testdata", "events", name))
		if err != nil {
			f.Fatal(err)
		}
		var ce struct {
			Data json.RawMessage `json:"data"`
		}
		if err := json.Unmarshal(data, &ce); err != nil {
			f.Fatal(err)
		}
		f.Add([]byte(ce.Data))
	}
	f.Add([]byte(`{"vault_id":"v"}`))
	f.Add([]byte(`{"vault_id":"v","parameters":{"resources":["a","a","b"],"incremental":false}}`))
	fn := function.New(function.Config{}, nil)
	f.Fuzz(func(t *testing.T, body []byte) {
		tr := events.Trigger{Kind: events.KindCheckpointRequested, CheckpointRequested: &events.CheckpointRequested{Body: body}}
		plan, err := fn.Plan(tr)
		if err != nil {
			var inv *failure.FieldError
			if !errors.As(err, &inv) || failure.ClassOf(err) != failure.Invalid {
				t.Fatalf("error of type %T: %v", err, err)
			}
			return
		}
		for _, r := range plan.Requests {
			if err := cbr.Validate(r); err != nil {
				t.Fatalf("accepted plan is invalid: %v", err)
			}
		}
	})
}
