package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/restorepoint/restorepoint/cbr"
	"github.com/restorepoint/restorepoint/cbr/cbrtest"
	"github.com/restorepoint/restorepoint/events"
	"github.com/restorepoint/restorepoint/function"
)

// Issue 19 against the built binary: a tag is enough to protect a server
// (CBR_ASSOCIATE), and `restorepoint prune` keeps what RETENTION says of the
// restore points restorepoint made, and nothing else is touched.

// associatedData is the part of a created result about association.
type associatedData struct {
	Checkpoints         []json.RawMessage `json:"checkpoints"`
	AssociatedResources []struct {
		ID, Type, Name string
	} `json:"associated_resources"`
	SkippedResources []struct {
		ID, Type, Code, Reason string
	} `json:"skipped_resources"`
}

// TestAssociateTaggedServer: with CBR_ASSOCIATE=true, a server in no vault
// tagged for the empty server vault ends associated and backed up, and the
// result says so; the same world's full vault leaves another tag's server
// skipped with CBR's code, nothing created.
func TestAssociateTaggedServer(t *testing.T) {
	w := newWorld(t, options{env: map[string]string{"CBR_ASSOCIATE": "true"}})
	reply, status := w.mustSend(taggedEvent("tag-assoc-1", cbrtest.UnassociatedServerID, cbrtest.ServerVaultID))
	d := expectCreated(t, reply, status, "tag-assoc-1")
	var a associatedData
	if err := json.Unmarshal(reply.Data(), &a); err != nil {
		t.Fatal(err)
	}
	if len(a.AssociatedResources) != 1 || a.AssociatedResources[0].ID != cbrtest.UnassociatedServerID ||
		a.AssociatedResources[0].Type != "OS::Nova::Server" || len(d.SkippedResources) != 0 {
		t.Fatalf("result %s: want the server associated, nothing skipped", reply.Data())
	}
	cp, ok := w.emu.Checkpoint(d.Checkpoints[0].ID)
	if !ok || len(cp.Vault.Resources) != 1 || cp.Vault.Resources[0].ID != cbrtest.UnassociatedServerID || cp.Vault.ID != cbrtest.ServerVaultID {
		t.Fatalf("checkpoint %+v: want the server backed up into the server vault", cp)
	}
	expectSinkHas(t, w.sink, reply.ID())

	// The same server again: it is in the vault now, no addresources call.
	before := countRequests(w.emu, http.MethodPost, "/addresources")
	reply, status = w.mustSend(taggedEvent("tag-assoc-2", cbrtest.UnassociatedServerID, cbrtest.ServerVaultID))
	expectCreated(t, reply, status, "tag-assoc-2")
	if n := countRequests(w.emu, http.MethodPost, "/addresources"); n != before || strings.Contains(string(reply.Data()), "associated_resources") {
		t.Errorf("already associated: %d addresources calls (was %d), result %s", n, before, reply.Data())
	}
}

// TestAssociateFullVault: a full vault refuses the server: it is skipped
// with CBR's code and message, answered 200, no restore point is made.
func TestAssociateFullVault(t *testing.T) {
	w := newWorld(t, options{env: map[string]string{"CBR_ASSOCIATE": "true"}})
	if err := w.emu.FillVault(cbrtest.ServerVaultID); err != nil {
		t.Fatal(err)
	}
	reply, status := w.mustSend(taggedEvent("tag-full-1", cbrtest.UnassociatedServerID, cbrtest.ServerVaultID))
	if status != http.StatusOK || reply == nil || reply.Type() != events.TypeCheckpointCreated {
		t.Fatalf("status %d, reply %v", status, reply)
	}
	var a associatedData
	if err := json.Unmarshal(reply.Data(), &a); err != nil {
		t.Fatal(err)
	}
	if len(a.Checkpoints) != 0 || len(a.AssociatedResources) != 0 || len(a.SkippedResources) != 1 ||
		a.SkippedResources[0].ID != cbrtest.UnassociatedServerID || a.SkippedResources[0].Code != cbrtest.CodeVaultFull ||
		a.SkippedResources[0].Reason == "" {
		t.Fatalf("result %s: want the server skipped with %s", reply.Data(), cbrtest.CodeVaultFull)
	}
	if n := w.emu.CountCreates(); n != 0 || len(creates(w.emu)) != 0 {
		t.Errorf("%d creates, want none", n)
	}
	expectSinkHas(t, w.sink, reply.ID())
}

