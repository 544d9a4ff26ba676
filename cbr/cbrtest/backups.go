package cbrtest

import (
	"cmp"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/restorepoint/restorepoint/cbr"
)

// backup is one backup the emulator keeps: one per resource backed up by a
// checkpoint, carrying the checkpoint's name and description.
type backup struct {
	cbr.Backup // as listed, but for Status
	cp         *checkpoint
	seq        int    // creation order, which breaks ties of created_at
	fails      bool   // ends in "error" instead of "available"
	status     string // set by SetBackupStatus; "" follows the lifecycle
	locked     bool   // refuses deletion
	deleted    bool
}

// addBackup records the backup of r in c. The caller holds e.mu.
func (e *Emulator) addBackup(c *checkpoint, r *resource) {
	b := &backup{cp: c, seq: e.nextSeq, fails: r.Fail, Backup: cbr.Backup{
		ID:           newUUID(),
		Name:         c.ExtraInfo.Name,
		Description:  c.ExtraInfo.Description,
		CheckpointID: c.ID,
		ResourceID:   r.ID,
		ResourceName: r.Name,
		ResourceType: r.Type,
		VaultID:      c.Vault.ID,
		CreatedAt:    c.CreatedAt,
	}}
	e.nextSeq++
	c.backups = append(c.backups, b)
	e.backups = append(e.backups, b)
	e.backupByID[b.ID] = b
	if r.newest == nil || !c.created.Before(r.newest.cp.created) {
		r.newest = b
	}
}

// backupStatus returns the status of b at now. The caller holds e.mu.
func (e *Emulator) backupStatus(b *backup, now time.Time) string {
	if b.status != "" {
		return b.status
	}
	return e.lifecycle(b.cp.created, b.fails, now)
}

// viewBackup returns b with its status at now. The caller holds e.mu.
func (e *Emulator) viewBackup(b *backup, now time.Time) cbr.Backup {
	out := b.Backup
	out.Status = e.backupStatus(b, now)
	return out
}

// olderBackup orders backups by created_at, then by creation.
func olderBackup(a, b *backup) int {
	return cmp.Or(a.cp.created.Compare(b.cp.created), cmp.Compare(a.seq, b.seq))
}

// Backups returns every backup kept (not deleted), oldest created_at first,
// with their status as of now.
func (e *Emulator) Backups() []cbr.Backup {
	e.mu.Lock()
	defer e.mu.Unlock()
	live := slices.SortedStableFunc(slices.Values(e.backups), olderBackup)
	now := e.now()
	out := make([]cbr.Backup, len(live))
	for i, b := range live {
		out[i] = e.viewBackup(b, now)
	}
	return out
}

// SetBackupStatus sets the status of every backup of checkpoint id (such as
// "error" or "deleted", as when it failed or was removed) and reports
// whether there were any. The checkpoint's status follows (see
// Emulator.Checkpoint).
func (e *Emulator) SetBackupStatus(id, status string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	c, ok := e.checkpoints[id]
	if !ok {
		return false
	}
	found := false
	for _, b := range c.backups {
		if !b.deleted {
			b.status, found = status, true
		}
	}
	return found
}

// SetBackupLocked locks backup id (true), so that deleting it answers 400
// BackupService.6150, or unlocks it (false), and reports whether the backup
// exists.
func (e *Emulator) SetBackupLocked(id string, locked bool) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	b, ok := e.backupByID[id]
	if ok {
		b.locked = locked
	}
	return ok
}

// backupResponse is the body of a 200 answer to GET /v3/{project_id}/backups/{backup_id}.
type backupResponse struct {
	Backup cbr.Backup `json:"backup"`
}

// lookupBackup returns the backup id of project. The caller holds e.mu.
func (e *Emulator) lookupBackup(project, id string) (*backup, bool) {
	b, ok := e.backupByID[id]
	if !ok || b.cp.ProjectID != project {
		return nil, false
	}
	return b, true
}

// showBackup answers GET /v3/{project_id}/backups/{backup_id}.
func (e *Emulator) showBackup(w http.ResponseWriter, project, id string) {
	e.mu.Lock()
	b, ok := e.lookupBackup(project, id)
	var out cbr.Backup
	if ok {
		out = e.viewBackup(b, e.now())
	}
	e.mu.Unlock()
	if !ok {
		writeError(w, http.StatusNotFound, CodeBackupNotFound, msgBackupNotFound)
		return
	}
	writeJSON(w, http.StatusOK, backupResponse{Backup: out})
}

// deleteBackup answers DELETE /v3/{project_id}/backups/{backup_id}: 204 and
// the backup is gone at once, from the list and from its checkpoint.
func (e *Emulator) deleteBackup(w http.ResponseWriter, project, id string) {
	e.mu.Lock()
	b, ok := e.lookupBackup(project, id)
	locked := ok && b.locked
	if ok && !locked {
		e.removeBackup(b)
	}
	e.mu.Unlock()
	switch {
	case !ok:
		writeError(w, http.StatusNotFound, CodeBackupNotFound, msgBackupNotFound)
	case locked:
		writeError(w, http.StatusBadRequest, CodeBackupLocked, msgBackupLocked)
	default:
		w.WriteHeader(http.StatusNoContent)
	}
}

