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
	for _, key := range []string{`"vaults"`, `"retention_duration"`, `"size_gb"`, `"type"`} {
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
		{"resource without id", `{"vaults":[{"id":"v","resources":[` + res("", cbr.TypeServer) + `]}]}`, "resources[0]: id is empty"},
		{"bad type", `{"vaults":[{"id":"v","resources":[` + res("r", "OS::Nova::Flavor") + `]}]}`, "OS::Nova::Flavor"},
		{"resource in two vaults", `{"vaults":[{"id":"v","resources":[` + res("r", cbr.TypeVolume) + `]},{"id":"w","resources":[` + res("r", cbr.TypeVolume) + `]}]}`, "listed more than once"},
		{"negative size", `{"vaults":[{"id":"v","resources":[{"id":"r","type":"OS::Sfs::Turbo","size_gb":-1}]}]}`, "negative"},
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
	fx := Fixture{Vaults: []FixtureVault{{ID: "v", Name: "v", Resources: []FixtureResource{{ID: "r", Type: cbr.TypeServer}}}}}
	s := start(t, Options{Fixture: &fx})
	cp := checkpointOf(t, create(t, s, `{"checkpoint":{"vault_id":"v"}}`))
	if cp.ExtraInfo.RetentionDuration != -1 {
		t.Errorf("retention_duration %d, want -1", cp.ExtraInfo.RetentionDuration)
	}
	if got := cp.Vault.Resources[0].ResourceSize.String(); got != "0" {
		t.Errorf("resource_size %q, want 0", got)
	}
}
