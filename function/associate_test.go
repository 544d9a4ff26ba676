package function_test

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/restorepoint/restorepoint/cbr"
	"github.com/restorepoint/restorepoint/cbr/cbrtest"
	"github.com/restorepoint/restorepoint/events"
	"github.com/restorepoint/restorepoint/failure"
	"github.com/restorepoint/restorepoint/function"
	"github.com/restorepoint/restorepoint/otc"
)

// Tests of CBR_ASSOCIATE against the emulator: its empty server vault, and
// the server and volume of its fixture that are in no vault.

// taggedInto is a server.tagged trigger for server into vault.
func taggedInto(id, server, name, vault string) events.Trigger {
	tr := tagged(id, map[string]string{"backup": "daily"})
	tr.ServerTagged.ServerID, tr.ServerTagged.ServerName, tr.ServerTagged.VaultID = server, name, vault
	return tr
}

// calls lists the emulator's requests as "METHOD last-path-segment(s)":
// "GET vaults", "POST addresources", "GET backups", "POST checkpoints".
func calls(srv *cbrtest.Server) []string {
	var out []string
	for _, r := range srv.Requests() {
		segs := strings.Split(strings.Trim(r.Path, "/"), "/")
		name := segs[len(segs)-1]
		if len(segs) > 1 && segs[len(segs)-2] == "vaults" {
			name = "vaults"
		}
		out = append(out, r.Method+" "+name)
	}
	return out
}

func associateEnv(t *testing.T) *env {
	return newEnv(t, function.Config{Associate: true}, cbrtest.Options{AvailableAfter: -1})
}

// TestAssociateTaggedServer: a server in no vault, tagged for the server
// vault, is associated (one vault read, one addresources) and backed up in
// the same trigger; the result says so, and a duplicate says it again.
func TestAssociateTaggedServer(t *testing.T) {
	e := associateEnv(t)
	tr := taggedInto("assoc-1", cbrtest.UnassociatedServerID, cbrtest.UnassociatedServerName, cbrtest.ServerVaultID)
	res := mustHandle(t, e.fn, tr)
	if res.Type != events.TypeCheckpointCreated {
		t.Fatalf("result %+v", res)
	}
	want := []events.ResourceRef{{ID: cbrtest.UnassociatedServerID, Type: otc.TypeServer, Name: cbrtest.UnassociatedServerName}}
	if !slices.Equal(res.Created.AssociatedResources, want) || len(res.Created.SkippedResources) != 0 {
		t.Errorf("associated %+v, skipped %+v", res.Created.AssociatedResources, res.Created.SkippedResources)
	}
	cps := checkpoints(t, res.Created)
	if len(cps) != 1 || len(cps[0].Vault.Resources) != 1 || cps[0].Vault.Resources[0].ID != cbrtest.UnassociatedServerID {
		t.Fatalf("checkpoints %+v, want the server backed up", cps)
	}
	if got, want := calls(e.srv), []string{"GET vaults", "POST addresources", "GET backups", "POST checkpoints"}; !slices.Equal(got, want) {
		t.Errorf("calls %v, want %v", got, want)
	}
	var data map[string]json.RawMessage
	enc, err := json.Marshal(res.Created)
	if err == nil {
		err = json.Unmarshal(enc, &data)
	}
	if err != nil || data["associated_resources"] == nil {
		t.Errorf("result JSON has no associated_resources: %v %s", err, enc)
	}

	dup := mustHandle(t, e.fn, tr)
	if !dup.Created.Duplicate || !slices.Equal(dup.Created.AssociatedResources, want) || dup.ID != res.ID {
		t.Errorf("duplicate %+v, want the same associated resources and id", dup.Created)
	}
}

// TestAssociateAlreadyAssociated: a server already in the vault costs one
// vault read and no addresources call, and the result has no
// associated_resources.
func TestAssociateAlreadyAssociated(t *testing.T) {
	e := associateEnv(t)
	res := mustHandle(t, e.fn, taggedInto("assoc-2", cbrtest.ExampleServerID, cbrtest.ExampleServerName, cbrtest.ExampleVaultID))
	if len(checkpoints(t, res.Created)) != 1 || res.Created.AssociatedResources != nil {
		t.Fatalf("result %+v", res.Created)
	}
	if got, want := calls(e.srv), []string{"GET vaults", "GET backups", "POST checkpoints"}; !slices.Equal(got, want) {
		t.Errorf("calls %v, want %v", got, want)
	}
	if enc, err := json.Marshal(res.Created); err != nil || strings.Contains(string(enc), "associated_resources") {
		t.Errorf("associated_resources in %s (%v)", enc, err)
	}
}

