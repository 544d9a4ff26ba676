package events

import (
	"encoding/json"
	"testing"
	"time"
)

// TestBackupDeletedEvent: a deletion renders as a result event like the
// others: its type, the vault as subject, the id given, and the data with
// every field named as README's table says.
func TestBackupDeletedEvent(t *testing.T) {
	r := Result{
		Type:    TypeBackupDeleted,
		ID:      "5d2c1c52-4f0e-5d7e-9a3b-1f2e3d4c5b6a",
		Subject: "vault-1",
		Deleted: &BackupDeleted{
			BackupID:     "b1",
			Resource:     ResourceRef{ID: "r1", Type: "OS::Nova::Server", Name: "web-1"},
			CheckpointID: "c1",
			VaultID:      "vault-1",
			CreatedAt:    "2024-05-01T10:15:00.000+00:00",
			AgeSeconds:   86400,
			Rule:         "keep_last=7",
		},
	}
	e, err := r.Event("restorepoint", r.ID, time.Date(2024, 5, 2, 10, 15, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	if e.Type() != TypeBackupDeleted || e.Subject() != "vault-1" || e.ID() != r.ID || e.Source() != "restorepoint" {
		t.Errorf("event %v", e)
	}
	var data map[string]any
	if err := json.Unmarshal(e.Data(), &data); err != nil {
		t.Fatal(err)
	}
	want := `{"backup_id":"b1","resource":{"id":"r1","type":"OS::Nova::Server","name":"web-1"},"checkpoint_id":"c1",` +
		`"vault_id":"vault-1","created_at":"2024-05-01T10:15:00.000+00:00","age_seconds":86400,"rule":"keep_last=7"}`
	if string(e.Data()) != want {
		t.Errorf("data\n%s\nwant\n%s", e.Data(), want)
	}
	if r.Data() != r.Deleted {
		t.Error("Data() is not the deletion")
	}
}
