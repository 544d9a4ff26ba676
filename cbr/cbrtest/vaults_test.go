package cbrtest

import (
	"encoding/json"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/restorepoint/restorepoint/cbr"
	"github.com/restorepoint/restorepoint/otc"
)

// vaultPath is the path of vault id in the default project.
func vaultPath(id string) string { return "/v3/" + DefaultProjectID + "/vaults/" + id }

// addResources posts an addresources body to vault id with the default token.
func addResources(t *testing.T, s *Server, id, body string) answer {
	t.Helper()
	return call(t, s, http.MethodPost, vaultPath(id)+"/addresources", DefaultToken, body)
}

// resourcesBody returns an addresources body of resources given as id, type
// pairs.
func resourcesBody(idTypes ...string) string {
	var list []map[string]string
	for i := 0; i+1 < len(idTypes); i += 2 {
		list = append(list, map[string]string{"id": idTypes[i], "type": idTypes[i+1], "name": "n"})
	}
	b, _ := json.Marshal(map[string]any{"resources": list})
	return string(b)
}

// addedIDs decodes a 200 addresources answer.
func addedIDs(t *testing.T, a answer) []string {
	t.Helper()
	if a.status != http.StatusOK {
		t.Fatalf("addresources: status %d, body %s", a.status, a.body)
	}
	var resp struct {
		IDs *[]string `json:"add_resource_ids"`
	}
	if err := json.Unmarshal(a.body, &resp); err != nil || resp.IDs == nil {
		t.Fatalf("addresources answer %s: %v", a.body, err)
	}
	return *resp.IDs
}

func TestShowVault(t *testing.T) {
	s := start(t, Options{})
	a := call(t, s, http.MethodGet, vaultPath(ServerVaultID), DefaultToken, "")
	if a.status != http.StatusOK {
		t.Fatalf("status %d, body %s", a.status, a.body)
	}
	var got map[string]any
	if err := json.Unmarshal(a.body, &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"vault": map[string]any{
		"id": ServerVaultID, "name": ServerVaultName, "project_id": DefaultProjectID, "resources": []any{},
		"billing": map[string]any{"allocated": float64(ServerVaultSizeGB), "used": 0.0, "status": "available", "object_type": "server"},
	}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("answer %s\nwant %v", a.body, want)
	}

	v := showVault(t, s, ExampleVaultID)
	var ids []string
	for _, r := range v.Resources {
		ids = append(ids, r.ID)
		if r.Type == "" || r.Name == "" || r.ProtectStatus != cbr.StatusAvailable {
			t.Errorf("resource %+v", r)
		}
	}
	if want := []string{ExampleServerID, DemoServerID, DemoVolumeID, DemoDataVolumeID}; !slices.Equal(ids, want) {
		t.Errorf("resources %v, want %v", ids, want)
	}
	if v.Billing.ObjectType != "" || v.Billing.Allocated != DefaultVaultSizeGB {
		t.Errorf("a vault of no type: billing %+v, want no object_type and %d GB", v.Billing, DefaultVaultSizeGB)
	}

	for _, tt := range []struct {
		name, method, path, token string
		status                    int
		code                      string
	}{
		{"unknown vault", http.MethodGet, vaultPath("no-such-vault"), DefaultToken, 404, CodeVaultNotFound},
		{"no token", http.MethodGet, vaultPath(ServerVaultID), "", 401, "keystone:401"},
		{"other project", http.MethodGet, "/v3/0123456789abcdef0123456789abcdef/vaults/" + ServerVaultID, DefaultToken, 403, CodeForbidden},
		{"DELETE vault", http.MethodDelete, vaultPath(ServerVaultID), DefaultToken, 405, "keystone:405"},
		{"list vaults", http.MethodGet, "/v3/" + DefaultProjectID + "/vaults", DefaultToken, 404, "keystone:404"},
		{"GET addresources", http.MethodGet, vaultPath(ServerVaultID) + "/addresources", DefaultToken, 405, "keystone:405"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a := call(t, s, tt.method, tt.path, tt.token, "")
			if code, _ := errorOf(t, a.body); a.status != tt.status || code != tt.code {
				t.Errorf("%d %s, want %d %s", a.status, a.body, tt.status, tt.code)
			}
		})
	}
}

