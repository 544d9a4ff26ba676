// Package events names the CloudEvents restorepoint consumes and produces,
// decodes every known trigger payload (its own CloudEvents, Cloud Trace Service
// records, EventBridge envelopes) into one canonical Trigger, and defines the
// data of the result events.
//
// It knows nothing of the CBR client: a checkpoint request passed through by
// the caller stays raw JSON here and is decoded by the function.
//
// Every error of its decoders is a *failure.FieldError naming the offending
// field; one about the payload as a whole matches [ErrUnrecognized].
package events

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strconv"
	"time"

	"github.com/restorepoint/restorepoint/failure"
	"github.com/restorepoint/restorepoint/otc"
)

// Trigger event types (CloudEvents "type").
const (
	TypeServerTagged        = "io.restorepoint.server.tagged"
	TypeDeployPre           = "io.restorepoint.deploy.pre"
	TypeCheckpointRequested = "io.restorepoint.checkpoint.requested"
	// TypeFollow asks for a follow pass: every restore point not yet at its
	// end is read again, and those that ended are reported (a schedule's
	// trigger: EventBridge, a FunctionGraph timer, a Knative PingSource).
	TypeFollow = "io.restorepoint.follow"
)

// Result event types.
const (
	TypeCheckpointCreated = "io.restorepoint.checkpoint.created"
	TypeCheckpointFailed  = "io.restorepoint.checkpoint.failed"
	TypeTriggerIgnored    = "io.restorepoint.trigger.ignored"
	// TypeCheckpointAvailable says a restore point became usable: every
	// resource's backup is available. A restore point whose backup of a
	// resource ended in error is reported as TypeCheckpointFailed, with the
	// data of a Completion.
	TypeCheckpointAvailable = "io.restorepoint.checkpoint.available"
	// TypeFollowDone answers a follow pass: what it found and reported.
	TypeFollowDone = "io.restorepoint.follow.done"
	// TypeBackupDeleted is a backup restorepoint made and its retention
	// (RETENTION) removed.
	TypeBackupDeleted = "io.restorepoint.backup.deleted"
)

// Extension attribute names read from trigger events.
const (
	ExtensionDryRun      = "dryrun"
	ExtensionTraceParent = "traceparent"
)

// Kind is what a trigger asks for.
type Kind string

// Trigger kinds.
const (
	KindServerTagged Kind = "server.tagged"
	// KindFollow asks for a follow pass (TypeFollow).
	KindFollow              Kind = "follow"
	KindDeployPre           Kind = "deploy.pre"
	KindCheckpointRequested Kind = "checkpoint.requested"
	// KindIgnored is a recognised event that asks for nothing (a tag deletion,
	// a failed operation...); Trigger.IgnoreReason says why.
	KindIgnored Kind = "ignored"
)

// Ref identifies the event that caused a trigger. Sender, Source and ID
// together are the trigger's idempotency key.
type Ref struct {
	ID      string `json:"id"`
	Source  string `json:"source"`
	Type    string `json:"type"`
	Subject string `json:"subject,omitempty"`
	// Sender is the namespace of the key: "" for a CloudEvent (any sender
	// may compose its source and id), else the kind of sender whose own
	// identity the key is derived from (SenderGitHub, SenderCTS, ...), so
	// that no CloudEvent can claim the key of a signed delivery.
	Sender string `json:"sender,omitempty"`
	// Delivery is the sender's id of this one delivery, when it has one
	// (GitHub's X-GitHub-Delivery, GitLab's X-Gitlab-Event-UUID). It is not
	// part of the idempotency key: a redelivery may carry another.
	Delivery string `json:"delivery,omitempty"`
}

// MaxIDLength bounds the id and the source of a trigger, in bytes: longer
// ones are refused (CloudEvents ids are short; this stops hostile input).
const MaxIDLength = 1024

// Key returns the idempotency key of the event: its sender, source and id,
// each length-prefixed, so that no two Refs spell the same key.
func (r Ref) Key() string { return string(r.appendKey(nil)) }

