package retention_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/restorepoint/restorepoint/cbr"
	"github.com/restorepoint/restorepoint/cbr/cbrtest"
	"github.com/restorepoint/restorepoint/events"
	"github.com/restorepoint/restorepoint/function"
	"github.com/restorepoint/restorepoint/iam"
	"github.com/restorepoint/restorepoint/retention"
)

var now = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

// world is an emulator with a vault of history, and a client of it.
type world struct {
	srv    *cbrtest.Server
	client *cbr.Client
	// ours are the backups of ExampleServerID restorepoint made, oldest
	// first; the decoys and other backups are named below.
	ours                       []cbr.Backup
	locked, protecting         string   // backup ids among ours
	decoys, otherResource, far []string // backups that must stay
}

// seed makes a checkpoint of resources in vault, created ageHours before
// now, and returns its backups.
func seed(t testing.TB, srv *cbrtest.Server, vault string, ageHours int, name, desc string, resources ...string) []cbr.Backup {
	t.Helper()
	cps, err := srv.SeedCheckpoints(cbrtest.Seed{VaultID: vault, Resources: resources, Name: name, Description: desc,
		CreatedAt: now.Add(-time.Duration(ageHours) * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	var out []cbr.Backup
	for _, b := range srv.Backups() {
		if b.CheckpointID == cps[0].ID {
			out = append(out, b)
		}
	}
	return out
}

// newWorld seeds twelve restore points of the example server (one a day,
// the newest a day old), one of them locked (the third oldest), and a
// newer one still protecting; decoys that are not restorepoint's (names
// like its, markers malformed or not at the end); two restore points of
// another resource; and restore points in a vault not pruned.
func newWorld(t testing.TB) *world {
	t.Helper()
	srv := cbrtest.NewServer(cbrtest.Options{AvailableAfter: time.Minute, Now: func() time.Time { return now }})
	t.Cleanup(srv.Close)
	client, err := cbr.New(srv.URL, cbrtest.DefaultProjectID, iam.TokenAuthorizer{Source: iam.NewStatic(cbrtest.DefaultToken)},
		cbr.WithBackoff(time.Millisecond, 2*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	w := &world{srv: srv, client: client}
	for i := range 12 {
		key := fmt.Sprintf("/ci\x00deploy-%d", i)
		b := seed(t, srv, cbrtest.ExampleVaultID, 24*(12-i), fmt.Sprintf("pre-deploy-shop-%d", i),
			"Before deploying shop "+markerOf(key), cbrtest.ExampleServerID)
		w.ours = append(w.ours, b...)
	}
	w.locked = w.ours[2].ID
	srv.SetBackupLocked(w.locked, true)
	newest := seed(t, srv, cbrtest.ExampleVaultID, 0, "pre-deploy-shop-12", "Before "+markerOf("/ci\x00deploy-12"), cbrtest.ExampleServerID)
	w.protecting = newest[0].ID
	for i, desc := range []string{
		"Backup by another tool",
		"Before deploying shop [rp:0123456789abcdef01234567] edited",
		"Before deploying shop [rp:0123456789ABCDEF01234567]",
		"[rp:short]",
	} {
		b := seed(t, srv, cbrtest.ExampleVaultID, 400+i, fmt.Sprintf("pre-deploy-shop-%d", 90+i), desc, cbrtest.ExampleServerID)
		w.decoys = append(w.decoys, b[0].ID)
	}
	for i := range 2 {
		b := seed(t, srv, cbrtest.ExampleVaultID, 300+i, "tagged-web-1", "x "+markerOf(fmt.Sprint("web", i)), cbrtest.DemoServerID)
		w.otherResource = append(w.otherResource, b[0].ID)
	}
	for i := range 8 {
		b := seed(t, srv, cbrtest.WeeklyVaultID, 500+i, "tagged-db-1", "x "+markerOf(fmt.Sprint("db", i)), cbrtest.WeeklyServerID)
		w.far = append(w.far, b[0].ID)
	}
	return w
}

func (w *world) pruner(t *testing.T, cfg retention.Config, opts ...retention.Option) *retention.Pruner {
	t.Helper()
	if cfg.Vaults == nil {
		cfg.Vaults = []string{cbrtest.ExampleVaultID}
	}
	if cfg.MaxDeletes == 0 {
		cfg.MaxDeletes = retention.DefaultMaxDeletes
	}
	p, err := retention.New(cfg, w.client, append([]retention.Option{retention.WithClock(func() time.Time { return now })}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// left returns the ids of the backups the emulator still has.
func (w *world) left() map[string]bool {
	out := map[string]bool{}
	for _, b := range w.srv.Backups() {
		out[b.ID] = true
	}
	return out
}

// deletes counts the emulator's DELETE requests.
func (w *world) deletes() int {
	n := 0
	for _, r := range w.srv.Requests() {
		if r.Method == http.MethodDelete {
			n++
		}
	}
	return n
}

// recorder is a function.Deliver that keeps what it is handed.
type recorder struct {
	mu      sync.Mutex
	results []events.Result
	failAt  int // fail the failAt-th delivery (1-based); 0: never
}

func (r *recorder) deliver(_ context.Context, res events.Result) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.failAt > 0 && len(r.results)+1 == r.failAt {
		return errors.New("sink down")
	}
	r.results = append(r.results, res)
	return nil
}

func ids(ds []events.BackupDeleted) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.BackupID
	}
	return out
}

func backupIDs(bs []cbr.Backup) []string {
	out := make([]string, len(bs))
	for i, b := range bs {
		out[i] = b.ID
	}
	return out
}

// TestPassKeepLast: of twelve restore points with keep_last=5, the seven
// oldest are chosen, oldest first; the locked one is refused and stays, the
// protecting one and the newest are never touched, nor anything that is
// not restorepoint's, nor another resource's history, nor another vault's.
// Each deletion is delivered as a result with an id derived from the backup.
// The list is paged (by 4) and every page's marker is a backup it lists.
func TestPassKeepLast(t *testing.T) {
	w := newWorld(t)
	rec := &recorder{}
	p := w.pruner(t, retention.Config{Policy: retention.Policy{KeepLast: 5}}, retention.WithPageSize(4))
	rep, err := p.Pass(context.Background(), rec.deliver)
	if err != nil {
		t.Fatal(err)
	}
	wantDeleted := slices.DeleteFunc(backupIDs(w.ours[:7]), func(id string) bool { return id == w.locked })
	if got := ids(rep.Deleted); !slices.Equal(got, wantDeleted) {
		t.Errorf("deleted %v, want the six oldest but the locked one, oldest first: %v", got, wantDeleted)
	}
	if len(rep.Refused) != 1 || rep.Refused[0].Backup.BackupID != w.locked || rep.Refused[0].Code != cbrtest.CodeBackupLocked || rep.Refused[0].Message == "" {
		t.Errorf("refused %+v, want the locked backup with CBR's code", rep.Refused)
	}
	if len(rep.Spared) != 1 || rep.Spared[0].BackupID != w.protecting || rep.Spared[0].Status != cbr.StatusProtecting {
		t.Errorf("spared %+v, want the protecting backup", rep.Spared)
	}
	left := w.left()
	for _, id := range wantDeleted {
		if left[id] {
			t.Errorf("backup %s is still there", id)
		}
	}
	for _, id := range slices.Concat(backupIDs(w.ours[7:]), []string{w.locked, w.protecting}, w.decoys, w.otherResource, w.far) {
		if !left[id] {
			t.Errorf("backup %s was deleted", id)
		}
	}
	if v := rep.Vaults; len(v) != 1 || v[0].Listed != 19 || v[0].Marked != 15 || v[0].Resources != 2 || v[0].Chosen != 7 {
		t.Errorf("vault report %+v", v)
	}
	if rep.Capped || rep.Stopped != "" || rep.DryRun {
		t.Errorf("report %+v", rep)
	}

	if len(rec.results) != len(wantDeleted) {
		t.Fatalf("%d results delivered, want %d", len(rec.results), len(wantDeleted))
	}
	for i, r := range rec.results {
		d := r.Deleted
		if r.Type != events.TypeBackupDeleted || d == nil || d.BackupID != wantDeleted[i] || r.Subject != cbrtest.ExampleVaultID ||
			r.ID != function.ResultID(d.BackupID, events.TypeBackupDeleted) {
			t.Fatalf("result %d: %+v", i, r)
		}
		b := w.ours[slices.IndexFunc(w.ours, func(b cbr.Backup) bool { return b.ID == d.BackupID })]
		if d.Rule != "keep_last=5" || d.CheckpointID != b.CheckpointID || d.VaultID != cbrtest.ExampleVaultID ||
			d.Resource.ID != cbrtest.ExampleServerID || d.Resource.Name != cbrtest.ExampleServerName || d.Resource.Type != "OS::Nova::Server" ||
			d.CreatedAt != b.CreatedAt.String() || d.AgeSeconds != int64(now.Sub(b.CreatedAt.Time)/time.Second) || d.AlreadyGone {
			t.Errorf("result %d data %+v", i, d)
		}
	}
	// 19 backups by 4: five list requests, each after the first with the
	// previous page's last backup as marker.
	var lists []string
	for _, r := range w.srv.Requests() {
		if r.Method == http.MethodGet {
			lists = append(lists, r.Query)
		}
	}
	if len(lists) != 5 || strings.Contains(lists[0], "marker") || !strings.Contains(lists[1], "marker=") || !strings.Contains(lists[0], "sort=created_at%3Adesc") {
		t.Errorf("list requests %q", lists)
	}

	// A second pass finds nothing more to do but the locked one.
	rep, err = p.Pass(context.Background(), rec.deliver)
	if err != nil || len(rep.Deleted) != 0 || len(rep.Refused) != 1 {
		t.Errorf("second pass: %+v, %v", rep, err)
	}
}

// TestPassDryRun: a dry run chooses what a pass would delete and why,
// deletes nothing, delivers nothing.
func TestPassDryRun(t *testing.T) {
	w := newWorld(t)
	rec := &recorder{}
	before := w.left()
	rep, err := w.pruner(t, retention.Config{Policy: retention.Policy{KeepLast: 5}, DryRun: true}).Pass(context.Background(), rec.deliver)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := ids(rep.Deleted), backupIDs(w.ours[:7]); !rep.DryRun || !slices.Equal(got, want) {
		t.Errorf("would delete %v, want %v", got, want)
	}
	for _, d := range rep.Deleted {
		if d.Rule != "keep_last=5" {
			t.Errorf("rule %q", d.Rule)
		}
	}
	if w.deletes() != 0 || len(rec.results) != 0 || len(w.left()) != len(before) {
		t.Errorf("dry run: %d deletes, %d results, %d of %d backups left", w.deletes(), len(rec.results), len(w.left()), len(before))
	}
	if !strings.Contains(rep.Summary(), "total (dry run): would delete 7") {
		t.Errorf("summary %q", rep.Summary())
	}
}

// TestPassCap: the cap stops the pass after MaxDeletes deletions (the
// oldest), says so, and the next pass goes on where it stopped.
func TestPassCap(t *testing.T) {
	w := newWorld(t)
	p := w.pruner(t, retention.Config{Policy: retention.Policy{KeepLast: 5}, MaxDeletes: 3})
	rep, err := p.Pass(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	// The third oldest is locked: refused, not counted.
	want := []string{w.ours[0].ID, w.ours[1].ID, w.ours[3].ID}
	if got := ids(rep.Deleted); !rep.Capped || rep.Left != 3 || !slices.Equal(got, want) {
		t.Errorf("deleted %v capped %v left %d; want %v, capped, 3 left", got, rep.Capped, rep.Left, want)
	}
	if s := rep.Summary(); !strings.Contains(s, "capped: the pass stopped at 3 deletions (RETENTION_MAX_DELETES); 3 more") {
		t.Errorf("summary %q", s)
	}
	rep, err = p.Pass(context.Background(), nil)
	if got, want := ids(rep.Deleted), backupIDs(w.ours[4:7]); err != nil || !slices.Equal(got, want) || rep.Capped {
		t.Errorf("second pass deleted %v (capped %v, %v), want %v", got, rep.Capped, err, want)
	}
}

// TestPassMaxAge: max_age removes what is older than it, across resources
// and vaults, but never a resource's newest available backup.
func TestPassMaxAge(t *testing.T) {
	w := newWorld(t)
	p := w.pruner(t, retention.Config{Policy: retention.Policy{MaxAge: 5*24*time.Hour + time.Hour},
		Vaults: []string{cbrtest.ExampleVaultID, cbrtest.WeeklyVaultID}})
	rep, err := p.Pass(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	// Oldest first in each vault: the other resource's older one (301
	// hours); ours older than 5 days 1 hour, the seven oldest (12..6 days)
	// but the locked one, refused; in the other vault all but the newest.
	want := slices.Concat(w.otherResource[1:], slices.DeleteFunc(backupIDs(w.ours[:7]), func(id string) bool { return id == w.locked }),
		reversed(w.far[1:]))
	if got := ids(rep.Deleted); !slices.Equal(got, want) {
		t.Errorf("deleted %v\nwant %v", got, want)
	}
	var spared []string
	for _, s := range rep.Spared {
		spared = append(spared, s.BackupID)
		if s.BackupID == w.far[0] && !strings.Contains(s.Reason, "newest available") {
			t.Errorf("spared %+v", s)
		}
	}
	if !slices.Contains(spared, w.far[0]) || !slices.Contains(spared, w.otherResource[0]) || !slices.Contains(spared, w.protecting) {
		t.Errorf("spared %v, want the newest of each resource and the protecting one", spared)
	}
	for _, d := range rep.Deleted {
		if d.Rule != "max_age=121h" {
			t.Errorf("rule %q", d.Rule)
		}
	}
}

func reversed(s []string) []string {
	out := slices.Clone(s)
	slices.Reverse(out)
	return out
}

// TestPassListFailsMidway: a list that fails on its second page (after the
// client's retries) ends the pass with nothing deleted, in any vault, and
// says so.
func TestPassListFailsMidway(t *testing.T) {
	w := newWorld(t)
	w.srv.Inject(cbrtest.Fault{Method: http.MethodGet, Path: "/backups", After: 1, Times: -1, Status: http.StatusServiceUnavailable})
	p := w.pruner(t, retention.Config{Policy: retention.Policy{KeepLast: 1},
		Vaults: []string{cbrtest.WeeklyVaultID, cbrtest.ExampleVaultID}}, retention.WithPageSize(5))
	rep, err := p.Pass(context.Background(), nil)
	if err == nil || !strings.Contains(err.Error(), "nothing deleted") || !strings.Contains(err.Error(), cbrtest.WeeklyVaultID) {
		t.Fatalf("err = %v, want the failed list named", err)
	}
	if w.deletes() != 0 || len(rep.Deleted) != 0 || !strings.Contains(rep.Stopped, "failed after 5 backups: nothing was deleted") {
		t.Errorf("%d deletes, report %+v", w.deletes(), rep)
	}
	if !strings.Contains(rep.Summary(), "stopped: listing the backups") {
		t.Errorf("summary %q", rep.Summary())
	}
}

// TestPassStops: a forbidden delete ends the pass naming the permission; a
// result that cannot be delivered ends it after that deletion.
func TestPassStops(t *testing.T) {
	w := newWorld(t)
	w.srv.Inject(cbrtest.Fault{Method: http.MethodDelete, Status: http.StatusForbidden, After: 1})
	rep, err := w.pruner(t, retention.Config{Policy: retention.Policy{KeepLast: 5}}).Pass(context.Background(), nil)
	if err == nil || !strings.Contains(err.Error(), "cbr:backups:delete") || len(rep.Deleted) != 1 || len(rep.Refused) != 0 {
		t.Fatalf("forbidden: %v, report %+v", err, rep)
	}

	w = newWorld(t)
	rec := &recorder{failAt: 2}
	rep, err = w.pruner(t, retention.Config{Policy: retention.Policy{KeepLast: 5}}).Pass(context.Background(), rec.deliver)
	if err == nil || !strings.Contains(err.Error(), "was deleted but its event was not delivered") || len(rep.Deleted) != 2 || w.deletes() != 2 {
		t.Fatalf("sink down: %v, report %+v, %d deletes", err, rep, w.deletes())
	}
}

// goneAPI answers every delete as already gone, as CBR does for a backup an
// earlier attempt deleted.
type goneAPI struct{ *cbr.Client }

func (goneAPI) DeleteBackup(_ context.Context, id string) error {
	return fmt.Errorf("cbr: delete backup %s: %w", id, cbr.ErrNotFound)
}

// TestPassAlreadyGone: a backup CBR answers 404 for is reported as already
// gone, and its event delivered under the same id as a deletion's.
func TestPassAlreadyGone(t *testing.T) {
	w := newWorld(t)
	rec := &recorder{}
	p, err := retention.New(retention.Config{Policy: retention.Policy{KeepLast: 11}, Vaults: []string{cbrtest.ExampleVaultID}, MaxDeletes: 5},
		goneAPI{w.client}, retention.WithClock(func() time.Time { return now }))
	if err != nil {
		t.Fatal(err)
	}
	rep, err := p.Pass(context.Background(), rec.deliver)
	if err != nil || len(rep.Deleted) != 1 || !rep.Deleted[0].AlreadyGone || len(rec.results) != 1 ||
		rec.results[0].ID != function.ResultID(w.ours[0].ID, events.TypeBackupDeleted) || !rec.results[0].Deleted.AlreadyGone {
		t.Fatalf("%+v %v %+v", rep, err, rec.results)
	}
	if !strings.Contains(rep.Summary(), "total: deleted 1 (1 already gone)") {
		t.Errorf("summary %q", rep.Summary())
	}
}

func TestNewRefuses(t *testing.T) {
	w := newWorld(t)
	good := retention.Config{Policy: retention.Policy{KeepLast: 1}, Vaults: []string{"v"}, MaxDeletes: 1}
	for name, tc := range map[string]struct {
		cfg  func(c *retention.Config)
		opts []retention.Option
		want string
	}{
		"no rule":       {cfg: func(c *retention.Config) { c.Policy = retention.Policy{} }, want: "no rule"},
		"no vault":      {cfg: func(c *retention.Config) { c.Vaults = nil }, want: "no vault"},
		"empty vault":   {cfg: func(c *retention.Config) { c.Vaults = []string{"v", " "} }, want: "empty vault id"},
		"cap 0":         {cfg: func(c *retention.Config) { c.MaxDeletes = 0 }, want: "at least 1"},
		"page too big":  {opts: []retention.Option{retention.WithPageSize(cbr.MaxBackupsLimit + 1)}, want: "page size"},
		"page negative": {opts: []retention.Option{retention.WithPageSize(-1)}, want: "page size"},
	} {
		cfg := good
		if tc.cfg != nil {
			tc.cfg(&cfg)
		}
		if _, err := retention.New(cfg, w.client, tc.opts...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", name, err, tc.want)
		}
	}
	if _, err := retention.New(good, nil); err == nil {
		t.Error("no client: no error")
	}
}

// markerOf is the key marker of a trigger with id s, as restorepoint
// writes it at the end of the descriptions it sends.
func markerOf(s string) string { return function.KeyMarker(events.Ref{Source: "test", ID: s}.Digest()) }