// TestAssociateFullVault: a full vault refuses the server with CBR's code
// and message; it ends in skipped_resources, nothing is created (a request
// without resources would back up the whole vault), and a duplicate answers
// the same from the record.
func TestAssociateFullVault(t *testing.T) {
	e := associateEnv(t)
	if err := e.srv.FillVault(cbrtest.ServerVaultID); err != nil {
		t.Fatal(err)
	}
	tr := taggedInto("assoc-3", cbrtest.UnassociatedServerID, cbrtest.UnassociatedServerName, cbrtest.ServerVaultID)
	res := mustHandle(t, e.fn, tr)
	if res.Type != events.TypeCheckpointCreated || len(res.Created.Checkpoints) != 0 || res.Created.AssociatedResources != nil {
		t.Fatalf("result %+v", res.Created)
	}
	skipped := res.Created.SkippedResources
	if len(skipped) != 1 || skipped[0].ID != cbrtest.UnassociatedServerID || skipped[0].Code != cbrtest.CodeVaultFull ||
		!strings.Contains(skipped[0].Reason, "capacity") || skipped[0].Type != otc.TypeServer {
		t.Fatalf("skipped %+v, want the server with %s and CBR's message", skipped, cbrtest.CodeVaultFull)
	}
	if got, want := calls(e.srv), []string{"GET vaults", "POST addresources"}; !slices.Equal(got, want) {
		t.Errorf("calls %v, want %v (no create)", got, want)
	}
	dup := mustHandle(t, e.fn, tr)
	if !dup.Created.Duplicate || !slices.Equal(dup.Created.SkippedResources, skipped) {
		t.Errorf("duplicate skipped %+v, want %+v", dup.Created.SkippedResources, skipped)
	}
}

// TestAssociateWrongType: a volume named for a server vault is not
// associated (no addresources call): it is skipped with the reason, and
// the server named with it is associated and backed up.
func TestAssociateWrongType(t *testing.T) {
	e := associateEnv(t)
	tr := deploy("assoc-4", events.DeployPre{Service: "shop", VaultID: cbrtest.ServerVaultID, Resources: []events.ResourceRef{
		{ID: cbrtest.UnassociatedVolumeID, Type: otc.TypeVolume, Name: cbrtest.UnassociatedVolumeName},
		{ID: cbrtest.UnassociatedServerID, Type: otc.TypeServer, Name: cbrtest.UnassociatedServerName},
	}})
	res := mustHandle(t, e.fn, tr)
	skipped := res.Created.SkippedResources
	if len(skipped) != 1 || skipped[0].ID != cbrtest.UnassociatedVolumeID || skipped[0].Code != "BackupService.6124" ||
		!strings.Contains(skipped[0].Reason, "holds server resources, not OS::Cinder::Volume") {
		t.Fatalf("skipped %+v", skipped)
	}
	if a := res.Created.AssociatedResources; len(a) != 1 || a[0].ID != cbrtest.UnassociatedServerID {
		t.Errorf("associated %+v", a)
	}
	reqs := e.srv.Requests()
	var add struct{ Resources []cbr.Resource }
	for _, r := range reqs {
		if strings.HasSuffix(r.Path, "/addresources") {
			if err := json.Unmarshal(r.Body, &add); err != nil {
				t.Fatal(err)
			}
		}
	}
	if len(add.Resources) != 1 || add.Resources[0].ID != cbrtest.UnassociatedServerID {
		t.Errorf("addresources asked for %+v, want the server only", add.Resources)
	}
	var body cbr.CreateCheckpointRequest
	if err := json.Unmarshal(reqs[len(reqs)-1].Body, &body); err != nil {
		t.Fatal(err)
	}
	if d := body.Checkpoint.Parameters.ResourceDetails; len(d) != 1 || d[0].ID != cbrtest.UnassociatedServerID {
		t.Errorf("create asked for %+v, want the server only", d)
	}
	if len(res.Created.Resources) != 2 {
		t.Errorf("resources asked for %+v, want both", res.Created.Resources)
	}
}

