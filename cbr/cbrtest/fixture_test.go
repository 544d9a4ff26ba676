package cbrtest

import (
	"bytes"
	"encoding/json"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/restorepoint/restorepoint/cbr"
	"github.com/restorepoint/restorepoint/otc"
)

func TestLoadFixture(t *testing.T) {
	fx, err := LoadFixture("testdata/fixture.json")
	if err != nil {
		t.Fatal(err)
	}
	s := start(t, Options{Fixture: &fx})
	fx.Vaults[0].Name = "changed" // the emulator keeps its own copy

	const vault = "0f1e2d3c-4b5a-4697-8877-665544332211"
	cp := checkpointOf(t, create(t, s, `{"checkpoint":{"vault_id":"`+vault+`"}}`))
	if cp.Vault.Name != "vault-nightly" || cp.ExtraInfo.RetentionDuration != 30 {
		t.Errorf("vault %q, retention %d", cp.Vault.Name, cp.ExtraInfo.RetentionDuration)
	}
	if got, want := resourceIDs(cp), []string{"11111111-2222-4333-8444-555555555555", "66666666-7777-4888-9999-aaaaaaaaaaaa"}; !slices.Equal(got, want) {
		t.Errorf("resources %v, want %v", got, want)
	}
	if a := create(t, s, pageRequest); a.status != http.StatusNotFound {
		t.Errorf("the default fixture's vault: status %d, want 404", a.status)
	}

	if _, err := LoadFixture("testdata/no-such-file.json"); err == nil {
		t.Error("LoadFixture of a missing file: no error")
	}
}

func TestDefaultFixtureRoundTrip(t *testing.T) {
	want := DefaultFixture()
	if err := want.Validate(); err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{`"vaults"`, `"retention_duration"`, `"size_gb"`, `"type":"server"`, `"unassociated"`} {
		if !bytes.Contains(b, []byte(key)) {
			t.Errorf("encoded fixture lacks %s: %s", key, b)
		}
	}
	got, err := ParseFixture(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("round trip\n got %+v\nwant %+v", got, want)
	}
}

func TestParseFixtureErrors(t *testing.T) {
	res := func(id, typ string) string {
		return `{"id":"` + id + `","name":"r","type":"` + typ + `","size_gb":1}`
	}
	tests := []struct{ name, json, wantInErr string }{
		{"not JSON", `vaults:`, "parse fixture"},
		{"unknown field", `{"vaults":[{"id":"v","retention":7}]}`, "retention"},
		{"data after", `{"vaults":[]} {}`, "after"},
		{"vault without id", `{"vaults":[{"name":"v"}]}`, "vaults[0]: id is empty"},
		{"duplicate vault", `{"vaults":[{"id":"v"},{"id":"v"}]}`, "duplicate vault"},
		{"resource without id", `{"vaults":[{"id":"v","resources":[` + res("", otc.TypeServer) + `]}]}`, "resources[0]: id is empty"},
		{"bad type", `{"vaults":[{"id":"v","resources":[` + res("r", "OS::Nova::Flavor") + `]}]}`, "OS::Nova::Flavor"},
		{"resource in two vaults", `{"vaults":[{"id":"v","resources":[` + res("r", otc.TypeVolume) + `]},{"id":"w","resources":[` + res("r", otc.TypeVolume) + `]}]}`, "listed more than once"},
		{"negative size", `{"vaults":[{"id":"v","resources":[{"id":"r","type":"OS::Sfs::Turbo","size_gb":-1}]}]}`, "negative"},
		{"unknown vault type", `{"vaults":[{"id":"v","type":"tape"}]}`, `vaults[0]: type "tape"`},
		{"volume in a server vault", `{"vaults":[{"id":"v","type":"server","resources":[` + res("r", otc.TypeVolume) + `]}]}`, "a server vault does not hold OS::Cinder::Volume"},
		{"server in a turbo vault", `{"vaults":[{"id":"v","type":"turbo","resources":[` + res("r", otc.TypeServer) + `]}]}`, "a turbo vault does not hold"},
		{"negative vault size", `{"vaults":[{"id":"v","size_gb":-1}]}`, "vaults[0]: size_gb -1"},
		{"used beyond size", `{"vaults":[{"id":"v","size_gb":10,"used_gb":11}]}`, "used_gb 11 is not 0 to the capacity 10"},
		{"used beyond default size", `{"vaults":[{"id":"v","used_gb":1025}]}`, "capacity 1024"},
		{"unknown field in unassociated", `{"vaults":[],"unassociated":[{"id":"r","vault":"v"}]}`, `unknown field "vault"`},
		{"unassociated without id", `{"vaults":[],"unassociated":[{"type":"OS::Nova::Server"}]}`, "unassociated[0]: id is empty"},
		{"unassociated bad type", `{"vaults":[],"unassociated":[` + res("r", "OS::Nova::Flavor") + `]}`, "unassociated[0]: type"},
		{"unassociated also in a vault", `{"vaults":[{"id":"v","resources":[` + res("r", otc.TypeVolume) + `]}],"unassociated":[` + res("r", otc.TypeVolume) + `]}`, "unassociated[0]: resource \"r\" is listed more than once"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseFixture(strings.NewReader(tt.json))
			if err == nil || !strings.Contains(err.Error(), tt.wantInErr) {
				t.Errorf("err = %v, want one containing %q", err, tt.wantInErr)
			}
		})
	}
}

