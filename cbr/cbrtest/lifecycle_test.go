package cbrtest

import (
	"encoding/json"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/restorepoint/restorepoint/cbr"
	"github.com/restorepoint/restorepoint/otc"
)

// listBackups lists backups over HTTP with the default token; query is the
// raw query string.
func listBackups(t *testing.T, s *Server, query string) cbr.BackupList {
	t.Helper()
	a := call(t, s, http.MethodGet, "/v3/"+DefaultProjectID+"/backups?"+query, DefaultToken, "")
	if a.status != http.StatusOK {
		t.Fatalf("list %s: status %d, body %s", query, a.status, a.body)
	}
	var list cbr.BackupList
	if err := json.Unmarshal(a.body, &list); err != nil {
		t.Fatalf("decode %s: %v", a.body, err)
	}
	return list
}

// showVault reads a vault over HTTP with the default token.
func showVault(t *testing.T, s *Server, id string) vaultInfo {
	t.Helper()
	a := call(t, s, http.MethodGet, "/v3/"+DefaultProjectID+"/vaults/"+id, DefaultToken, "")
	if a.status != http.StatusOK {
		t.Fatalf("vault %s: status %d, body %s", id, a.status, a.body)
	}
	var resp vaultResponse
	if err := json.Unmarshal(a.body, &resp); err != nil {
		t.Fatalf("decode %s: %v", a.body, err)
	}
	return resp.Vault
}

// protectStatusIn returns the protect_status of resource id in v, "" when v
// does not hold it.
func protectStatusIn(v vaultInfo, id string) string {
	for _, r := range v.Resources {
		if r.ID == id {
			return r.ProtectStatus
		}
	}
	return ""
}

// The checkpoint's status, each resource's protect_status in GET checkpoint,
// each backup's status in the list and the resource's protect_status in its
// vault tell one story, for a resource that fails and one that does not.
func TestLifecycleIsConsistent(t *testing.T) {
	both := `{"checkpoint":{"vault_id":"` + ExampleVaultID + `","parameters":{"resources":["` +
		ExampleServerID + `","` + DemoServerID + `"]}}}`
	tests := []struct {
		name     string
		fail     bool
		before   string // everything, before AvailableAfter
		after    string // the checkpoint after it
		server   string // the failing candidate, ExampleServerID, after it
		other    string // DemoServerID after it
		inVault  string // ExampleServerID in the vault after it
		override string // SetBackupStatus after AvailableAfter, "" for none
	}{
		{"all succeed", false, cbr.StatusProtecting, cbr.StatusAvailable, cbr.StatusAvailable, cbr.StatusAvailable, cbr.StatusAvailable, ""},
		{"one fails", true, cbr.StatusProtecting, cbr.StatusError, cbr.StatusError, cbr.StatusAvailable, cbr.StatusError, ""},
		{"set to error", false, cbr.StatusProtecting, cbr.StatusError, cbr.StatusError, cbr.StatusError, cbr.StatusError, cbr.StatusError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newClock()
			s := start(t, Options{Now: clk.Now, AvailableAfter: time.Minute})
			if tt.fail {
				if err := s.FailResource(ExampleServerID); err != nil {
					t.Fatal(err)
				}
			}
			created := checkpointOf(t, create(t, s, both))
			check := func(when, cpWant string, want map[string]string, inVault string) {
				t.Helper()
				cp := checkpointOf(t, get(t, s, created.ID))
				if cp.Status != cpWant {
					t.Errorf("%s: checkpoint %q, want %q", when, cp.Status, cpWant)
				}
				for _, r := range cp.Vault.Resources {
					if r.ProtectStatus != want[r.ID] {
						t.Errorf("%s: %s protect_status %q, want %q", when, r.Name, r.ProtectStatus, want[r.ID])
					}
				}
				list := listBackups(t, s, "checkpoint_id="+created.ID)
				if list.Count != 2 {
					t.Fatalf("%s: %d backups, want 2", when, list.Count)
				}
				for _, b := range list.Backups {
					if b.Status != want[b.ResourceID] {
						t.Errorf("%s: backup of %s %q, want %q", when, b.ResourceName, b.Status, want[b.ResourceID])
					}
				}
				if got := protectStatusIn(showVault(t, s, ExampleVaultID), ExampleServerID); got != inVault {
					t.Errorf("%s: server in its vault %q, want %q", when, got, inVault)
				}
			}
			check("at once", tt.before, map[string]string{ExampleServerID: tt.before, DemoServerID: tt.before}, tt.before)
			clk.Advance(time.Minute)
			if tt.override != "" && !s.SetBackupStatus(created.ID, tt.override) {
				t.Fatal("SetBackupStatus found no backup")
			}
			check("after", tt.after, map[string]string{ExampleServerID: tt.server, DemoServerID: tt.other}, tt.inVault)
			if cp, _ := s.Checkpoint(created.ID); cp.Status != tt.after {
				t.Errorf("Checkpoint(): %q, want %q", cp.Status, tt.after)
			}
			// The status filter sees the same statuses.
			if n := listBackups(t, s, "status="+tt.server+"&resource_id="+ExampleServerID).Count; n != 1 {
				t.Errorf("status=%s: %d backups of the server, want 1", tt.server, n)
			}
		})
	}
}

