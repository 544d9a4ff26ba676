package cbrtest

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/restorepoint/restorepoint/cbr"
)

// backup is one backup the emulator keeps: one per resource backed up by a
// checkpoint, carrying the checkpoint's name and description.
type backup struct {
	cbr.Backup
	cp     *checkpoint
	status string // set by SetBackupStatus; "" follows the checkpoint
}

// addBackups records a backup of every resource cp backed up. The caller
// holds e.mu.
func (e *Emulator) addBackups(cp *checkpoint, description string) {
	for _, r := range cp.Vault.Resources {
		e.backups = append(e.backups, &backup{cp: cp, Backup: cbr.Backup{
			ID:           newUUID(),
			Name:         cp.ExtraInfo.Name,
			Description:  description,
			CheckpointID: cp.ID,
			ResourceID:   r.ID,
			ResourceName: r.Name,
			ResourceType: r.Type,
			VaultID:      cp.Vault.ID,
			CreatedAt:    cp.CreatedAt,
		}})
	}
}

// viewBackup returns b with its status as of now. The caller holds e.mu.
func (e *Emulator) viewBackup(b *backup) cbr.Backup {
	out := b.Backup
	out.Status = b.status
	if out.Status == "" {
		out.Status = e.status(b.cp, e.now())
	}
	return out
}

// Backups returns every backup kept so far, oldest first, with their status
// as of now.
func (e *Emulator) Backups() []cbr.Backup {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]cbr.Backup, len(e.backups))
	for i, b := range e.backups {
		out[i] = e.viewBackup(b)
	}
	return out
}

// SetBackupStatus sets the status of every backup of checkpoint id (such as
// "error" or "deleted", as when it failed or was removed) and reports
// whether there were any.
func (e *Emulator) SetBackupStatus(id, status string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	found := false
	for _, b := range e.backups {
		if b.CheckpointID == id {
			b.status, found = status, true
		}
	}
	return found
}

// listBackups answers GET /v3/{project_id}/backups with the filters
// checkpoint_id, name, vault_id, resource_id, resource_type, status, paged
// by limit (1-1000, default 1000) and offset or marker, sorted by sort
// (created_at:desc, the default, or created_at:asc). The name filter matches
// a substring: the real API does not document whether it matches exactly,
// and the emulator's choice keeps clients comparing names themselves.
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
	desc := true
	switch query.Get("sort") {
	case "", "created_at:desc", "created_at":
	case "created_at:asc":
		desc = false
	default:
		writeError(w, http.StatusBadRequest, CodeInvalidParameter, "Invalid sort provided: "+quote(query.Get("sort"))+".")
		return
	}

	e.mu.Lock()
	var matched []cbr.Backup
	for _, b := range e.backups {
		if b.cp.ProjectID != project {
			continue
		}
		v := e.viewBackup(b)
		if !matchBackup(v, query) {
			continue
		}
		matched = append(matched, v)
	}
	e.mu.Unlock()
	if desc {
		slices.Reverse(matched) // kept in creation order
	}
	if m := query.Get("marker"); m != "" {
		i := slices.IndexFunc(matched, func(b cbr.Backup) bool { return b.ID == m })
		if i < 0 {
			writeError(w, http.StatusBadRequest, CodeInvalidParameter, "Invalid marker provided: "+quote(m)+".")
			return
		}
		offset += i + 1
	}
	page := matched[min(offset, len(matched)):]
	page = page[:min(limit, len(page))]
	writeJSON(w, http.StatusOK, cbr.BackupList{Backups: append([]cbr.Backup{}, page...), Count: len(matched)})
}

// matchBackup reports whether b passes the filters of query.
func matchBackup(b cbr.Backup, query url.Values) bool {
	for _, f := range []struct {
		param, value string
	}{
		{"checkpoint_id", b.CheckpointID}, {"vault_id", b.VaultID}, {"resource_id", b.ResourceID},
		{"resource_type", b.ResourceType}, {"status", b.Status},
	} {
		if want := query.Get(f.param); want != "" && want != f.value {
			return false
		}
	}
	return strings.Contains(b.Name, query.Get("name"))
}