// A server outside any vault is skipped with BackupService.6135; once
// associated it is backed up, and the vault lists it. Associating it again
// is no error and lists it again; Reset undoes the association.
func TestAssociateThenBackUp(t *testing.T) {
	s := start(t, Options{AvailableAfter: -1})
	backUp := `{"checkpoint":{"vault_id":"` + ServerVaultID + `","parameters":{"resources":["` + UnassociatedServerID + `"]}}}`
	if a := create(t, s, backUp); a.status != http.StatusBadRequest {
		t.Fatalf("before associating: status %d, want 400 (nothing in the vault)", a.status)
	}
	mixed := checkpointOf(t, create(t, s, `{"checkpoint":{"vault_id":"`+ExampleVaultID+`","parameters":{"resources":["`+
		ExampleServerID+`","`+UnassociatedServerID+`"]}}}`))
	if sk := mixed.Vault.SkippedResources; len(sk) != 1 || sk[0].ID != UnassociatedServerID || sk[0].Code != CodeNotInVault {
		t.Errorf("skipped %+v, want the unassociated server with %s", sk, CodeNotInVault)
	}

	body := resourcesBody(UnassociatedServerID, otc.TypeServer, UnassociatedServerID, otc.TypeServer)
	if got := addedIDs(t, addResources(t, s, ServerVaultID, body)); !slices.Equal(got, []string{UnassociatedServerID}) {
		t.Errorf("add_resource_ids %v, want the server once", got)
	}
	v := showVault(t, s, ServerVaultID)
	if len(v.Resources) != 1 || v.Resources[0] != (vaultResource{ID: UnassociatedServerID, Type: otc.TypeServer,
		Name: UnassociatedServerName, ProtectStatus: cbr.StatusAvailable}) {
		t.Errorf("vault resources %+v, want the server with the cloud's name", v.Resources)
	}
	cp := checkpointOf(t, create(t, s, backUp))
	if got := resourceIDs(cp); !slices.Equal(got, []string{UnassociatedServerID}) || len(cp.Vault.SkippedResources) != 0 {
		t.Errorf("after associating: backed up %v, skipped %+v", got, cp.Vault.SkippedResources)
	}
	if got := addedIDs(t, addResources(t, s, ServerVaultID, body)); !slices.Equal(got, []string{UnassociatedServerID}) {
		t.Errorf("associating again: add_resource_ids %v, want the server", got)
	}
	if n := len(showVault(t, s, ServerVaultID).Resources); n != 1 {
		t.Errorf("associating again: %d resources, want 1", n)
	}

	// A volume into a vault of no type, which holds every type.
	if got := addedIDs(t, addResources(t, s, ExampleVaultID, resourcesBody(UnassociatedVolumeID, otc.TypeVolume))); len(got) != 1 {
		t.Errorf("volume into the example vault: %v", got)
	}
	if ids := showVault(t, s, ExampleVaultID).Resources; ids[len(ids)-1].ID != UnassociatedVolumeID {
		t.Errorf("the volume is not last in the vault: %+v", ids)
	}

	s.Reset()
	if n := len(showVault(t, s, ServerVaultID).Resources); n != 0 {
		t.Errorf("after Reset: %d resources in the server vault, want 0", n)
	}
}

func TestAddResourcesErrors(t *testing.T) {
	fx := DefaultFixture()
	fx.Vaults = append(fx.Vaults,
		FixtureVault{ID: "disks", Name: "vault-disks", Type: VaultTypeDisk},
		FixtureVault{ID: "turbos", Name: "vault-turbo", Type: VaultTypeTurbo},
		FixtureVault{ID: "full", Name: "vault-full", SizeGB: 10, UsedGB: 10},
	)
	many := make([]string, 0, 2*(otc.MaxResources+1))
	for range otc.MaxResources + 1 {
		many = append(many, UnassociatedServerID, otc.TypeServer)
	}
	tests := []struct {
		name, vault, body string
		status            int
		code, inMsg       string
	}{
		{"invalid JSON", ServerVaultID, `{"resources":`, 400, CodeInvalidParameter, "Invalid request body"},
		{"not an object", ServerVaultID, `[]`, 400, CodeInvalidParameter, "Invalid request body"},
		{"no resources", ServerVaultID, `{}`, 400, CodeInvalidParameter, "resources is required"},
		{"null resources", ServerVaultID, `{"resources":null}`, 400, CodeInvalidParameter, "resources is required"},
		{"empty resources", ServerVaultID, `{"resources":[]}`, 400, CodeInvalidParameter, "0 resources, 1 to 256"},
		{"too many", ServerVaultID, resourcesBody(many...), 400, CodeInvalidParameter, "257 resources"},
		{"no id", ServerVaultID, `{"resources":[{"type":"OS::Nova::Server"}]}`, 400, CodeInvalidParameter, "resources[0].id"},
		{"bad type", ServerVaultID, resourcesBody(UnassociatedServerID, "OS::Nova::Flavor"), 400, CodeInvalidParameter, "resources[0].type"},
		{"name too long", ServerVaultID, `{"resources":[{"id":"x","type":"OS::Nova::Server","name":"` + strings.Repeat("n", 256) + `"}]}`, 400, CodeInvalidParameter, "resources[0].name"},
		{"extra_info not an object", ServerVaultID, `{"resources":[{"id":"x","type":"OS::Nova::Server","extra_info":"x"}]}`, 400, CodeInvalidParameter, "Invalid request body"},
		{"body too large", ServerVaultID, strings.Repeat(" ", MaxBodyBytes+1), 413, CodeInvalidParameter, "exceeds"},
		{"unknown vault", "no-such-vault", resourcesBody(UnassociatedServerID, otc.TypeServer), 404, CodeVaultNotFound, "Vault does not exist."},
		{"volume into a server vault", ServerVaultID, resourcesBody(UnassociatedVolumeID, otc.TypeVolume), 400, CodeVaultType, "resources[0] is OS::Cinder::Volume"},
		{"server into a disk vault", "disks", resourcesBody(UnassociatedServerID, otc.TypeServer), 400, CodeVaultType, "holds disk"},
		{"second one of the wrong type", ServerVaultID, resourcesBody(UnassociatedServerID, otc.TypeServer, UnassociatedVolumeID, otc.TypeVolume), 400, CodeVaultType, "resources[1]"},
		{"unknown server", ServerVaultID, resourcesBody("0badc0de-0000-4000-8000-000000000000", otc.TypeServer), 404, CodeServerNotFound, "server"},
		{"unknown volume", "disks", resourcesBody("0badc0de-0000-4000-8000-000000000000", otc.TypeVolume), 404, CodeVolumeNotFound, "disk"},
		{"unknown file system", "turbos", resourcesBody("0badc0de-0000-4000-8000-000000000000", otc.TypeSFSTurbo), 404, CodeResourceNotFound, "resource"},
		{"a volume called a server", ServerVaultID, resourcesBody(UnassociatedVolumeID, otc.TypeServer), 404, CodeServerNotFound, UnassociatedVolumeID},
		{"in another vault", ServerVaultID, resourcesBody(ExampleServerID, otc.TypeServer), 400, CodeInOtherVault, "another vault"},
		{"full vault", "full", resourcesBody(UnassociatedServerID, otc.TypeServer), 400, CodeVaultFull, "capacity"},
	}
	s := start(t, Options{Fixture: &fx})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := addResources(t, s, tt.vault, tt.body)
			if a.status != tt.status {
				t.Fatalf("status %d, want %d; body %.300s", a.status, tt.status, a.body)
			}
			code, msg := errorOf(t, a.body)
			if code != tt.code || !strings.Contains(msg, tt.inMsg) {
				t.Errorf("error %s %q, want %s with %q", code, msg, tt.code, tt.inMsg)
			}
		})
	}
	// Nothing was associated, not even the first of a refused list.
	if n := len(showVault(t, s, ServerVaultID).Resources); n != 0 {
		t.Errorf("%d resources in the server vault after errors only", n)
	}
}