// FailResource affects the checkpoints created afterwards only; a failed
// resource can be backed up again at once; RepairResource ends it.
func TestFailResource(t *testing.T) {
	clk := newClock()
	s := start(t, Options{Now: clk.Now, AvailableAfter: time.Minute})
	before := checkpointOf(t, create(t, s, pageRequest))
	if err := s.FailResource(ExampleServerID); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Minute)
	failed := checkpointOf(t, create(t, s, pageRequest))
	clk.Advance(time.Minute)
	for _, c := range []struct {
		id, want string
	}{{before.ID, cbr.StatusAvailable}, {failed.ID, cbr.StatusError}} {
		if cp := checkpointOf(t, get(t, s, c.id)); cp.Status != c.want {
			t.Errorf("checkpoint %s: %q, want %q", c.id, cp.Status, c.want)
		}
	}
	if err := s.RepairResource(ExampleServerID); err != nil {
		t.Fatal(err)
	}
	again := checkpointOf(t, create(t, s, pageRequest))
	if len(again.Vault.Resources) != 1 {
		t.Fatalf("after an error the server is backed up again: skipped %+v", again.Vault.SkippedResources)
	}
	clk.Advance(time.Minute)
	if cp := checkpointOf(t, get(t, s, again.ID)); cp.Status != cbr.StatusAvailable {
		t.Errorf("after RepairResource: %q, want available", cp.Status)
	}
	for _, err := range []error{s.FailResource("no-such-resource"), s.RepairResource("no-such-resource")} {
		if err == nil {
			t.Error("an unknown resource: no error")
		}
	}
	// Reset brings back the fixture's setting.
	if err := s.FailResource(ExampleServerID); err != nil {
		t.Fatal(err)
	}
	s.Reset()
	cp := checkpointOf(t, create(t, s, pageRequest))
	clk.Advance(time.Minute)
	if cp, _ := s.Checkpoint(cp.ID); cp.Status != cbr.StatusAvailable {
		t.Errorf("after Reset: %q, want available", cp.Status)
	}
}

// A fixture resource with "fail": true fails from the start, also with
// AvailableAfter < 0 (error from the first read).
func TestFixtureFail(t *testing.T) {
	fx := Fixture{Vaults: []FixtureVault{{ID: "v", Name: "v", Resources: []FixtureResource{
		{ID: "ok", Type: otc.TypeVolume}, {ID: "bad", Type: otc.TypeVolume, Fail: true},
	}}}}
	s := start(t, Options{Fixture: &fx, AvailableAfter: -1})
	created := checkpointOf(t, create(t, s, `{"checkpoint":{"vault_id":"v"}}`))
	if created.Status != cbr.StatusProtecting {
		t.Errorf("create answered %q, want protecting", created.Status)
	}
	cp := checkpointOf(t, get(t, s, created.ID))
	if cp.Status != cbr.StatusError || cp.Vault.Resources[0].ProtectStatus != cbr.StatusAvailable ||
		cp.Vault.Resources[1].ProtectStatus != cbr.StatusError {
		t.Errorf("checkpoint %q, resources %+v; want error, ok available, bad error", cp.Status, cp.Vault.Resources)
	}
	list := listBackups(t, s, "status=error")
	if list.Count != 1 || list.Backups[0].ResourceID != "bad" || !list.Backups[0].Gone() {
		t.Errorf("backups in error: %+v", list)
	}
}

// A checkpoint that backed up nothing (every resource busy) has no backups:
// it turns available after AvailableAfter, as before.
func TestCheckpointWithoutBackups(t *testing.T) {
	clk := newClock()
	s := start(t, Options{Now: clk.Now, AvailableAfter: time.Minute})
	checkpointOf(t, create(t, s, pageRequest))
	empty := checkpointOf(t, create(t, s, pageRequest))
	if len(empty.Vault.Resources) != 0 || len(empty.Vault.SkippedResources) != 1 {
		t.Fatalf("second create: %+v, want the server skipped as busy", empty.Vault)
	}
	if cp := checkpointOf(t, get(t, s, empty.ID)); cp.Status != cbr.StatusProtecting {
		t.Errorf("at once: %q", cp.Status)
	}
	clk.Advance(time.Minute)
	if cp := checkpointOf(t, get(t, s, empty.ID)); cp.Status != cbr.StatusAvailable {
		t.Errorf("after AvailableAfter: %q", cp.Status)
	}
	if n := listBackups(t, s, "checkpoint_id="+url.QueryEscape(empty.ID)).Count; n != 0 {
		t.Errorf("%d backups of the empty checkpoint", n)
	}
}