// TestAssociateRefusalsAreTheResourcesOwn: CBR associates all or none; when
// it refuses a list, each resource is asked for on its own, so that the
// one it cannot find is skipped with its own code and the other associated.
func TestAssociateRefusalsAreTheResourcesOwn(t *testing.T) {
	e := associateEnv(t)
	const missing = "0f0f0f0f-0000-4000-8000-00000000dead"
	tr := deploy("assoc-5", events.DeployPre{Service: "shop", VaultID: cbrtest.ExampleVaultID, Resources: []events.ResourceRef{
		{ID: missing, Type: otc.TypeVolume},
		{ID: cbrtest.UnassociatedServerID, Type: otc.TypeServer},
		{ID: cbrtest.DemoVolumeID, Type: otc.TypeVolume},         // already in the vault
		{ID: "1f1f1f1f-0000-4000-8000-00000000beef", Bare: true}, // no type: left to CBR
	}})
	res := mustHandle(t, e.fn, tr)
	if a := res.Created.AssociatedResources; len(a) != 1 || a[0].ID != cbrtest.UnassociatedServerID {
		t.Errorf("associated %+v", a)
	}
	skipped := res.Created.SkippedResources
	if len(skipped) != 2 || skipped[0].ID != missing || skipped[0].Code != cbrtest.CodeVolumeNotFound ||
		skipped[1].Code != cbrtest.CodeNotInVault {
		t.Fatalf("skipped %+v: want the missing volume (7000), then the bare id CBR skipped (6135)", skipped)
	}
	if got, want := calls(e.srv), []string{"GET vaults", "POST addresources", "POST addresources", "POST addresources", "GET backups", "POST checkpoints"}; !slices.Equal(got, want) {
		t.Errorf("calls %v, want %v", got, want)
	}
}

// TestAssociateFailures: what is not a refusal fails the trigger as it is:
// throttled addresources is retried later, an unknown vault is rejected.
// Without CBR_ASSOCIATE nothing is read or associated.
func TestAssociateFailures(t *testing.T) {
	e := associateEnv(t)
	e.srv.Inject(cbrtest.Fault{Method: http.MethodPost, Path: "/addresources", Status: http.StatusTooManyRequests, Times: -1})
	res, err := e.fn.Handle(context.Background(), taggedInto("assoc-6", cbrtest.UnassociatedServerID, "", cbrtest.ServerVaultID), nil)
	if err != nil || res.Failed == nil || res.Failed.Error.Class != failure.Throttled || !strings.Contains(res.Failed.Error.Message, "associate resources with vault") {
		t.Fatalf("throttled: %+v %v", res.Failed, err)
	}
	e.srv.ClearFaults()

	res, err = e.fn.Handle(context.Background(), taggedInto("assoc-7", cbrtest.UnassociatedServerID, "", "00000000-0000-4000-8000-000000000000"), nil)
	if err != nil || res.Failed == nil || res.Failed.Error.Class != failure.Rejected || res.Failed.Error.Code != cbrtest.CodeVaultNotFound {
		t.Fatalf("unknown vault: %+v %v", res.Failed, err)
	}

	off := newEnv(t, function.Config{}, cbrtest.Options{AvailableAfter: -1})
	res, err = off.fn.Handle(context.Background(), taggedInto("assoc-8", cbrtest.UnassociatedServerID, "", cbrtest.ServerVaultID), nil)
	if err != nil || res.Failed == nil || res.Failed.Error.Code != cbrtest.CodeNoResource {
		t.Fatalf("without CBR_ASSOCIATE: %+v %v, want CBR's refusal %s", res.Failed, err, cbrtest.CodeNoResource)
	}
	for _, c := range calls(off.srv) {
		if strings.Contains(c, "vaults") || strings.Contains(c, "addresources") {
			t.Errorf("without CBR_ASSOCIATE: call %s", c)
		}
	}
}

// TestAssociateNeedsVaultAPI: a CheckpointAPI without GetVault and
// AddResources fails an associating trigger as invalid, naming the setting.
func TestAssociateNeedsVaultAPI(t *testing.T) {
	fn := function.New(function.Config{Associate: true}, checkpointsOnly{})
	res, err := fn.Handle(context.Background(), taggedInto("assoc-9", cbrtest.UnassociatedServerID, "", cbrtest.ServerVaultID), nil)
	if err != nil || res.Failed == nil || res.Failed.Error.Class != failure.Invalid || !strings.Contains(res.Failed.Error.Message, "CBR_ASSOCIATE") {
		t.Fatalf("%+v %v", res.Failed, err)
	}
}

// checkpointsOnly is a CheckpointAPI that is no VaultAPI; it is never
// called (association comes first).
type checkpointsOnly struct{}

func (checkpointsOnly) CreateCheckpoint(context.Context, cbr.VaultBackup) (*cbr.CheckpointCreate, error) {
	panic("not called")
}
func (checkpointsOnly) GetCheckpoint(context.Context, string) (*cbr.CheckpointCreate, error) {
	panic("not called")
}
func (checkpointsOnly) ListBackups(context.Context, cbr.BackupQuery) (*cbr.BackupList, error) {
	panic("not called")
}