func TestNewPanicsOnInvalidFixture(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("New accepted a fixture with a vault without id")
		}
	}()
	New(Options{Fixture: &Fixture{Vaults: []FixtureVault{{Name: "no id"}}}})
}

func TestEmptyFixtureRetentionMeansForever(t *testing.T) {
	fx := Fixture{Vaults: []FixtureVault{{ID: "v", Name: "v", Resources: []FixtureResource{{ID: "r", Type: otc.TypeServer}}}}}
	s := start(t, Options{Fixture: &fx})
	cp := checkpointOf(t, create(t, s, `{"checkpoint":{"vault_id":"v"}}`))
	if cp.ExtraInfo.RetentionDuration != -1 {
		t.Errorf("retention_duration %d, want -1", cp.ExtraInfo.RetentionDuration)
	}
	if got := cp.Vault.Resources[0].ResourceSize.String(); got != "0" {
		t.Errorf("resource_size %q, want 0", got)
	}
}

// A fixture with every new field loads, and the emulator follows it: the
// vault's type, size and use, the failing resource, the resource in no vault.
func TestParseFixtureVaultFields(t *testing.T) {
	fx, err := ParseFixture(strings.NewReader(`{"vaults":[{"id":"d","name":"vault-d","type":"disk","size_gb":300,"used_gb":300,
		"resources":[{"id":"v1","name":"data","type":"OS::Cinder::Volume","size_gb":100,"fail":true}]}],
		"unassociated":[{"id":"v2","name":"logs","type":"OS::Cinder::Volume","size_gb":5}]}`))
	if err != nil {
		t.Fatal(err)
	}
	s := start(t, Options{Fixture: &fx, AvailableAfter: -1})
	v := showVault(t, s, "d")
	if v.Billing != (vaultBilling{Allocated: 300, Used: 300, Status: "available", ObjectType: VaultTypeDisk}) || len(v.Resources) != 1 {
		t.Errorf("vault %+v", v)
	}
	if a := addResources(t, s, "d", resourcesBody("v2", otc.TypeVolume)); a.status != http.StatusBadRequest {
		t.Errorf("addresources to the full vault: %d", a.status)
	}
	if err := s.SetVaultUsed("d", 0); err != nil {
		t.Fatal(err)
	}
	addedIDs(t, addResources(t, s, "d", resourcesBody("v2", otc.TypeVolume)))
	cp := checkpointOf(t, create(t, s, `{"checkpoint":{"vault_id":"d"}}`))
	got := checkpointOf(t, get(t, s, cp.ID))
	if got.Status != cbr.StatusError || got.Vault.Resources[0].ProtectStatus != cbr.StatusError ||
		got.Vault.Resources[1].ProtectStatus != cbr.StatusAvailable {
		t.Errorf("checkpoint %+v, want error for the failing volume only", got)
	}
}
