package cbrtest

import (
	"context"
	"net/http"
	"testing"

	"github.com/restorepoint/restorepoint/cbr"
	"github.com/restorepoint/restorepoint/iam"
)

// newListClient returns a client of s with the default token.
func newListClient(t *testing.T, s *Server) *cbr.Client {
	t.Helper()
	c, err := cbr.New(s.URL, DefaultProjectID, iam.TokenAuthorizer{Source: iam.NewStatic(DefaultToken)}, cbr.WithMaxAttempts(1))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestBackupsOnePerResourceWithNameAndDescription(t *testing.T) {
	s := start(t, Options{AvailableAfter: -1})
	c := newListClient(t, s)
	ctx := context.Background()
	whole, err := c.CreateCheckpoint(ctx, cbr.VaultBackup{VaultID: ExampleVaultID, Parameters: &cbr.CheckpointParam{
		Name: "nightly-1", Description: "whole vault [rp:k1]"}})
	if err != nil {
		t.Fatal(err)
	}
	one, err := c.CreateCheckpoint(ctx, cbr.VaultBackup{VaultID: WeeklyVaultID, Parameters: &cbr.CheckpointParam{
		Name: "nightly-10", Description: "one", Resources: []string{WeeklyServerID}}})
	if err != nil {
		t.Fatal(err)
	}
	all := s.Backups()
	if len(all) != len(whole.Vault.Resources)+1 {
		t.Fatalf("%d backups, want one per resource: %d", len(all), len(whole.Vault.Resources)+1)
	}
	for _, b := range all[:len(all)-1] {
		if b.CheckpointID != whole.ID || b.Name != "nightly-1" || b.Description != "whole vault [rp:k1]" ||
			b.VaultID != ExampleVaultID || b.Status != cbr.StatusAvailable || b.ResourceType == "" {
			t.Errorf("backup %+v, want one of checkpoint %s with its name and description", b, whole.ID)
		}
	}

	// The name filter matches a substring: nightly-1 finds nightly-10 too.
	list, err := c.ListBackups(ctx, cbr.BackupQuery{Name: "nightly-1"})
	if err != nil {
		t.Fatal(err)
	}
	if list.Count != len(all) || list.Backups[0].CheckpointID != one.ID {
		t.Errorf("name filter: count %d, first %+v; want all %d, newest first", list.Count, list.Backups[0], len(all))
	}
	// Filters.
	for _, tc := range []struct {
		q    cbr.BackupQuery
		want int
	}{
		{cbr.BackupQuery{VaultID: WeeklyVaultID}, 1},
		{cbr.BackupQuery{CheckpointID: whole.ID}, len(whole.Vault.Resources)},
		{cbr.BackupQuery{ResourceID: ExampleServerID}, 1},
		{cbr.BackupQuery{Status: "error"}, 0},
		{cbr.BackupQuery{VaultID: ExampleVaultID, Name: "nightly-10"}, 0},
	} {
		list, err := c.ListBackups(ctx, tc.q)
		if err != nil {
			t.Fatal(err)
		}
		if list.Count != tc.want || len(list.Backups) != tc.want {
			t.Errorf("%+v: %d (%d listed), want %d", tc.q, list.Count, len(list.Backups), tc.want)
		}
	}
	// A status set by the test shows.
	if !s.SetBackupStatus(one.ID, cbr.BackupStatusDeleted) {
		t.Fatal("SetBackupStatus found nothing")
	}
	if list, _ := c.ListBackups(ctx, cbr.BackupQuery{Status: "deleted"}); list.Count != 1 || !list.Backups[0].Gone() {
		t.Errorf("after SetBackupStatus: %+v", list)
	}
}

func TestBackupsPaging(t *testing.T) {
	s := start(t, Options{AvailableAfter: -1})
	c := newListClient(t, s)
	ctx := context.Background()
	for range 3 {
		if _, err := c.CreateCheckpoint(ctx, cbr.VaultBackup{VaultID: ExampleVaultID}); err != nil {
			t.Fatal(err)
		}
	}
	total := len(s.Backups())
	var byOffset, byMarker []string
	for offset := 0; ; offset += 3 {
		list, err := c.ListBackups(ctx, cbr.BackupQuery{Limit: 3, Offset: offset, Sort: "created_at:asc"})
		if err != nil {
			t.Fatal(err)
		}
		if list.Count != total {
			t.Fatalf("count %d, want %d", list.Count, total)
		}
		for _, b := range list.Backups {
			byOffset = append(byOffset, b.ID)
		}
		if len(list.Backups) < 3 {
			break
		}
	}
	marker := ""
	for {
		list, err := c.ListBackups(ctx, cbr.BackupQuery{Limit: 5, Marker: marker, Sort: "created_at:asc"})
		if err != nil {
			t.Fatal(err)
		}
		if len(list.Backups) == 0 {
			break
		}
		for _, b := range list.Backups {
			byMarker = append(byMarker, b.ID)
		}
		marker = list.Backups[len(list.Backups)-1].ID
	}
	if len(byOffset) != total || len(byMarker) != total {
		t.Fatalf("paged %d by offset, %d by marker; want %d", len(byOffset), len(byMarker), total)
	}
	for i, b := range s.Backups() {
		if byOffset[i] != b.ID || byMarker[i] != b.ID {
			t.Fatalf("page order differs at %d", i)
		}
	}
}

func TestBackupsBadQueries(t *testing.T) {
	s := start(t, Options{})
	for _, q := range []string{"limit=0", "limit=1001", "limit=x", "offset=-1", "marker=nope", "sort=name"} {
		a := call(t, s, http.MethodGet, "/v3/"+DefaultProjectID+"/backups?"+q, DefaultToken, "")
		if code, _ := errorOf(t, a.body); a.status != http.StatusBadRequest || code != CodeInvalidParameter {
			t.Errorf("%s: %d %s, want 400 %s", q, a.status, a.body, CodeInvalidParameter)
		}
	}
	if a := call(t, s, http.MethodGet, "/v3/"+DefaultProjectID+"/backups", "", ""); a.status != http.StatusUnauthorized {
		t.Errorf("without a token: %d", a.status)
	}
}
