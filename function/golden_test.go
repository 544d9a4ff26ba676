package function_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/restorepoint/restorepoint/cbr/cbrtest"
	"github.com/restorepoint/restorepoint/events"
	"github.com/restorepoint/restorepoint/function"
)

var update = flag.Bool("update", false, "rewrite the golden result events in testdata/results")

// checkpointID matches the random ids the emulator gives checkpoints.
var checkpointID = regexp.MustCompile(`"id": "[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"(,\s*"project_id")`)

// generatedName matches the random names the emulator gives unnamed checkpoints.
var generatedName = regexp.MustCompile(`manualbk_[0-9a-f]{4}`)

// TestResultEventsGolden runs every sample trigger in testdata/events through
// the decoder and the function, against the emulator, and compares the result
// event with testdata/results/<name>.json.
func TestResultEventsGolden(t *testing.T) {
	emuNow := time.Date(2026, 11, 27, 10, 15, 0, 123_000_000, time.UTC)
	tests := []struct {
		file     string
		wantType string
	}{
		{"server-tagged.json", events.TypeCheckpointCreated},
		{"deploy-pre.json", events.TypeCheckpointCreated},
		{"checkpoint-requested.json", events.TypeCheckpointCreated},
		{"checkpoint-requested-inner.json", events.TypeCheckpointCreated},
		{"cts-create-tag.json", events.TypeCheckpointCreated},
		{"cts-create-tag-string.json", events.TypeCheckpointCreated},
		{"eventgrid-cts.json", events.TypeCheckpointCreated},
		{"eventbridge-deploy-pre.json", events.TypeCheckpointCreated},
		{"cts-delete-tag.json", events.TypeTriggerIgnored},
		{"cts-failed.json", events.TypeTriggerIgnored},
		{"deploy-pre-no-vault.json", events.TypeCheckpointFailed},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			payload, err := os.ReadFile(filepath.Join("..", "testdata", "events", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			tr, err := events.Decode(payload)
			if err != nil {
				t.Fatal(err)
			}
			e := newEnv(t, function.Config{
				VaultRoutes:  map[string]string{"monthly": cbrtest.ExampleVaultID, "daily": cbrtest.ExampleVaultID, "weekly": cbrtest.ExampleVaultID},
				PollInterval: time.Millisecond,
			}, cbrtest.Options{Now: func() time.Time { return emuNow }, AvailableAfter: -1},
				function.WithIDs(func() string { return "result-1" }))
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			res, err := e.fn.Handle(ctx, tr, nil)
			if err != nil {
				t.Fatal(err)
			}
			if res.Type != tc.wantType {
				t.Fatalf("type %q, want %q: %+v", res.Type, tc.wantType, res)
			}
			ev, err := res.Event("restorepoint", res.ID, fixedNow)
			if err != nil {
				t.Fatal(err)
			}
			got, err := json.MarshalIndent(ev, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = checkpointID.ReplaceAll(got, []byte(`"id": "<checkpoint-id>"$1`))
			got = generatedName.ReplaceAll(got, []byte("manualbk_<random>"))
			got = append(got, '\n')
			golden := filepath.Join("..", "testdata", "results", tc.file)
			if *update {
				if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./function -run Golden -update)", err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("result event differs from %s (go test ./function -run Golden -update to accept):\n%s", golden, got)
			}
		})
	}
}
