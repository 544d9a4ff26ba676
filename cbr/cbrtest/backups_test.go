package cbrtest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/restorepoint/restorepoint/cbr"
	"github.com/restorepoint/restorepoint/iam"
	"github.com/restorepoint/restorepoint/otc"
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

// backupPath is the path of backup id in the default project.
func backupPath(id string) string { return "/v3/" + DefaultProjectID + "/backups/" + id }

func TestDeleteBackup(t *testing.T) {
	s := start(t, Options{AvailableAfter: -1})
	cp := checkpointOf(t, create(t, s, `{"checkpoint":{"vault_id":"`+ExampleVaultID+`"}}`))
	all := listBackups(t, s, "checkpoint_id="+cp.ID).Backups
	if len(all) != 4 {
		t.Fatalf("%d backups, want 4", len(all))
	}
	gone := all[0]

	a := call(t, s, http.MethodGet, backupPath(gone.ID), DefaultToken, "")
	var shown backupResponse
	if err := json.Unmarshal(a.body, &shown); a.status != 200 || err != nil || shown.Backup != gone {
		t.Fatalf("GET backup: %d %s, want %+v", a.status, a.body, gone)
	}
	a = call(t, s, http.MethodDelete, backupPath(gone.ID), DefaultToken, "")
	if a.status != http.StatusNoContent || len(a.body) != 0 {
		t.Fatalf("DELETE: %d %q, want 204 without a body", a.status, a.body)
	}
	for _, tt := range []struct {
		name, method, path, token string
		status                    int
		code                      string
	}{
		{"DELETE again", http.MethodDelete, backupPath(gone.ID), DefaultToken, 404, CodeBackupNotFound},
		{"GET deleted", http.MethodGet, backupPath(gone.ID), DefaultToken, 404, CodeBackupNotFound},
		{"DELETE unknown", http.MethodDelete, backupPath("8b0851a8-adf3-4f4c-a914-dead08bf9664"), DefaultToken, 404, CodeBackupNotFound},
		{"DELETE without token", http.MethodDelete, backupPath(all[1].ID), "", 401, "keystone:401"},
		{"DELETE in another project", http.MethodDelete, "/v3/0123456789abcdef0123456789abcdef/backups/" + all[1].ID, DefaultToken, 403, CodeForbidden},
		{"PUT backup", http.MethodPut, backupPath(all[1].ID), DefaultToken, 405, "keystone:405"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a := call(t, s, tt.method, tt.path, tt.token, "")
			if code, _ := errorOf(t, a.body); a.status != tt.status || code != tt.code {
				t.Errorf("%d %s, want %d %s", a.status, a.body, tt.status, tt.code)
			}
			if tt.status == 405 && a.header.Get("Allow") != "GET, DELETE" {
				t.Errorf("Allow %q", a.header.Get("Allow"))
			}
		})
	}
	if list := listBackups(t, s, ""); list.Count != 3 || slices.ContainsFunc(list.Backups, func(b cbr.Backup) bool { return b.ID == gone.ID }) {
		t.Errorf("after DELETE the list has %d backups: %+v", list.Count, list.Backups)
	}
	if n := len(s.Backups()); n != 3 {
		t.Errorf("Backups() has %d, want 3", n)
	}
	// The checkpoint lists the resources whose backups remain.
	got := checkpointOf(t, get(t, s, cp.ID))
	if ids := resourceIDs(got); len(ids) != 3 || slices.Contains(ids, gone.ResourceID) || got.Status != cbr.StatusAvailable {
		t.Errorf("checkpoint %s with resources %v, want available without %s", got.Status, ids, gone.ResourceID)
	}
}