func countRequests(emu *cbrtest.Server, method, pathSuffix string) int {
	n := 0
	for _, r := range emu.Requests() {
		if r.Method == method && strings.HasSuffix(r.Path, pathSuffix) {
			n++
		}
	}
	return n
}

// clock is the emulator's settable clock, so that restore points made
// through the front door are hours apart.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// history is a world whose example vault holds twelve restore points of the
// example server made through the front door (deploy.pre triggers an hour
// apart, the newest an hour ago), the second oldest locked, a newer one of
// restorepoint's still protecting, and decoys: backups of another tool whose
// names are like restorepoint's but whose descriptions carry no marker.
type history struct {
	*world
	ours       []cbr.Backup // oldest first
	locked     string
	protecting string
	decoys     []string
}

func newHistory(t *testing.T, env map[string]string) *history {
	t.Helper()
	c := &clock{t: time.Now()}
	opts := options{emu: cbrtest.Options{Now: c.now}, env: map[string]string{
		"CBR_DEFAULT_VAULT_ID": cbrtest.ExampleVaultID, "RETENTION": "keep_last=5"}}
	for k, v := range env {
		opts.env[k] = v
	}
	w := newWorld(t, opts)
	h := &history{world: w}
	start := time.Now().Add(-13 * time.Hour)
	for i := range 12 {
		c.set(start.Add(time.Duration(i) * time.Hour))
		e := event.New()
		e.SetID(fmt.Sprintf("deploy-%d", i))
		e.SetSource("/e2e/ci")
		e.SetType(events.TypeDeployPre)
		_ = e.SetData(event.ApplicationJSON, map[string]any{"service": "shop", "version": fmt.Sprintf("1.%d", i),
			"vault_id": cbrtest.ExampleVaultID, "resources": []string{cbrtest.ExampleServerID}})
		reply, status := w.mustSend(e)
		d := expectCreated(t, reply, status, e.ID())
		for _, b := range w.emu.Backups() {
			if b.CheckpointID == d.Checkpoints[0].ID {
				h.ours = append(h.ours, b)
			}
		}
	}
	c.set(time.Now())
	if len(h.ours) != 12 {
		t.Fatalf("%d backups made, want 12", len(h.ours))
	}
	h.locked = h.ours[1].ID
	w.emu.SetBackupLocked(h.locked, true)
	cps, err := w.emu.SeedCheckpoints(cbrtest.Seed{VaultID: cbrtest.ExampleVaultID, Resources: []string{cbrtest.ExampleServerID},
		Name: "pre-deploy-shop-1-13-0a1b2c3d4e", Description: "Before deploying shop " + markerOf("/e2e/ci\x00deploy-13")})
	if err != nil {
		t.Fatal(err)
	}
	w.emu.SetBackupStatus(cps[0].ID, cbr.StatusProtecting)
	h.protecting = h.backupOf(cps[0].ID)
	for i, desc := range []string{
		"Backup by another tool",
		"Before deploying shop 1.0 [rp:tool]",
		"Before deploying shop [rp:0123456789ABCDEF01234567]",
		"[rp:0123456789abcdef01234567] then more text",
	} {
		cps, err := w.emu.SeedCheckpoints(cbrtest.Seed{VaultID: cbrtest.ExampleVaultID, Resources: []string{cbrtest.ExampleServerID},
			Name: fmt.Sprintf("pre-deploy-shop-1-%d", i), Description: desc, CreatedAt: start.Add(-time.Duration(i+1) * time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		h.decoys = append(h.decoys, h.backupOf(cps[0].ID))
	}
	return h
}

// backupOf returns the id of the one backup of checkpoint id.
func (h *history) backupOf(id string) string {
	for _, b := range h.emu.Backups() {
		if b.CheckpointID == id {
			return b.ID
		}
	}
	h.t.Fatalf("no backup of checkpoint %s", id)
	return ""
}

// left returns the ids of the backups the emulator keeps.
func (h *history) left() []string {
	var out []string
	for _, b := range h.emu.Backups() {
		out = append(out, b.ID)
	}
	return out
}

// prune runs `restorepoint prune args...` with the world's environment plus
// extra, and returns its output and exit status. Its output goes into the
// secret search.
func (w *world) prune(extra map[string]string, args ...string) (stdout, stderr string, status int) {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binPath, append([]string{"prune"}, args...)...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "GORACE=atexit_sleep_ms=0"}
	for k, v := range w.env {
		if _, ok := extra[k]; !ok {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
	}
	for k, v := range extra {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		status = exit.ExitCode()
	default:
		w.t.Fatalf("restorepoint prune: %v", err)
	}
	w.record(nil, append(out.Bytes(), errOut.Bytes()...))
	if bytes.Contains(errOut.Bytes(), []byte("WARNING: DATA RACE")) {
		w.t.Errorf("data race in restorepoint prune:\n%s", errOut.Bytes())
	}
	return out.String(), errOut.String(), status
}

// deletedEvents returns the io.restorepoint.backup.deleted events the sink
// acknowledged.
func deletedEvents(s *sink) []event.Event {
	var out []event.Event
	for _, e := range s.Events() {
		if e.Type() == events.TypeBackupDeleted {
			out = append(out, e)
		}
	}
	return out
}

// TestPruneKeepLast: twelve restore points of one resource with
// keep_last=5. A dry run lists the seven that would go and deletes nothing;
// the pass then deletes six of them, oldest first (the locked one is refused
// and stays), each reported to the sink under an id derived from the
// backup; the five newest, the protecting one and the decoys stay.
func TestPruneKeepLast(t *testing.T) {
	h := newHistory(t, nil)
	all := h.left()

	out, errOut, status := h.prune(nil, "--dry-run")
	if status != 0 || linesWith(out, "would delete ") != 7 || !strings.Contains(out, "rule=keep_last=5") {
		t.Fatalf("dry run: exit %d\n%s\n%s", status, out, errOut)
	}
	if got := h.left(); !slices.Equal(got, all) || countRequests(h.emu, http.MethodDelete, "") != 0 {
		t.Fatalf("the dry run deleted something: %d of %d backups left", len(got), len(all))
	}
	if n := len(deletedEvents(h.sink)); n != 0 {
		t.Fatalf("the dry run sent %d events", n)
	}

	out, errOut, status = h.prune(nil)
	if status != 0 || linesWith(out, "deleted ") != 6 || linesWith(out, "refused "+h.locked) != 1 ||
		!strings.Contains(out, cbrtest.CodeBackupLocked) || linesWith(out, "spared "+h.protecting) != 1 {
		t.Fatalf("prune: exit %d\n%s\n%s", status, out, errOut)
	}
	var wantGone []string
	for _, b := range h.ours[:7] {
		if b.ID != h.locked {
			wantGone = append(wantGone, b.ID)
		}
	}
	left := h.left()
	for _, id := range wantGone {
		if slices.Contains(left, id) {
			t.Errorf("backup %s stays, want it deleted", id)
		}
	}
	keep := append([]string{h.locked, h.protecting}, h.decoys...)
	for _, b := range h.ours[7:] {
		keep = append(keep, b.ID)
	}
	for _, id := range keep {
		if !slices.Contains(left, id) {
			t.Errorf("backup %s was deleted", id)
		}
	}
	if len(left) != len(keep) {
		t.Errorf("%d backups left, want %d", len(left), len(keep))
	}

	evs := deletedEvents(h.sink)
	var got []string
	for _, e := range evs {
		var d events.BackupDeleted
		if err := json.Unmarshal(e.Data(), &d); err != nil {
			t.Fatal(err)
		}
		if e.ID() != function.ResultID(d.BackupID, events.TypeBackupDeleted) || e.Subject() != cbrtest.ExampleVaultID ||
			e.Source() != "restorepoint" || d.Rule != "keep_last=5" || d.Resource.ID != cbrtest.ExampleServerID || d.AgeSeconds <= 0 {
			t.Errorf("event %s %s: %s", e.ID(), e.Subject(), e.Data())
		}
		got = append(got, d.BackupID)
	}
	if !slices.Equal(got, wantGone) {
		t.Errorf("events for %v, want %v (oldest first)", got, wantGone)
	}

	// Once more: nothing of ours left to delete but the locked one.
	out, _, status = h.prune(nil)
	if status != 0 || linesWith(out, "deleted ") != 0 || linesWith(out, "refused ") != 1 {
		t.Errorf("second pass: exit %d\n%s", status, out)
	}
}

// TestPruneCap: RETENTION_MAX_DELETES stops a pass, which says so and exits
// 0; the next pass goes on.
func TestPruneCap(t *testing.T) {
	h := newHistory(t, map[string]string{"RETENTION_MAX_DELETES": "2"})
	out, errOut, status := h.prune(nil)
	if status != 0 || linesWith(out, "deleted ") != 2 || !strings.Contains(out, "capped: the pass stopped at 2 deletions") {
		t.Fatalf("exit %d\n%s\n%s", status, out, errOut)
	}
	left := h.left()
	if slices.Contains(left, h.ours[0].ID) || slices.Contains(left, h.ours[2].ID) || !slices.Contains(left, h.ours[3].ID) {
		t.Errorf("want the two oldest but the locked one deleted, the rest kept")
	}
	out, _, status = h.prune(nil)
	if status != 0 || linesWith(out, "deleted ") != 2 || slices.Contains(h.left(), h.ours[3].ID) {
		t.Errorf("second pass: exit %d\n%s", status, out)
	}
}

// TestPruneFailsAndRefuses: a list that fails ends the pass with exit 1 and
// nothing deleted; without RETENTION, or with a bad one, the command exits 2
// naming the variable.
func TestPruneFailsAndRefuses(t *testing.T) {
	h := newHistory(t, nil)
	all := h.left()
	h.emu.Inject(cbrtest.Fault{Method: http.MethodGet, Path: "/backups", Status: http.StatusServiceUnavailable, Times: -1})
	out, errOut, status := h.prune(map[string]string{"CBR_MAX_ATTEMPTS": "2"})
	if status != 1 || !strings.Contains(errOut, "nothing deleted") || !strings.Contains(out, "stopped: listing the backups") {
		t.Fatalf("list down: exit %d\n%s\n%s", status, out, errOut)
	}
	h.emu.ClearFaults()
	for extra, want := range map[string]string{"": "RETENTION: not set", "keep_last=0": "RETENTION: keep_last=0", "ttl=3d": `unknown key "ttl"`} {
		_, errOut, status := h.prune(map[string]string{"RETENTION": extra})
		if status != 2 || !strings.Contains(errOut, want) {
			t.Errorf("RETENTION=%q: exit %d, stderr %s", extra, status, errOut)
		}
	}
	if got := h.left(); !slices.Equal(got, all) {
		t.Errorf("%d of %d backups left", len(got), len(all))
	}
}

// linesWith counts the lines of out that start with prefix.
func linesWith(out, prefix string) int {
	n := 0
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, prefix) {
			n++
		}
	}
	return n
}

// markerOf is the key marker of a trigger with id s, as restorepoint
// writes it at the end of the descriptions it sends.
func markerOf(s string) string { return function.KeyMarker(events.Ref{Source: "test", ID: s}.Digest()) }