func (r Ref) appendKey(b []byte) []byte {
	b = strconv.AppendInt(b, int64(len(r.Sender)), 10)
	b = append(append(b, ':'), r.Sender...)
	b = strconv.AppendInt(b, int64(len(r.Source)), 10)
	b = append(append(b, ':'), r.Source...)
	return append(b, r.ID...)
}

// Digest is the hex SHA-256 of Key: the fixed-size form of the key that is
// stored, and that names and markers in CBR are derived from.
func (r Ref) Digest() string {
	var key [256]byte // most keys fit: no allocation but the result's
	sum := sha256.Sum256(r.appendKey(key[:0]))
	var digest [2 * sha256.Size]byte
	hex.Encode(digest[:], sum[:])
	return string(digest[:])
}

// Short returns r with every attribute cut to a length fit for a log line or
// a reply (see otc.Shorten).
func (r Ref) Short() Ref {
	for _, s := range []*string{&r.ID, &r.Source, &r.Type, &r.Subject, &r.Delivery} {
		*s = otc.Shorten(*s)
	}
	return r
}

// Trigger is the canonical form of every accepted event: what to back up and why.
// Exactly one of ServerTagged, DeployPre and CheckpointRequested is set, as Kind
// says, unless Kind is KindIgnored.
type Trigger struct {
	// Ref is the identity of the event that arrived.
	Ref Ref
	// Kind says which of the payload fields is set.
	Kind Kind
	// Time is when the event happened, if it said.
	Time time.Time
	// DryRun is set by the event extension dryrun=true.
	DryRun bool
	// TraceParent is the W3C traceparent extension, carried to the result event.
	TraceParent string
	// IgnoreReason says why an event of KindIgnored asks for nothing.
	IgnoreReason string
	// Gate asks that every delivery of the trigger be answered from the
	// state of its restore point: pending, available or failed.
	Gate bool
	// Review is the GitHub deployment waiting for this trigger's restore
	// point (a custom deployment protection rule), when one is.
	Review *Review

	ServerTagged        *ServerTagged
	DeployPre           *DeployPre
	CheckpointRequested *CheckpointRequested
}

// Review is a GitHub deployment held by restorepoint's custom deployment
// protection rule: restorepoint approves it once the restore point is
// available and rejects it when it failed (or when there is nothing to back
// up), by posting to CallbackURL with an installation token.
type Review struct {
	InstallationID int64  `json:"installation_id"`
	CallbackURL    string `json:"callback_url"`
	Environment    string `json:"environment"`
	// Rejection, when not "", rejects the deployment at once with this
	// comment: there is no restore point to wait for.
	Rejection string `json:"rejection,omitempty"`
}

// ServerTagged is the data of io.restorepoint.server.tagged: a server got tags.
type ServerTagged struct {
	ServerID   string            `json:"server_id"`
	ServerName string            `json:"server_name,omitempty"`
	Tags       map[string]string `json:"tags,omitempty"`
	VaultID    string            `json:"vault_id,omitempty"`
	Wait       bool              `json:"wait,omitempty"`
}

// DeployPre is the data of io.restorepoint.deploy.pre: a deployment is about
// to start, back up first.
type DeployPre struct {
	Service     string        `json:"service"`
	Version     string        `json:"version,omitempty"`
	Environment string        `json:"environment,omitempty"`
	Resources   []ResourceRef `json:"resources"`
	VaultID     string        `json:"vault_id,omitempty"`
	Incremental *bool         `json:"incremental,omitempty"`
	AutoTrigger *bool         `json:"auto_trigger,omitempty"`
	Wait        bool          `json:"wait,omitempty"`
	Gate        bool          `json:"gate,omitempty"`
	Name        string        `json:"name,omitempty"`
	Description string        `json:"description,omitempty"`
}

// ResourceRef is a resource named in a trigger. In a deploy.pre event it is
// either a bare UUID string (Bare is set; it goes into the request's
// "resources") or an object (it goes into "resource_details").
type ResourceRef struct {
	ID   string `json:"id"`
	Type string `json:"type,omitempty"`
	Name string `json:"name,omitempty"`
	// Bare is true when the event named the resource by its ID alone.
	Bare bool `json:"-"`
}