// A checkpoint whose backups were all deleted is gone: GET answers 404 and
// Checkpoint and Checkpoints leave it out. A resource whose newest backup was
// deleted while protecting can be backed up again.
func TestCheckpointGoneWithItsBackups(t *testing.T) {
	s := start(t, Options{AvailableAfter: time.Hour})
	cp := checkpointOf(t, create(t, s, pageRequest))
	for _, b := range listBackups(t, s, "checkpoint_id="+cp.ID).Backups {
		if a := call(t, s, http.MethodDelete, backupPath(b.ID), DefaultToken, ""); a.status != http.StatusNoContent {
			t.Fatalf("DELETE %s: %d %s", b.ID, a.status, a.body)
		}
	}
	a := get(t, s, cp.ID)
	if code, _ := errorOf(t, a.body); a.status != 404 || code != CodeCheckpointNotFound {
		t.Errorf("GET: %d %s, want 404 %s", a.status, a.body, CodeCheckpointNotFound)
	}
	if _, ok := s.Checkpoint(cp.ID); ok {
		t.Error("Checkpoint reports it exists")
	}
	if n := len(s.Checkpoints()); n != 0 {
		t.Errorf("Checkpoints lists %d", n)
	}
	if s.SetBackupStatus(cp.ID, cbr.StatusError) {
		t.Error("SetBackupStatus found deleted backups")
	}
	if again := checkpointOf(t, create(t, s, pageRequest)); len(again.Vault.Resources) != 1 {
		t.Errorf("after deleting the protecting backup: skipped %+v", again.Vault.SkippedResources)
	}
}

func TestDeleteLockedBackup(t *testing.T) {
	s := start(t, Options{AvailableAfter: -1})
	checkpointOf(t, create(t, s, pageRequest))
	b := s.Backups()[0]
	if !s.SetBackupLocked(b.ID, true) {
		t.Fatal("SetBackupLocked found no backup")
	}
	a := call(t, s, http.MethodDelete, backupPath(b.ID), DefaultToken, "")
	if code, msg := errorOf(t, a.body); a.status != http.StatusBadRequest || code != CodeBackupLocked || msg != msgBackupLocked {
		t.Errorf("DELETE locked: %d %s", a.status, a.body)
	}
	if n := listBackups(t, s, "").Count; n != 1 {
		t.Errorf("a locked backup was deleted: %d left", n)
	}
	s.SetBackupLocked(b.ID, false)
	if a := call(t, s, http.MethodDelete, backupPath(b.ID), DefaultToken, ""); a.status != http.StatusNoContent {
		t.Errorf("DELETE unlocked: %d %s", a.status, a.body)
	}
	if s.SetBackupLocked(b.ID, true) {
		t.Error("SetBackupLocked of a deleted backup reports it exists")
	}
}

// seedMany seeds n checkpoints of one resource each, alternating between two
// servers of the example vault, an hour apart from base, in shuffled order:
// 0, n-1, 1, n-2, ...
func seedMany(t *testing.T, s *Server, base time.Time, n int) {
	t.Helper()
	seeds := make([]Seed, 0, n)
	for i := range n {
		j := i / 2
		if i%2 == 1 {
			j = n - 1 - i/2
		}
		res := ExampleServerID
		if j%2 == 1 {
			res = DemoServerID
		}
		seeds = append(seeds, Seed{VaultID: ExampleVaultID, Resources: []string{res},
			Name: fmt.Sprintf("nightly-%04d", j), CreatedAt: base.Add(time.Duration(j) * time.Hour)})
	}
	if _, err := s.SeedCheckpoints(seeds...); err != nil {
		t.Fatal(err)
	}
}

