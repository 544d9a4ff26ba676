package function_test

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/restorepoint/restorepoint/cbr"
	"github.com/restorepoint/restorepoint/cbr/cbrtest"
	"github.com/restorepoint/restorepoint/events"
	"github.com/restorepoint/restorepoint/failure"
	"github.com/restorepoint/restorepoint/function"
	"github.com/restorepoint/restorepoint/iam"
	"github.com/restorepoint/restorepoint/otc"
)

// instance is another Function (its own memory store) on e's emulator.
func (e *env) instance(t *testing.T, cfg function.Config) *function.Function {
	t.Helper()
	client, err := cbr.New(e.srv.URL, cbrtest.DefaultProjectID, iam.TokenAuthorizer{Source: iam.NewStatic(cbrtest.DefaultToken)},
		cbr.WithBackoff(time.Millisecond, 5*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	return function.New(cfg, client, function.WithClock(func() time.Time { return fixedNow }))
}

// A redelivery reaching another instance finds the restore point in CBR and
// answers as a duplicate under the same result id, creating nothing.
func TestLookupAcrossInstances(t *testing.T) {
	e := newEnv(t, function.Config{}, cbrtestOptions())
	tr := tagged("across", map[string]string{"backup-vault": exampleVault})
	first := mustHandle(t, e.fn, tr)
	second := mustHandle(t, e.instance(t, function.Config{}), tr)
	if first.Created == nil || first.Created.Duplicate || second.Created == nil || !second.Created.Duplicate {
		t.Fatalf("first %+v, second %+v; want created, then a duplicate", first.Created, second.Created)
	}
	if first.ID != second.ID || first.ID != function.ResultID(tr.Ref.Digest(), events.TypeCheckpointCreated) {
		t.Errorf("result ids %s and %s, want both ResultID", first.ID, second.ID)
	}
	if first.Created.Checkpoints[0].ID != second.Created.Checkpoints[0].ID {
		t.Errorf("checkpoints %s and %s differ", first.Created.Checkpoints[0].ID, second.Created.Checkpoints[0].ID)
	}
	if n := e.srv.CountCreates(); n != 1 {
		t.Fatalf("creates = %d, want 1", n)
	}
	// With CBR_DEDUPE=off the other instance creates again.
	mustHandle(t, e.instance(t, function.Config{Dedupe: function.DedupeOff}), tr)
	if n := e.srv.CountCreates(); n != 2 {
		t.Fatalf("creates = %d, want 2 with the lookup off", n)
	}
}

// After the record expired, the lookup still finds the restore point.
func TestLookupAfterRecordExpired(t *testing.T) {
	clk := &clock{now: fixedNow}
	e := newEnv(t, function.Config{IdempotencyTTL: time.Minute}, cbrtestOptions(), function.WithClock(clk.Now))
	tr := tagged("expired", map[string]string{"backup-vault": exampleVault})
	mustHandle(t, e.fn, tr)
	clk.Advance(2 * time.Minute)
	if res := mustHandle(t, e.fn, tr); res.Created == nil || !res.Created.Duplicate {
		t.Fatalf("after the TTL: %+v, want a duplicate found in CBR", res.Created)
	}
	if n := e.srv.CountCreates(); n != 1 {
		t.Fatalf("creates = %d, want 1", n)
	}
}

// A backup with the name but without the key's marker is not ours, and one
// in error, deleting or deleted does not count as made.
func TestLookupConfirmsMarkerAndStatus(t *testing.T) {
	e := newEnv(t, function.Config{}, cbrtestOptions())
	tr := deploy("named", events.DeployPre{Service: "shop", VaultID: exampleVault, Name: "release-42",
		Resources: []events.ResourceRef{{ID: cbrtest.ExampleServerID, Bare: true}}})
	client, _ := cbr.New(e.srv.URL, cbrtest.DefaultProjectID, iam.TokenAuthorizer{Source: iam.NewStatic(cbrtest.DefaultToken)})
	foreign, err := client.CreateCheckpoint(context.Background(), cbr.VaultBackup{VaultID: exampleVault,
		Parameters: &cbr.CheckpointParam{Name: "release-42", Description: "made by hand"}})
	if err != nil {
		t.Fatal(err)
	}
	res := mustHandle(t, e.fn, tr)
	if res.Created == nil || res.Created.Duplicate || res.Created.Checkpoints[0].ID == foreign.ID {
		t.Fatalf("result %+v: took the backup without the marker", res.Created)
	}
	for _, status := range []string{cbr.BackupStatusError, cbr.BackupStatusDeleting, cbr.BackupStatusDeleted} {
		e.srv.SetBackupStatus(res.Created.Checkpoints[0].ID, status)
		again := mustHandle(t, e.instance(t, function.Config{}), tr)
		if again.Created == nil || again.Created.Duplicate {
			t.Fatalf("backup %s: %+v, want a new restore point", status, again.Created)
		}
		res = again
	}
	if n := e.srv.CountCreates(); n != 5 {
		t.Fatalf("creates = %d, want 5", n)
	}
}

// A create whose answer is lost is looked up before it is retried, whatever
// CBR_DEDUPE says: one restore point, reported as created.
func TestAnswerLostLooksUpBeforeRetrying(t *testing.T) {
	for _, mode := range []string{function.DedupeLookup, function.DedupeOff} {
		t.Run(mode, func(t *testing.T) {
			e := newEnv(t, function.Config{Dedupe: mode}, cbrtest.Options{AvailableAfter: time.Minute})
			e.srv.Inject(cbrtest.Fault{Method: http.MethodPost, Path: "/checkpoints", ResetMidResponse: true})
			res := mustHandle(t, e.fn, tagged("lost", map[string]string{"backup-vault": exampleVault}))
			if res.Created == nil || res.Created.Duplicate || len(res.Created.SkippedResources) != 0 {
				t.Fatalf("result %+v %+v, want created, nothing skipped", res.Created, res.Failed)
			}
			cps := e.srv.Checkpoints()
			if n := e.srv.CountCreates(); n != 1 || len(cps) != 1 || res.Created.Checkpoints[0].ID != cps[0].ID {
				t.Fatalf("creates = %d, checkpoints %d; want the one", n, len(cps))
			}
		})
	}
}

// A lost answer whose lookup fails too ends the trigger retryably: never a
// blind create. The redelivery finds the restore point.
func TestAnswerLostLookupFails(t *testing.T) {
	e := newEnv(t, function.Config{}, cbrtestOptions())
	tr := tagged("lost-lookup", map[string]string{"backup-vault": exampleVault})
	e.srv.Inject(cbrtest.Fault{Method: http.MethodPost, Path: "/checkpoints", ResetMidResponse: true})
	e.srv.Inject(cbrtest.Fault{Method: http.MethodGet, Path: "/backups", Status: 500, Times: -1, After: 1})
	res := mustHandle(t, e.fn, tr)
	if res.Failed == nil || !res.Failed.Error.Retryable || res.Failed.Error.Class != failure.Unavailable {
		t.Fatalf("result %+v, want a retryable failure", res)
	}
	if n := e.srv.CountCreates(); n != 1 {
		t.Fatalf("creates = %d, want 1", n)
	}
	e.srv.ClearFaults()
	if res := mustHandle(t, e.fn, tr); res.Created == nil || !res.Created.Duplicate {
		t.Fatalf("redelivery: %+v, want the restore point found", res)
	}
	if n := e.srv.CountCreates(); n != 1 {
		t.Fatalf("creates = %d, want 1", n)
	}
}

// The lookup before creating that fails (after the client's retries) fails
// the trigger retryably without creating.
func TestLookupFailsNoCreate(t *testing.T) {
	e := newEnv(t, function.Config{}, cbrtestOptions())
	e.srv.Inject(cbrtest.Fault{Method: http.MethodGet, Path: "/backups", Status: 503, Times: -1})
	res := mustHandle(t, e.fn, tagged("down", map[string]string{"backup-vault": exampleVault}))
	if res.Failed == nil || !res.Failed.Error.Retryable || !strings.Contains(res.Failed.Error.Message, "look up") {
		t.Fatalf("result %+v, want a retryable lookup failure", res.Failed)
	}
	if n := e.srv.CountCreates(); n != 0 {
		t.Fatalf("creates = %d, want 0", n)
	}
}

// A split trigger names its parts -p1, -p2, …; a retry on another instance
// makes only the parts that are missing.
func TestLookupSplitTriggerMakesMissingParts(t *testing.T) {
	fixture := cbrtest.Fixture{Vaults: []cbrtest.FixtureVault{{ID: exampleVault, Name: "big", RetentionDuration: -1}}}
	var refs []events.ResourceRef
	for i := range 600 {
		id := fmt.Sprintf("00000000-0000-4000-8000-%012d", i)
		fixture.Vaults[0].Resources = append(fixture.Vaults[0].Resources, cbrtest.FixtureResource{ID: id, Type: otc.TypeVolume, SizeGB: 1})
		refs = append(refs, events.ResourceRef{ID: id, Bare: true})
	}
	e := newEnv(t, function.Config{}, cbrtest.Options{Fixture: &fixture, AvailableAfter: -1})
	e.srv.Inject(cbrtest.Fault{Method: http.MethodPost, Path: "/checkpoints", Status: 400, After: 1})
	tr := deploy("split", events.DeployPre{Service: "shop", VaultID: exampleVault, Resources: refs})
	if res := mustHandle(t, e.fn, tr); res.Failed == nil {
		t.Fatalf("first attempt: %+v, want failed at the second part", res)
	}
	res := mustHandle(t, e.instance(t, function.Config{}), tr)
	if res.Created == nil || len(res.Created.Checkpoints) != 3 || res.Created.Duplicate {
		t.Fatalf("retry elsewhere: %+v", res)
	}
	if n := e.srv.CountCreates(); n != 3 {
		t.Fatalf("creates = %d, want 3 (part 1 found, parts 2 and 3 made)", n)
	}
	name := regexp.MustCompile(`^pre-deploy-shop-[0-9a-f]{10}-p[1-3]$`)
	for _, b := range e.srv.Backups() {
		if !name.MatchString(b.Name) || !strings.HasSuffix(b.Description, function.KeyMarker(tr.Ref.Digest())) {
			t.Fatalf("backup %q %q: want a part name and the marker", b.Name, b.Description)
		}
	}
}
