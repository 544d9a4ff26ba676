package cbr_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/restorepoint/restorepoint/cbr"
	"github.com/restorepoint/restorepoint/otc"
)

// exampleRequest is the page's example request built from Go values.
func exampleRequest() cbr.VaultBackup {
	return cbr.VaultBackup{
		VaultID: "3b5816b5-f29c-4172-9d9a-76c719a659ce",
		Parameters: &cbr.CheckpointParam{
			AutoTrigger: cbr.Bool(true),
			Description: "backup_description",
			Incremental: cbr.Bool(true),
			Name:        "backup_name",
			Resources:   []string{"94eba8b2-acc9-4d82-badc-127144cc5526"},
		},
	}
}

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// assertJSONEqual fails unless got and want hold the same JSON value.
func assertJSONEqual(t *testing.T, got, want []byte) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("got is not JSON: %v\n%s", err, got)
	}
	if err := json.Unmarshal(want, &w); err != nil {
		t.Fatalf("want is not JSON: %v\n%s", err, want)
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("JSON differs\n got: %s\nwant: %s", got, want)
	}
}

func TestContractExampleRequest(t *testing.T) {
	got, err := json.Marshal(cbr.CreateCheckpointRequest{Checkpoint: exampleRequest()})
	if err != nil {
		t.Fatal(err)
	}
	assertJSONEqual(t, got, readFixture(t, "example_request.json"))
	if err := cbr.Validate(exampleRequest()); err != nil {
		t.Errorf("Validate(example) = %v, want nil", err)
	}
}

func TestContractExampleResponse(t *testing.T) {
	fixture := readFixture(t, "example_response.json")
	var resp cbr.CheckpointResponse
	if err := json.Unmarshal(fixture, &resp); err != nil {
		t.Fatal(err)
	}
	cp := resp.Checkpoint
	checks := []struct {
		field     string
		got, want any
	}{
		{"status", cp.Status, cbr.StatusProtecting},
		{"created_at", cp.CreatedAt.Time.UTC(), time.Date(2019, 5, 10, 7, 59, 12, 733_000_000, time.UTC)},
		{"created_at text", cp.CreatedAt.String(), "2019-05-10T07:59:12.733+00:00"},
		{"vault.id", cp.Vault.ID, "3b5816b5-f29c-4172-9d9a-76c719a659ce"},
		{"vault.name", cp.Vault.Name, "vault-be94"},
		{"vault.skipped_resources len", len(cp.Vault.SkippedResources), 0},
		{"vault.skipped_resources non-nil", cp.Vault.SkippedResources != nil, true},
		{"vault.resources len", len(cp.Vault.Resources), 1},
		{"project_id", cp.ProjectID, "4229d7a45436489f8c3dc2b1d35d4987"},
		{"id", cp.ID, "8b0851a8-adf3-4f4c-a914-dead08bf9664"},
		{"extra_info set", cp.ExtraInfo != nil, true},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s = %v, want %v", c.field, c.got, c.want)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	r := cp.Vault.Resources[0]
	size, err := r.ResourceSize.Float64()
	if err != nil {
		t.Fatalf("resource_size: %v", err)
	}
	more := []struct {
		field     string
		got, want any
	}{
		{"resources[0].name", r.Name, "ecs-1f0f-0002"},
		{"resources[0].resource_size", size, 40.0},
		{"resources[0].resource_size text", r.ResourceSize.String(), "40"},
		{"resources[0].protect_status", r.ProtectStatus, "available"},
		{"resources[0].type", r.Type, otc.TypeServer},
		{"resources[0].id", r.ID, "94eba8b2-acc9-4d82-badc-127144cc5526"},
		{"resources[0].backup_size", r.BackupSize == nil, true},
		{"resources[0].backup_count", r.BackupCount == nil, true},
		{"resources[0].extra_info", len(r.ExtraInfo), 0},
		{"extra_info.retention_duration", cp.ExtraInfo.RetentionDuration, -1},
		{"extra_info.name", cp.ExtraInfo.Name, "backup_name"},
		{"extra_info.description", cp.ExtraInfo.Description, "backup_description"},
	}
	for _, c := range more {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s = %v, want %v", c.field, c.got, c.want)
		}
	}

	// Round trip: the decoded value re-encodes to the fixture.
	again, err := json.Marshal(resp)
	if err != nil {
		t.Fatal(err)
	}
	assertJSONEqual(t, again, fixture)
}