// CheckpointRequested is the data of io.restorepoint.checkpoint.requested: the
// API's own request body, passed through after validation.
type CheckpointRequested struct {
	// Body is the inner VaultBackup object ({"vault_id":...,"parameters":{...}}),
	// unwrapped from {"checkpoint":{...}} when it came wrapped.
	Body json.RawMessage
	// Wait asks to wait until the checkpoint is available (top-level "wait":true).
	Wait bool
	// Gate asks to be answered as a gate (top-level "gate":true).
	Gate bool
}

// Created is the data of io.restorepoint.checkpoint.created.
type Created struct {
	Trigger Ref    `json:"trigger"`
	VaultID string `json:"vault_id"`
	// Checkpoints are the restore points made, in order. Empty on a dry run.
	Checkpoints []Checkpoint `json:"checkpoints"`
	// Resources are the resources asked for (empty: the whole vault).
	Resources []ResourceRef `json:"resources"`
	// SkippedResources are every skipped resource of every checkpoint.
	SkippedResources []SkippedResource `json:"skipped_resources"`
	// AssociatedResources are the resources associated with the vault
	// before backing up (CBR_ASSOCIATE=true); omitted when none.
	AssociatedResources []ResourceRef `json:"associated_resources,omitempty"`
	Duplicate           bool          `json:"duplicate"`
	DryRun              bool          `json:"dry_run"`
	// Requests are the planned request bodies, on a dry run only.
	Requests []json.RawMessage `json:"requests,omitempty"`
}

// CheckpointIDs returns the ids of c's checkpoints, in order.
func (c *Created) CheckpointIDs() []string {
	ids := make([]string, len(c.Checkpoints))
	for i, cp := range c.Checkpoints {
		ids[i] = cp.ID
	}
	return ids
}

// Checkpoint is a restore point in a created result: its id and status, and
// the API's answer for it, which the result event reports unchanged.
type Checkpoint struct {
	// ID is the checkpoint's id.
	ID string
	// Status is its status as last read (protecting, available, error...).
	Status string
	// JSON is the checkpoint object as the API returned it (or, after
	// waiting, as last read back), unknown fields included.
	JSON json.RawMessage
}

// MarshalJSON writes the checkpoint as the API returned it.
func (c Checkpoint) MarshalJSON() ([]byte, error) {
	if len(c.JSON) == 0 {
		return []byte("null"), nil
	}
	return c.JSON, nil
}

// UnmarshalJSON reads a checkpoint object as the API returns it.
func (c *Checkpoint) UnmarshalJSON(b []byte) error {
	var head struct {
		ID     string `json:"id"`
		Status string `json:"status"`
	}
	if err := json.Unmarshal(b, &head); err != nil {
		return err
	}
	*c = Checkpoint{ID: head.ID, Status: head.Status, JSON: append(json.RawMessage(nil), b...)}
	return nil
}

// SkippedResource is a resource the API did not back up, and why.
type SkippedResource struct {
	ID     string `json:"id"`
	Type   string `json:"type"`
	Name   string `json:"name"`
	Code   string `json:"code"`
	Reason string `json:"reason"`
}

// Failed is the data of io.restorepoint.checkpoint.failed.
type Failed struct {
	Trigger Ref     `json:"trigger"`
	VaultID string  `json:"vault_id,omitempty"`
	Error   Failure `json:"error"`
}

// Failure says why a trigger failed.
type Failure struct {
	// Class is what the sender can do about it; the front doors map it to
	// their answer.
	Class     failure.Class `json:"class"`
	Status    int           `json:"status"`
	Code      string        `json:"code,omitempty"`
	Message   string        `json:"message"`
	RequestID string        `json:"request_id,omitempty"`
	Retryable bool          `json:"retryable"`
	// RetryAfter is the server's Retry-After, for throttled failures.
	RetryAfter time.Duration `json:"-"`
}

// Ignored is the data of io.restorepoint.trigger.ignored.
type Ignored struct {
	Trigger Ref    `json:"trigger"`
	Reason  string `json:"reason"`
}