// A vault with 1,000 backups lists in created_at order both ways, by offset
// and by marker, with every filter, and can be pruned to nothing.
func TestManyBackups(t *testing.T) {
	const n = 1000
	clk := newClock()
	s := start(t, Options{Now: clk.Now, AvailableAfter: time.Minute})
	base := clk.Now().Add(-n * time.Hour)
	seedMany(t, s, base, n)
	checkpointOf(t, create(t, s, pageRequest)) // one more, now, still protecting

	all := s.Backups()
	if len(all) != n+1 {
		t.Fatalf("%d backups, want %d", len(all), n+1)
	}
	for i, b := range all[:n] {
		if want := fmt.Sprintf("nightly-%04d", i); b.Name != want || !b.CreatedAt.Equal(base.Add(time.Duration(i)*time.Hour)) {
			t.Fatalf("Backups()[%d] = %s at %s, want %s, oldest first", i, b.Name, b.CreatedAt, want)
		}
	}

	// Descending (the default) by marker, ascending by offset.
	var desc, asc []string
	for marker := ""; ; {
		list := listBackups(t, s, "limit=300&sort=created_at:desc&marker="+marker)
		if list.Count != n+1 {
			t.Fatalf("count %d, want %d", list.Count, n+1)
		}
		if len(list.Backups) == 0 {
			break
		}
		for _, b := range list.Backups {
			desc = append(desc, b.ID)
		}
		marker = list.Backups[len(list.Backups)-1].ID
	}
	for offset := 0; offset <= n; offset += 300 {
		for _, b := range listBackups(t, s, fmt.Sprintf("limit=300&sort=created_at:asc&offset=%d", offset)).Backups {
			asc = append(asc, b.ID)
		}
	}
	if len(desc) != n+1 || len(asc) != n+1 {
		t.Fatalf("paged %d descending, %d ascending; want %d", len(desc), len(asc), n+1)
	}
	for i, b := range all {
		if asc[i] != b.ID || desc[n-i] != b.ID {
			t.Fatalf("order differs at %d", i)
		}
	}

	for _, tt := range []struct {
		query string
		want  int
	}{
		{"vault_id=" + ExampleVaultID, n + 1},
		{"vault_id=" + WeeklyVaultID, 0},
		{"resource_id=" + DemoServerID, n / 2},
		{"resource_id=" + ExampleServerID + "&status=available", n / 2},
		{"status=protecting", 1},
		{"checkpoint_id=" + all[7].CheckpointID, 1},
		{"checkpoint_id=" + all[7].CheckpointID + "&resource_id=" + DemoServerID, 1},
		{"checkpoint_id=" + all[7].CheckpointID + "&resource_id=" + ExampleServerID, 0},
		{"checkpoint_id=no-such-checkpoint", 0},
		{"name=nightly-09", 100},
		{"name=nightly-0999", 1},
		{"resource_type=" + otc.TypeVolume, 0},
	} {
		if got := listBackups(t, s, tt.query+"&limit=1").Count; got != tt.want {
			t.Errorf("%s: count %d, want %d", tt.query, got, tt.want)
		}
	}

	// Prune the oldest 900 of the vault, a page of 100 at a time, oldest
	// first; the 100 newest seeded and the new one remain.
	for range 9 {
		for _, b := range listBackups(t, s, "vault_id="+ExampleVaultID+"&sort=created_at:asc&limit=100").Backups {
			if a := call(t, s, http.MethodDelete, backupPath(b.ID), DefaultToken, ""); a.status != http.StatusNoContent {
				t.Fatalf("DELETE %s: %d %s", b.Name, a.status, a.body)
			}
		}
	}
	left := listBackups(t, s, "sort=created_at:asc")
	if left.Count != n-900+1 || left.Backups[0].Name != "nightly-0900" {
		t.Errorf("after pruning: %d left, oldest %q; want %d from nightly-0900", left.Count, left.Backups[0].Name, n-900+1)
	}
	if n := len(s.Checkpoints()); n != 101 {
		t.Errorf("%d checkpoints left, want 101", n)
	}
}

