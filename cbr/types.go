// Package cbr speaks the Open Telekom Cloud Cloud Backup and Recovery (CBR) v3 API:
// creating a restore point (checkpoint) in a vault and reading it back.
//
// The request and response types follow the API page "Creating a Restore Point"
// field for field. Decoding is tolerant where the live API drifts from its page
// (numbers sent as strings and back, timestamps with or without a zone), and
// every value re-encodes to the JSON it was decoded from.
package cbr

import (
	"encoding/json"
	"time"
)

// Checkpoint statuses, as reported in CheckpointCreate.Status.
const (
	StatusAvailable     = "available"
	StatusDeleting      = "deleting"
	StatusProtecting    = "protecting"
	StatusDeleted       = "deleted"
	StatusErrorDeleting = "error-deleting"
	StatusError         = "error"
)

// CreateCheckpointRequest is the body of POST /v3/{project_id}/checkpoints.
type CreateCheckpointRequest struct {
	// Checkpoint holds the parameters for backing up the vault. Mandatory.
	Checkpoint VaultBackup `json:"checkpoint"`
}

// VaultBackup says which vault to back up and how.
type VaultBackup struct {
	// Parameters of the backup; optional.
	Parameters *CheckpointParam `json:"parameters,omitempty"`
	// VaultID is the ID of the vault to back up. Mandatory.
	VaultID string `json:"vault_id"`
}

// CheckpointParam holds the optional parameters of a backup.
type CheckpointParam struct {
	// AutoTrigger says whether automatic triggering is enabled. Server default: false.
	AutoTrigger *bool `json:"auto_trigger,omitempty"`
	// Description of the backup, 0-255 characters.
	Description string `json:"description,omitempty"`
	// Incremental says whether the backup is incremental. Server default: true,
	// so a caller that wants a full backup must send an explicit false.
	Incremental *bool `json:"incremental,omitempty"`
	// Name of the backup: letters, digits, _ and -, 1-64 characters.
	Name string `json:"name,omitempty"`
	// Resources is the UUID list of resources to back up.
	Resources []string `json:"resources,omitempty"`
	// ResourceDetails describes resources to back up, at most 256.
	ResourceDetails []Resource `json:"resource_details,omitempty"`
}

// Resource describes one resource to back up.
type Resource struct {
	// ExtraInfo holds extra options for the resource (documented as "Vault name").
	ExtraInfo *ResourceExtraInfo `json:"extra_info,omitempty"`
	// ID of the resource. Mandatory.
	ID string `json:"id"`
	// Name of the resource, 0-255 characters.
	Name string `json:"name,omitempty"`
	// Type of the resource: otc.TypeServer, otc.TypeVolume or otc.TypeSFSTurbo. Mandatory.
	Type string `json:"type"`
}

// ResourceExtraInfo holds extra options for a resource to back up.
type ResourceExtraInfo struct {
	// ExcludeVolumes lists IDs of disks of a server that will not be backed up.
	ExcludeVolumes []string `json:"exclude_volumes,omitempty"`
}

// CheckpointResponse is the body of a 200 answer to create or get checkpoint.
type CheckpointResponse struct {
	// Checkpoint is the restore point information.
	Checkpoint CheckpointCreate `json:"checkpoint"`
}

// CheckpointCreate is a restore point as the API reports it.
type CheckpointCreate struct {
	// CreatedAt is the creation time.
	CreatedAt Timestamp `json:"created_at"`
	// ID of the restore point.
	ID string `json:"id"`
	// ProjectID of the project the restore point belongs to.
	ProjectID string `json:"project_id"`
	// Status is one of the Status* constants.
	Status string `json:"status"`
	// Vault describes the vault and what was backed up or skipped.
	Vault CheckpointPlanCreate `json:"vault"`
	// ExtraInfo holds the backup's name, description and retention.
	ExtraInfo *CheckpointExtraInfoResp `json:"extra_info,omitempty"`

	// Raw is the checkpoint object as the API wrote it, unknown fields
	// included; nil for a value made locally. It is what a caller reports
	// when it reports the API's answer unchanged.
	Raw json.RawMessage `json:"-"`
}

// UnmarshalJSON decodes a checkpoint object and keeps its bytes in Raw.
func (c *CheckpointCreate) UnmarshalJSON(b []byte) error {
	type fields CheckpointCreate // the same fields, without this method
	var f fields
	if err := json.Unmarshal(b, &f); err != nil {
		return err
	}
	f.Raw = append(json.RawMessage(nil), b...)
	*c = CheckpointCreate(f)
	return nil
}

// CheckpointPlanCreate is the vault part of a restore point.
type CheckpointPlanCreate struct {
	// ID of the vault.
	ID string `json:"id"`
	// Name of the vault.
	Name string `json:"name"`
	// Resources are the backup objects.
	Resources []CheckpointResourceResp `json:"resources"`
	// SkippedResources are the resources the API skipped during backup.
	// A 200 answer can still skip resources; always read this.
	SkippedResources []CheckpointCreateSkippedResource `json:"skipped_resources"`
}

// CheckpointResourceResp is one resource being backed up.
type CheckpointResourceResp struct {
	// ExtraInfo is extra information of the resource (documented as a string;
	// kept as the JSON it arrived as).
	ExtraInfo json.RawMessage `json:"extra_info,omitempty"`
	// ID of the resource.
	ID string `json:"id"`
	// Name of the resource.
	Name string `json:"name,omitempty"`
	// ProtectStatus is available, error, protecting, restoring or removing.
	ProtectStatus string `json:"protect_status,omitempty"`
	// ResourceSize is the allocated capacity in GB (string or number on the wire).
	ResourceSize *Quantity `json:"resource_size,omitempty"`
	// Type of the resource.
	Type string `json:"type"`
	// BackupSize is the backup size (string or number on the wire).
	BackupSize *Quantity `json:"backup_size,omitempty"`
	// BackupCount is the number of backups (string or number on the wire).
	BackupCount *Quantity `json:"backup_count,omitempty"`
}

// CheckpointCreateSkippedResource is a resource the API did not back up, and why.
type CheckpointCreateSkippedResource struct {
	// ID of the resource.
	ID string `json:"id"`
	// Type of the resource.
	Type string `json:"type"`
	// Name of the resource.
	Name string `json:"name"`
	// Code is the CBR error code, such as BackupService.6135.
	Code string `json:"code"`
	// Reason is the human-readable reason for skipping.
	Reason string `json:"reason"`
}

// CheckpointExtraInfoResp is extended information of a restore point.
type CheckpointExtraInfoResp struct {
	// Name of the backup.
	Name string `json:"name"`
	// Description of the backup.
	Description string `json:"description"`
	// RetentionDuration is the number of days backups are kept (-1: forever).
	RetentionDuration int `json:"retention_duration"`
}

// Bool returns a pointer to b, for the optional booleans of CheckpointParam.
func Bool(b bool) *bool { return &b }

// Timestamp is a time the API reports either with a zone
// ("2019-05-10T07:59:12.733+00:00") or without ("2020-02-05T10:38:34.209782",
// taken as UTC). It re-encodes to the text it was decoded from.
type Timestamp struct {
	time.Time
	raw string
}