// BackupDeleted is the data of io.restorepoint.backup.deleted: a backup
// restorepoint made, deleted by its retention, and the rule that chose it.
type BackupDeleted struct {
	BackupID string `json:"backup_id"`
	// Resource is the resource the backup is of.
	Resource     ResourceRef `json:"resource"`
	CheckpointID string      `json:"checkpoint_id"`
	VaultID      string      `json:"vault_id"`
	// CreatedAt is the backup's creation time as CBR reported it.
	CreatedAt string `json:"created_at"`
	// AgeSeconds is the backup's age when it was chosen, in whole seconds.
	AgeSeconds int64 `json:"age_seconds"`
	// Rule is the retention rule that chose it: "keep_last=7" or "max_age=720h".
	Rule string `json:"rule"`
	// AlreadyGone says CBR answered 404: the backup was gone already (an
	// earlier attempt of the same pass, or someone else, deleted it).
	AlreadyGone bool `json:"already_gone,omitempty"`
}

// Completion is the data of io.restorepoint.checkpoint.available and, for a
// restore point that ended in error, of io.restorepoint.checkpoint.failed:
// how a restore point restorepoint made ended.
type Completion struct {
	// Trigger is the event that asked for it; only Marker when the restore
	// point was found in CBR by its marker alone.
	Trigger Ref `json:"trigger"`
	// Marker is the key marker its descriptions end with ("[rp:…]").
	Marker  string `json:"marker"`
	VaultID string `json:"vault_id"`
	// CheckpointIDs are the restore point's checkpoints (several for a
	// trigger of more than 256 resources).
	CheckpointIDs []string `json:"checkpoint_ids"`
	// Resources are each resource's backup and how it ended.
	Resources []BackupState `json:"resources"`
	// CreatedAt is when CBR made it, CompletedAt when restorepoint saw it
	// end; Seconds the time between.
	CreatedAt   time.Time `json:"created_at"`
	CompletedAt time.Time `json:"completed_at"`
	Seconds     float64   `json:"duration_seconds"`
	// Error says what failed, for a failed restore point.
	Error *Failure `json:"error,omitempty"`
}

// BackupState is one resource's backup in a restore point.
type BackupState struct {
	ID           string `json:"id"`
	Type         string `json:"type,omitempty"`
	Name         string `json:"name,omitempty"`
	CheckpointID string `json:"checkpoint_id"`
	BackupID     string `json:"backup_id,omitempty"`
	Status       string `json:"status"`
}

// FollowReport is the data of io.restorepoint.follow.done: what one follow
// pass did.
type FollowReport struct {
	// Pending counts the restore points still being made after the pass.
	Pending int `json:"pending"`
	// Available and Failed count the restore points the pass saw end.
	Available int `json:"available"`
	Failed    int `json:"failed"`
	// Reviews counts the GitHub deployment reviews posted.
	Reviews int `json:"reviews"`
	// Deleted counts the backups retention removed, when it ran.
	Deleted int `json:"deleted,omitempty"`
	// Errors says what could not be done; it is tried again next pass.
	Errors []string `json:"errors,omitempty"`
}

// Result is what a trigger (or a retention pass) came to: exactly one of
// Created, Failed, Ignored, Deleted, Completed and Followed is set, as Type
// says (a failed Completion has Type TypeCheckpointFailed).
type Result struct {
	// Type is the result event type.
	Type string
	// Subject is the vault ID, when one was chosen.
	Subject string
	// TraceParent is carried over from the trigger.
	TraceParent string
	// ID is the result event's id: fresh for a new result, kept by the
	// idempotency record so that a duplicate's result has the same id.
	ID string

	Created   *Created
	Failed    *Failed
	Ignored   *Ignored
	Deleted   *BackupDeleted
	Completed *Completion
	Followed  *FollowReport
}

// Data returns the event data of the result.
func (r Result) Data() any {
	switch {
	case r.Created != nil:
		return r.Created
	case r.Failed != nil:
		return r.Failed
	case r.Deleted != nil:
		return r.Deleted
	case r.Completed != nil:
		return r.Completed
	case r.Followed != nil:
		return r.Followed
	default:
		return r.Ignored
	}
}