// A full vault refuses checkpoints and resources with BackupService.6114
// and reports its used capacity; SetVaultUsed makes room again.
func TestFullVault(t *testing.T) {
	s := start(t, Options{AvailableAfter: -1})
	if err := s.FillVault(ServerVaultID); err != nil {
		t.Fatal(err)
	}
	if b := showVault(t, s, ServerVaultID).Billing; b.Used != ServerVaultSizeGB || b.Allocated != ServerVaultSizeGB {
		t.Errorf("billing %+v, want used = allocated = %d", b, ServerVaultSizeGB)
	}
	a := addResources(t, s, ServerVaultID, resourcesBody(UnassociatedServerID, otc.TypeServer))
	if code, _ := errorOf(t, a.body); a.status != 400 || code != CodeVaultFull {
		t.Errorf("addresources to a full vault: %d %s", a.status, a.body)
	}
	if err := s.FillVault(ExampleVaultID); err != nil {
		t.Fatal(err)
	}
	a = create(t, s, pageRequest)
	if code, msg := errorOf(t, a.body); a.status != 400 || code != CodeVaultFull || msg != msgVaultFull {
		t.Errorf("checkpoint in a full vault: %d %s", a.status, a.body)
	}

	if err := s.SetVaultUsed(ExampleVaultID, DefaultVaultSizeGB-1); err != nil {
		t.Fatal(err)
	}
	checkpointOf(t, create(t, s, pageRequest))
	if b := showVault(t, s, ExampleVaultID).Billing; b.Used != DefaultVaultSizeGB-1 {
		t.Errorf("used %d, want %d", b.Used, DefaultVaultSizeGB-1)
	}
	for _, err := range []error{
		s.FillVault("no-such-vault"), s.SetVaultUsed("no-such-vault", 0),
		s.SetVaultUsed(ServerVaultID, -1), s.SetVaultUsed(ServerVaultID, ServerVaultSizeGB+1),
	} {
		if err == nil {
			t.Error("no error")
		}
	}
	s.Reset()
	if b := showVault(t, s, ServerVaultID).Billing; b.Used != 0 {
		t.Errorf("after Reset: used %d, want the fixture's 0", b.Used)
	}
}

// A resource's protect_status in its vault follows its newest backup.
func TestVaultProtectStatusFollowsNewestBackup(t *testing.T) {
	clk := newClock()
	s := start(t, Options{Now: clk.Now, AvailableAfter: 10 * time.Minute})
	checkpointOf(t, create(t, s, pageRequest))
	v := showVault(t, s, ExampleVaultID)
	if got := protectStatusIn(v, ExampleServerID); got != cbr.StatusProtecting {
		t.Errorf("server %q, want protecting", got)
	}
	if got := protectStatusIn(v, DemoServerID); got != cbr.StatusAvailable {
		t.Errorf("a server never backed up: %q, want available", got)
	}
}
