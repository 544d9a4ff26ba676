package cbr

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/restorepoint/restorepoint/failure"
)

// Backup statuses that mean a backup is gone or failed; any other status
// (available, protecting, restoring, …) counts as made.
const (
	BackupStatusError    = "error"
	BackupStatusDeleting = "deleting"
	BackupStatusDeleted  = "deleted"
)

// MaxBackupsLimit is the largest page ListBackups may ask for.
const MaxBackupsLimit = 1000

// Backup is one backup as GET /v3/{project_id}/backups lists it: each
// resource of a checkpoint becomes one backup carrying the checkpoint's name
// and description. Fields the client does not use are left out; unknown
// fields are ignored.
type Backup struct {
	// ID of the backup.
	ID string `json:"id"`
	// Name is the name given to the checkpoint at creation.
	Name string `json:"name"`
	// Description is the description given to the checkpoint at creation.
	Description string `json:"description"`
	// CheckpointID is the restore point the backup belongs to.
	CheckpointID string `json:"checkpoint_id"`
	// ResourceID, ResourceName and ResourceType describe the resource backed up.
	ResourceID   string `json:"resource_id"`
	ResourceName string `json:"resource_name,omitempty"`
	ResourceType string `json:"resource_type,omitempty"`
	// VaultID is the vault holding the backup.
	VaultID string `json:"vault_id"`
	// Status is available, protecting, deleting, restoring, error, …
	Status string `json:"status"`
	// CreatedAt is the creation time (with or without a zone).
	CreatedAt Timestamp `json:"created_at"`
}

// Gone reports whether the backup's status says it failed or is being
// removed: error, deleting or deleted.
func (b Backup) Gone() bool {
	switch b.Status {
	case BackupStatusError, BackupStatusDeleting, BackupStatusDeleted:
		return true
	}
	return false
}

// BackupList is the body of a 200 answer to GET /v3/{project_id}/backups.
type BackupList struct {
	// Backups on this page.
	Backups []Backup `json:"backups"`
	// Count is the number of backups matching the query, over all pages.
	Count int `json:"count"`
}

// BackupQuery filters and pages GET /v3/{project_id}/backups. Empty fields
// are not sent. Whether the server matches Name exactly or as a substring
// is not documented: compare names on the client's side.
type BackupQuery struct {
	VaultID      string
	Name         string
	CheckpointID string
	ResourceID   string
	Status       string
	// Limit is the page size, 1 to MaxBackupsLimit; 0 leaves it to the server.
	Limit int
	// Offset skips that many matches; Marker starts after the backup with
	// that ID. Use one of them.
	Offset int
	Marker string
	// Sort orders the matches, such as "created_at:desc".
	Sort string
}

// values encodes q as the query string.
func (q BackupQuery) values() (url.Values, error) {
	if q.Limit < 0 || q.Limit > MaxBackupsLimit {
		return nil, &failure.FieldError{Field: "limit", Rule: fmt.Sprintf("1 to %d", MaxBackupsLimit)}
	}
	if q.Offset < 0 {
		return nil, &failure.FieldError{Field: "offset", Rule: "at least 0"}
	}
	v := url.Values{}
	for _, kv := range [][2]string{
		{"vault_id", q.VaultID}, {"name", q.Name}, {"checkpoint_id", q.CheckpointID},
		{"resource_id", q.ResourceID}, {"status", q.Status}, {"marker", q.Marker}, {"sort", q.Sort},
	} {
		if kv[1] != "" {
			v.Set(kv[0], kv[1])
		}
	}
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	if q.Offset > 0 {
		v.Set("offset", strconv.Itoa(q.Offset))
	}
	return v, nil
}

// ListBackups lists one page of the project's backups matching q, from
// GET /v3/{project_id}/backups. It is retried like every call (it changes
// nothing). Reading it needs the permission cbr:backups:list.
func (c *Client) ListBackups(ctx context.Context, q BackupQuery) (*BackupList, error) {
	v, err := q.values()
	if err != nil {
		return nil, fmt.Errorf("cbr: list backups: %w", err)
	}
	target := c.endpoint + "/v3/" + url.PathEscape(c.projectID) + "/backups"
	if len(v) > 0 {
		target += "?" + v.Encode()
	}
	return callDecoded(ctx, c, "list backups", http.MethodGet, target, nil, decodeBackupList)
}

// decodeBackupList decodes a list-backups answer: one JSON object with a
// backups array (possibly empty) and a count that is not negative.
func decodeBackupList(data []byte) (*BackupList, error) {
	var raw struct {
		Backups *[]Backup `json:"backups"`
		Count   *int      `json:"count"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, err
	}
	if raw.Backups == nil {
		return nil, errors.New("no backups array in response")
	}
	out := &BackupList{Backups: *raw.Backups}
	if raw.Count != nil {
		if *raw.Count < 0 {
			return nil, errors.New("negative count in response")
		}
		out.Count = *raw.Count
	} else {
		out.Count = len(out.Backups)
	}
	return out, nil
}

// ErrNotFound is wrapped, with CBR's *APIError, by the error of DeleteBackup
// when CBR answers 404: the backup is already gone (deleted by an earlier
// attempt whose answer was lost, or by someone else).
var ErrNotFound = errors.New("not found")

// DeleteBackup deletes backup id through
// DELETE /v3/{project_id}/backups/{backup_id} (204, no body). Deleting is
// idempotent (a second delete finds nothing), so the call is retried like
// every call; a 404 is an error wrapping ErrNotFound: the backup is gone
// either way. A backup CBR will not delete (a locked one) answers an
// *APIError with CBR's code and message. It needs the permission
// cbr:backups:delete.
func (c *Client) DeleteBackup(ctx context.Context, id string) error {
	if strings.TrimSpace(id) == "" {
		return fmt.Errorf("cbr: delete backup: %w", &failure.FieldError{Field: "backup_id", Rule: "required"})
	}
	target := c.endpoint + "/v3/" + url.PathEscape(c.projectID) + "/backups/" + url.PathEscape(id)
	err := c.call(ctx, http.MethodDelete, target, nil, func([]byte) error { return nil })
	var apiErr *APIError
	if errors.As(err, &apiErr) && apiErr.StatusCode == http.StatusNotFound {
		return fmt.Errorf("cbr: delete backup %s: %w: %w", id, ErrNotFound, err)
	}
	if err != nil {
		return fmt.Errorf("cbr: delete backup %s: %w", id, err)
	}
	return nil
}