// removeBackup deletes b. The caller holds e.mu.
func (e *Emulator) removeBackup(b *backup) {
	b.deleted = true
	delete(e.backupByID, b.ID)
	// e.backups is in creation order, so sorted by seq.
	if i, ok := slices.BinarySearchFunc(e.backups, b.seq, func(x *backup, seq int) int { return cmp.Compare(x.seq, seq) }); ok {
		e.backups = slices.Delete(e.backups, i, i+1)
	}
}

// listBackups answers GET /v3/{project_id}/backups with the filters
// checkpoint_id, name, vault_id, resource_id, resource_type, status, paged
// by limit (1-1000, default 1000) and offset or marker, sorted by sort
// (created_at:desc, the default, or created_at:asc; equal times in creation
// order). The name filter matches a substring: the real API does not
// document whether it matches exactly, and the emulator's choice keeps
// clients comparing names themselves. A marker must be a backup the query
// lists (an unknown, deleted or filtered-out one answers 400). One request
// costs one pass over the backups (only the checkpoint's with checkpoint_id)
// and a sort of those that match.
func (e *Emulator) listBackups(w http.ResponseWriter, project string, query url.Values) {
	limit, offset := cbr.MaxBackupsLimit, 0
	if s := query.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > cbr.MaxBackupsLimit {
			writeError(w, http.StatusBadRequest, CodeInvalidParameter,
				fmt.Sprintf("Invalid limit provided: %s is not 1 to %d.", quote(s), cbr.MaxBackupsLimit))
			return
		}
		limit = n
	}
	if s := query.Get("offset"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			writeError(w, http.StatusBadRequest, CodeInvalidParameter, "Invalid offset provided: "+quote(s)+".")
			return
		}
		offset = n
	}
	order := olderBackup
	switch query.Get("sort") {
	case "", "created_at:desc", "created_at":
		order = func(a, b *backup) int { return olderBackup(b, a) }
	case "created_at:asc":
	default:
		writeError(w, http.StatusBadRequest, CodeInvalidParameter, "Invalid sort provided: "+quote(query.Get("sort"))+".")
		return
	}

	filter := backupFilter{
		checkpointID: query.Get("checkpoint_id"), vaultID: query.Get("vault_id"), resourceID: query.Get("resource_id"),
		resourceType: query.Get("resource_type"), status: query.Get("status"), name: query.Get("name"),
	}
	e.mu.Lock()
	list, ok := e.queryBackups(project, filter, order, query.Get("marker"), offset, limit)
	e.mu.Unlock()
	if !ok {
		writeError(w, http.StatusBadRequest, CodeInvalidParameter, "Invalid marker provided: "+quote(query.Get("marker"))+".")
		return
	}
	writeJSON(w, http.StatusOK, list)
}

// backupFilter holds the filters of a list query; "" matches any.
type backupFilter struct {
	checkpointID, vaultID, resourceID, resourceType, status string
	// name matches a substring.
	name string
}

// matches reports whether b, whose status is status, passes f.
func (f backupFilter) matches(b *backup, status string) bool {
	for _, c := range [...][2]string{
		{f.checkpointID, b.CheckpointID}, {f.vaultID, b.VaultID}, {f.resourceID, b.ResourceID},
		{f.resourceType, b.ResourceType}, {f.status, status},
	} {
		if c[0] != "" && c[0] != c[1] {
			return false
		}
	}
	return strings.Contains(b.Name, f.name)
}

// queryBackups returns the page of project's backups that pass f, sorted by
// order, after the backup marker ("" for none) and offset more, at most
// limit; false when marker is not among them. The caller holds e.mu.
func (e *Emulator) queryBackups(project string, f backupFilter, order func(a, b *backup) int,
	marker string, offset, limit int) (cbr.BackupList, bool) {
	now := e.now()
	candidates := e.backups
	if f.checkpointID != "" {
		candidates = nil
		if c, ok := e.checkpoints[f.checkpointID]; ok {
			candidates = c.backups
		}
	}
	var matched []*backup
	for _, b := range candidates {
		if !b.deleted && b.cp.ProjectID == project && f.matches(b, e.backupStatus(b, now)) {
			matched = append(matched, b)
		}
	}
	slices.SortStableFunc(matched, order)
	if marker != "" {
		i := slices.IndexFunc(matched, func(b *backup) bool { return b.ID == marker })
		if i < 0 {
			return cbr.BackupList{}, false
		}
		offset += i + 1
	}
	page := matched[min(offset, len(matched)):]
	page = page[:min(limit, len(page))]
	list := cbr.BackupList{Backups: make([]cbr.Backup, len(page)), Count: len(matched)}
	for i, b := range page {
		list.Backups[i] = e.viewBackup(b, now)
	}
	return list, true
}