func TestExplicitFalse(t *testing.T) {
	tests := []struct {
		name  string
		param cbr.CheckpointParam
		want  string
	}{
		{"incremental false", cbr.CheckpointParam{Incremental: cbr.Bool(false)}, `{"checkpoint":{"parameters":{"incremental":false},"vault_id":"v"}}`},
		{"auto_trigger false", cbr.CheckpointParam{AutoTrigger: cbr.Bool(false)}, `{"checkpoint":{"parameters":{"auto_trigger":false},"vault_id":"v"}}`},
		{"unset booleans omitted", cbr.CheckpointParam{Name: "n"}, `{"checkpoint":{"parameters":{"name":"n"},"vault_id":"v"}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := tt.param
			got, err := json.Marshal(cbr.CreateCheckpointRequest{Checkpoint: cbr.VaultBackup{VaultID: "v", Parameters: &p}})
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestDecodeTolerance(t *testing.T) {
	tests := []struct {
		name string
		json string
		want func(t *testing.T, cp cbr.CheckpointCreate)
	}{
		{
			name: "sizes as numbers",
			json: `{"checkpoint":{"id":"c","created_at":"2020-02-05T10:38:34.209782","vault":{"resources":[{"id":"r","type":"OS::Nova::Server","resource_size":40,"backup_size":12.5,"backup_count":3}]}}}`,
			want: func(t *testing.T, cp cbr.CheckpointCreate) {
				r := cp.Vault.Resources[0]
				assertQuantity(t, "resource_size", r.ResourceSize, 40)
				assertQuantity(t, "backup_size", r.BackupSize, 12.5)
				assertQuantity(t, "backup_count", r.BackupCount, 3)
			},
		},
		{
			name: "sizes as strings",
			json: `{"checkpoint":{"id":"c","vault":{"resources":[{"id":"r","type":"OS::Nova::Server","resource_size":"40","backup_size":"12.5","backup_count":"3"}]}}}`,
			want: func(t *testing.T, cp cbr.CheckpointCreate) {
				r := cp.Vault.Resources[0]
				assertQuantity(t, "resource_size", r.ResourceSize, 40)
				assertQuantity(t, "backup_size", r.BackupSize, 12.5)
				assertQuantity(t, "backup_count", r.BackupCount, 3)
			},
		},
		{
			name: "created_at without zone is UTC",
			json: `{"checkpoint":{"id":"c","created_at":"2020-02-05T10:38:34.209782"}}`,
			want: func(t *testing.T, cp cbr.CheckpointCreate) {
				want := time.Date(2020, 2, 5, 10, 38, 34, 209782000, time.UTC)
				if !cp.CreatedAt.Time.Equal(want) || cp.CreatedAt.Location() != time.UTC {
					t.Errorf("created_at = %v, want %v", cp.CreatedAt.Time, want)
				}
			},
		},
		{
			name: "created_at with zone",
			json: `{"checkpoint":{"id":"c","created_at":"2020-02-05T12:38:34.209782+02:00"}}`,
			want: func(t *testing.T, cp cbr.CheckpointCreate) {
				want := time.Date(2020, 2, 5, 10, 38, 34, 209782000, time.UTC)
				if !cp.CreatedAt.Time.Equal(want) {
					t.Errorf("created_at = %v, want %v", cp.CreatedAt.Time, want)
				}
			},
		},
		{
			name: "unknown fields ignored",
			json: `{"future":1,"checkpoint":{"id":"c","policy_id":"p","vault":{"id":"v","extra":{"a":[1]},"skipped_resources":[{"id":"r","type":"OS::Cinder::Volume","name":"d","code":"BackupService.6135","reason":"not in vault","new":true}]}}}`,
			want: func(t *testing.T, cp cbr.CheckpointCreate) {
				want := []cbr.CheckpointCreateSkippedResource{{ID: "r", Type: otc.TypeVolume, Name: "d", Code: "BackupService.6135", Reason: "not in vault"}}
				if cp.Vault.ID != "v" || !reflect.DeepEqual(cp.Vault.SkippedResources, want) {
					t.Errorf("vault = %+v", cp.Vault)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var resp cbr.CheckpointResponse
			if err := json.Unmarshal([]byte(tt.json), &resp); err != nil {
				t.Fatal(err)
			}
			tt.want(t, resp.Checkpoint)
			if _, err := json.Marshal(resp); err != nil {
				t.Errorf("re-encode: %v", err)
			}
		})
	}
}

func assertQuantity(t *testing.T, field string, q *cbr.Quantity, want float64) {
	t.Helper()
	if q == nil {
		t.Errorf("%s is nil, want %v", field, want)
		return
	}
	got, err := q.Float64()
	if err != nil || got != want {
		t.Errorf("%s = %v (%v), want %v", field, got, err, want)
	}
}

// The fixture files hold exactly the page's examples, byte for byte.
func TestFixturesMatchPage(t *testing.T) {
	page, err := os.ReadFile("../../shared/seed/creating-a-restore-point.md")
	if err != nil {
		t.Skip("API page not available:", err)
	}
	for _, name := range []string{"example_request.json", "example_response.json"} {
		if !bytes.Contains(page, readFixture(t, name)) {
			t.Errorf("testdata/%s is not verbatim from the API page", name)
		}
	}
}