func TestSeedCheckpoints(t *testing.T) {
	clk := newClock()
	s := start(t, Options{Now: clk.Now, AvailableAfter: time.Minute})
	if err := s.FailResource(DemoVolumeID); err != nil {
		t.Fatal(err)
	}
	old := clk.Now().Add(-time.Hour)
	cps, err := s.SeedCheckpoints(
		Seed{VaultID: ExampleVaultID, Name: "old", Description: "seeded", CreatedAt: old},
		Seed{VaultID: WeeklyVaultID, Resources: []string{WeeklyTurboID}},
	)
	if err != nil {
		t.Fatal(err)
	}
	if len(cps) != 2 || cps[0].Status != cbr.StatusError || len(cps[0].Vault.Resources) != 4 ||
		!cps[0].CreatedAt.Equal(old) || cps[0].ExtraInfo.Name != "old" || cps[0].ExtraInfo.Description != "seeded" {
		t.Errorf("old seed %+v, want the whole vault, in error for the failing volume, at %s", cps[0], old)
	}
	if cps[1].Status != cbr.StatusProtecting || !cps[1].CreatedAt.Equal(clk.Now()) || !strings.HasPrefix(cps[1].ExtraInfo.Name, "manualbk_") {
		t.Errorf("new seed %+v, want protecting, now, a generated name", cps[1])
	}
	if got := checkpointOf(t, get(t, s, cps[0].ID)); got.Status != cbr.StatusError {
		t.Errorf("GET of a seeded checkpoint: %q", got.Status)
	}
	// The seeded turbo backup is still protecting: a create skips it.
	cp := checkpointOf(t, create(t, s, `{"checkpoint":{"vault_id":"`+WeeklyVaultID+`"}}`))
	if sk := cp.Vault.SkippedResources; len(sk) != 1 || sk[0].ID != WeeklyTurboID || sk[0].Code != CodeBeingBackedUp {
		t.Errorf("skipped %+v, want the turbo as busy", sk)
	}
	if n := s.CountCreates(); n != 1 {
		t.Errorf("CountCreates = %d, want 1 (seeds do not count)", n)
	}

	for _, tt := range []struct {
		name  string
		seed  Seed
		inErr string
	}{
		{"unknown vault", Seed{VaultID: "nope"}, `no vault "nope"`},
		{"resource not in vault", Seed{VaultID: WeeklyVaultID, Resources: []string{ExampleServerID}}, "not in vault"},
		{"resource in no vault", Seed{VaultID: ServerVaultID, Resources: []string{UnassociatedServerID}}, "not in vault"},
		{"empty vault", Seed{VaultID: ServerVaultID}, "holds no resource"},
		{"twice", Seed{VaultID: WeeklyVaultID, Resources: []string{WeeklyServerID, WeeklyServerID}}, "listed twice"},
		{"bad name", Seed{VaultID: WeeklyVaultID, Name: "a b"}, "name"},
		{"long description", Seed{VaultID: WeeklyVaultID, Description: strings.Repeat("d", 256)}, "description"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := len(s.Backups())
			_, err := s.SeedCheckpoints(Seed{VaultID: WeeklyVaultID}, tt.seed)
			if err == nil || !strings.Contains(err.Error(), "seeds[1]") || !strings.Contains(err.Error(), tt.inErr) {
				t.Errorf("err = %v, want one about seeds[1] with %q", err, tt.inErr)
			}
			if n := len(s.Backups()); n != before {
				t.Errorf("a refused call added %d backups", n-before)
			}
		})
	}
}

// BenchmarkListBackups lists one page of 100 out of 10,000 backups, with
// and without a filter.
func BenchmarkListBackups(b *testing.B) {
	s := NewServer(Options{AvailableAfter: -1})
	defer s.Close()
	seeds := make([]Seed, 10000)
	base := time.Now().Add(-time.Duration(len(seeds)) * time.Minute)
	for i := range seeds {
		seeds[i] = Seed{VaultID: ExampleVaultID, Resources: []string{ExampleServerID}, CreatedAt: base.Add(time.Duration(i) * time.Minute)}
	}
	if _, err := s.SeedCheckpoints(seeds...); err != nil {
		b.Fatal(err)
	}
	for _, q := range []string{"limit=100", "limit=100&vault_id=" + ExampleVaultID + "&sort=created_at:asc&offset=5000"} {
		b.Run(q, func(b *testing.B) {
			for b.Loop() {
				req, _ := http.NewRequest(http.MethodGet, s.URL+"/v3/"+DefaultProjectID+"/backups?"+q, nil)
				req.Header.Set("X-Auth-Token", DefaultToken)
				resp, err := s.Client().Do(req)
				if err != nil {
					b.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					b.Fatalf("status %d", resp.StatusCode)
				}
			}
		})
	}
}
