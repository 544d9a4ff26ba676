package cbrtest

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/restorepoint/restorepoint/cbr"
	"github.com/restorepoint/restorepoint/otc"
)

// maxResourceName is the longest resource name in resource_details, in characters.
const maxResourceName = 255

// checkpoint is a restore point the emulator created or seeded.
type checkpoint struct {
	cbr.CheckpointCreate           // as answered to the create call
	created              time.Time // by the emulator's clock
	// backups holds the backup of each resource of Vault.Resources, in the
	// same order, deleted ones included.
	backups []*backup
}

// createBody is the create request body, with the mandatory checkpoint as a
// pointer so that its absence is detected.
type createBody struct {
	Checkpoint *cbr.VaultBackup `json:"checkpoint"`
}

// createCheckpoint answers POST /v3/{project_id}/checkpoints.
func (e *Emulator) createCheckpoint(w http.ResponseWriter, project string, body []byte) {
	if len(body) > MaxBodyBytes {
		writeError(w, http.StatusRequestEntityTooLarge, CodeInvalidParameter,
			fmt.Sprintf("The request body exceeds %d bytes.", MaxBodyBytes))
		return
	}
	var req createBody
	if err := json.Unmarshal(body, &req); err != nil {
		writeError(w, http.StatusBadRequest, CodeInvalidParameter, "Invalid request body: "+err.Error())
		return
	}
	if msg := validateBackup(req.Checkpoint); msg != "" {
		writeError(w, http.StatusBadRequest, CodeInvalidParameter, msg)
		return
	}

	e.mu.Lock()
	cp, status, code, msg := e.create(project, req.Checkpoint)
	if status == http.StatusOK {
		e.creates++
	}
	e.mu.Unlock()

	if status != http.StatusOK {
		writeError(w, status, code, msg)
		return
	}
	writeJSON(w, http.StatusOK, cbr.CheckpointResponse{Checkpoint: cp})
}

// validateBackup checks a create request like the real API does and returns
// the error message for the first problem, or "".
func validateBackup(vb *cbr.VaultBackup) string {
	if vb == nil {
		return "Invalid request body: checkpoint is required."
	}
	if vb.VaultID == "" {
		return "Invalid vault_id provided: vault_id is required."
	}
	p := vb.Parameters
	if p == nil {
		return ""
	}
	if p.Name != "" && !validName(p.Name) {
		return fmt.Sprintf("Invalid name provided: %s must be 1 to %d letters, digits, underscores or hyphens.",
			quote(p.Name), otc.MaxNameLen)
	}
	if n := utf8.RuneCountInString(p.Description); n > otc.MaxDescription {
		return fmt.Sprintf("Invalid description provided: %d characters, at most %d allowed.", n, otc.MaxDescription)
	}
	for i, id := range p.Resources {
		if id == "" {
			return fmt.Sprintf("Invalid resources provided: resources[%d] is empty.", i)
		}
	}
	if n := len(p.ResourceDetails); n > otc.MaxResources {
		return fmt.Sprintf("Invalid resource_details provided: %d resources, at most %d allowed.", n, otc.MaxResources)
	}
	for i, d := range p.ResourceDetails {
		switch {
		case d.ID == "":
			return fmt.Sprintf("Invalid resource_details provided: resource_details[%d].id is required.", i)
		case !otc.ValidResourceType(d.Type):
			return fmt.Sprintf("Invalid resource_details provided: resource_details[%d].type %s is not %s, %s or %s.",
				i, quote(d.Type), otc.TypeServer, otc.TypeVolume, otc.TypeSFSTurbo)
		case utf8.RuneCountInString(d.Name) > maxResourceName:
			return fmt.Sprintf("Invalid resource_details provided: resource_details[%d].name is longer than %d characters.",
				i, maxResourceName)
		}
	}
	return ""
}

// validName reports whether s matches ^[A-Za-z0-9_-]{1,64}$.
func validName(s string) bool {
	if len(s) < 1 || len(s) > otc.MaxNameLen {
		return false
	}
	for _, c := range []byte(s) {
		ok := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-'
		if !ok {
			return false
		}
	}
	return true
}

// quote quotes s for an error message, shortened to a readable length.
func quote(s string) string {
	const max = 64
	if utf8.RuneCountInString(s) > max {
		return fmt.Sprintf("%q...", string([]rune(s)[:max]))
	}
	return fmt.Sprintf("%q", s)
}

// wanted is a resource a create request asks for.
type wanted struct {
	id, name, typ string
}

// create creates a checkpoint of vb in project, or returns the status, code
// and message of the error. The caller holds e.mu.
func (e *Emulator) create(project string, vb *cbr.VaultBackup) (cp cbr.CheckpointCreate, status int, code, msg string) {
	v, ok := e.vaults[vb.VaultID]
	if !ok {
		return cp, http.StatusNotFound, CodeVaultNotFound, msgVaultNotFound
	}
	if v.full() {
		return cp, http.StatusBadRequest, CodeVaultFull, msgVaultFull
	}
	now := e.now()
	p := vb.Parameters
	if p == nil {
		p = &cbr.CheckpointParam{}
	}

	var backedUp []*resource
	skipped := make([]cbr.CheckpointCreateSkippedResource, 0)
	inVault := 0
	for _, w := range wantedResources(v, p) {
		r, ok := e.resources[w.id]
		if !ok || r.vault != v {
			skipped = append(skipped, cbr.CheckpointCreateSkippedResource{
				ID: w.id, Type: w.typ, Name: w.name, Code: CodeNotInVault, Reason: msgNotInVault,
			})
			continue
		}
		inVault++
		if e.busy(r, now) {
			skipped = append(skipped, cbr.CheckpointCreateSkippedResource{
				ID: r.ID, Type: r.Type, Name: r.Name, Code: CodeBeingBackedUp, Reason: msgBeingBackedUp,
			})
			continue
		}
		backedUp = append(backedUp, r)
	}
	if inVault == 0 {
		return cp, http.StatusBadRequest, CodeNoResource, msgNoResource
	}
	c := e.record(project, v, backedUp, skipped, p.Name, p.Description, now)
	return copyCheckpoint(c.CheckpointCreate), http.StatusOK, "", ""
}

// busy reports whether r's newest backup is still "protecting" at now.
func (e *Emulator) busy(r *resource, now time.Time) bool {
	b := r.newest
	return b != nil && !b.deleted && e.backupStatus(b, now) == cbr.StatusProtecting
}

// record keeps a new checkpoint of the resources rs of v, created at
// created, with a backup of each; name "" gets a generated name. The caller
// holds e.mu.
func (e *Emulator) record(project string, v *vault, rs []*resource, skipped []cbr.CheckpointCreateSkippedResource,
	name, description string, created time.Time) *checkpoint {
	if name == "" {
		name = "manualbk_" + randomHex(2)
	}
	c := &checkpoint{created: created, CheckpointCreate: cbr.CheckpointCreate{
		CreatedAt: timestamp(created),
		ID:        newUUID(),
		ProjectID: project,
		Status:    cbr.StatusProtecting,
		Vault: cbr.CheckpointPlanCreate{
			ID:               v.id,
			Name:             v.name,
			Resources:        make([]cbr.CheckpointResourceResp, len(rs)),
			SkippedResources: skipped,
		},
		ExtraInfo: &cbr.CheckpointExtraInfoResp{
			Name:              name,
			Description:       description,
			RetentionDuration: v.retention,
		},
	}}
	for i, r := range rs {
		c.Vault.Resources[i] = cbr.CheckpointResourceResp{
			ID:            r.ID,
			Name:          r.Name,
			ProtectStatus: cbr.StatusAvailable, // in the create answer, as in the page's example
			ResourceSize:  cbr.NumberQuantity(int64(r.SizeGB)),
			Type:          r.Type,
		}
		e.addBackup(c, r)
	}
	e.checkpoints[c.ID] = c
	e.order = append(e.order, c.ID)
	return c
}

// wantedResources lists the resources p asks for, without duplicates: the ids
// of p.Resources, then those of p.ResourceDetails (whose name and type are
// kept). No resources at all means every resource of the vault.
func wantedResources(v *vault, p *cbr.CheckpointParam) []wanted {
	if len(p.Resources) == 0 && len(p.ResourceDetails) == 0 {
		all := make([]wanted, len(v.resources))
		for i, r := range v.resources {
			all[i] = wanted{id: r.ID, name: r.Name, typ: r.Type}
		}
		return all
	}
	var list []wanted
	index := make(map[string]int)
	for _, id := range p.Resources {
		if _, dup := index[id]; !dup {
			index[id] = len(list)
			list = append(list, wanted{id: id})
		}
	}
	for _, d := range p.ResourceDetails {
		if i, dup := index[d.ID]; dup {
			list[i].name, list[i].typ = d.Name, d.Type
			continue
		}
		index[d.ID] = len(list)
		list = append(list, wanted{id: d.ID, name: d.Name, typ: d.Type})
	}
	return list
}

// showCheckpoint answers GET /v3/{project_id}/checkpoints/{checkpoint_id}.
func (e *Emulator) showCheckpoint(w http.ResponseWriter, project, id string) {
	e.mu.Lock()
	c, ok := e.checkpoints[id]
	var cp cbr.CheckpointCreate
	if ok {
		cp, ok = e.view(c)
		ok = ok && c.ProjectID == project
	}
	e.mu.Unlock()
	if !ok {
		writeError(w, http.StatusNotFound, CodeCheckpointNotFound, msgCheckpointNotFound)
		return
	}
	writeJSON(w, http.StatusOK, cbr.CheckpointResponse{Checkpoint: cp})
}

// Checkpoint returns the checkpoint id, with its status as of now, and
// whether it exists (one whose backups were all deleted does not).
func (e *Emulator) Checkpoint(id string) (cbr.CheckpointCreate, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	c, ok := e.checkpoints[id]
	if !ok {
		return cbr.CheckpointCreate{}, false
	}
	return e.view(c)
}

// Checkpoints returns every checkpoint created or seeded so far, in that
// order, with their status as of now; those whose backups were all deleted
// are left out.
func (e *Emulator) Checkpoints() []cbr.CheckpointCreate {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]cbr.CheckpointCreate, 0, len(e.order))
	for _, id := range e.order {
		if cp, ok := e.view(e.checkpoints[id]); ok {
			out = append(out, cp)
		}
	}
	return out
}

// view returns c as GET answers it now, and false when c is gone because
// its backups were all deleted. Its resources are those whose backup is not
// deleted, each with the status of its backup as protect_status; its status
// is "protecting" while any of them is, then "error" if any of them is,
// else "available". A checkpoint that backed up nothing (every resource
// skipped) is "protecting" for AvailableAfter, then "available". The caller
// holds e.mu.
func (e *Emulator) view(c *checkpoint) (cbr.CheckpointCreate, bool) {
	now := e.now()
	cp := copyCheckpoint(c.CheckpointCreate)
	if len(c.backups) == 0 {
		cp.Status = e.lifecycle(c.created, false, now)
		return cp, true
	}
	cp.Vault.Resources = cp.Vault.Resources[:0]
	protecting, failed := false, false
	for i, b := range c.backups {
		if b.deleted {
			continue
		}
		r := c.Vault.Resources[i]
		r.ProtectStatus = e.backupStatus(b, now)
		cp.Vault.Resources = append(cp.Vault.Resources, r)
		protecting = protecting || r.ProtectStatus == cbr.StatusProtecting
		failed = failed || r.ProtectStatus == cbr.StatusError
	}
	switch {
	case len(cp.Vault.Resources) == 0:
		return cbr.CheckpointCreate{}, false
	case protecting:
		cp.Status = cbr.StatusProtecting
	case failed:
		cp.Status = cbr.StatusError
	default:
		cp.Status = cbr.StatusAvailable
	}
	return cp, true
}

// lifecycle returns the status at now of a backup created at created:
// "protecting" until AvailableAfter has passed, then "error" if it fails,
// else "available".
func (e *Emulator) lifecycle(created time.Time, fails bool, now time.Time) string {
	switch {
	case e.availableAfter >= 0 && now.Before(created.Add(e.availableAfter)):
		return cbr.StatusProtecting
	case fails:
		return cbr.StatusError
	}
	return cbr.StatusAvailable
}

// Seed is a restore point for SeedCheckpoints.
type Seed struct {
	// VaultID is the vault, Resources the ids of the resources of the
	// vault to back up; none means every resource of the vault.
	VaultID   string
	Resources []string
	// Name and Description, as in a create request; "" names it
	// "manualbk_" and four hex digits.
	Name, Description string
	// CreatedAt is the creation time; zero means now.
	CreatedAt time.Time
}

// SeedCheckpoints adds restore points as if they had been created at their
// CreatedAt, without requests: quick history for tests of listing and
// pruning (a thousand backups in a few milliseconds). A seeded backup follows
// the lifecycle from its CreatedAt, so one created AvailableAfter ago or
// earlier is "available" (or "error" for a failing resource). Seeds are
// neither skipped for a backup in progress nor refused by a full vault, and
// CountCreates does not count them. If a seed names an unknown vault, a
// resource not in its vault, an empty vault or an invalid name or
// description, nothing is added and the error says which. It returns the
// checkpoints, with their status as of now.
func (e *Emulator) SeedCheckpoints(seeds ...Seed) ([]cbr.CheckpointCreate, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	resources := make([][]*resource, len(seeds))
	for i, s := range seeds {
		rs, err := e.seedResources(s)
		if err != nil {
			return nil, fmt.Errorf("cbrtest: seeds[%d]: %w", i, err)
		}
		resources[i] = rs
	}
	out := make([]cbr.CheckpointCreate, len(seeds))
	for i, s := range seeds {
		created := s.CreatedAt
		if created.IsZero() {
			created = e.now()
		}
		c := e.record(e.projectID, e.vaults[s.VaultID], resources[i], make([]cbr.CheckpointCreateSkippedResource, 0),
			s.Name, s.Description, created)
		out[i], _ = e.view(c)
	}
	return out, nil
}

// seedResources checks s and returns the resources it backs up. The caller
// holds e.mu.
func (e *Emulator) seedResources(s Seed) ([]*resource, error) {
	v, ok := e.vaults[s.VaultID]
	switch {
	case !ok:
		return nil, fmt.Errorf("no vault %q", s.VaultID)
	case s.Name != "" && !validName(s.Name):
		return nil, fmt.Errorf("name %s is not 1 to %d letters, digits, underscores or hyphens", quote(s.Name), otc.MaxNameLen)
	case utf8.RuneCountInString(s.Description) > otc.MaxDescription:
		return nil, fmt.Errorf("description is longer than %d characters", otc.MaxDescription)
	}
	if len(s.Resources) == 0 {
		if len(v.resources) == 0 {
			return nil, fmt.Errorf("vault %q holds no resource", s.VaultID)
		}
		return v.resources, nil
	}
	rs := make([]*resource, len(s.Resources))
	for i, id := range s.Resources {
		r, ok := e.resources[id]
		switch {
		case !ok || r.vault != v:
			return nil, fmt.Errorf("resource %q is not in vault %q", id, s.VaultID)
		case slices.Contains(rs[:i], r):
			return nil, fmt.Errorf("resource %q is listed twice", id)
		}
		rs[i] = r
	}
	return rs, nil
}

// copyCheckpoint returns a copy of cp that shares no slices or pointers
// the emulator may change.
func copyCheckpoint(cp cbr.CheckpointCreate) cbr.CheckpointCreate {
	cp.Vault.Resources = slices.Clone(cp.Vault.Resources)
	cp.Vault.SkippedResources = slices.Clone(cp.Vault.SkippedResources)
	if cp.ExtraInfo != nil {
		extra := *cp.ExtraInfo
		cp.ExtraInfo = &extra
	}
	return cp
}

// timestamp returns t as the API writes created_at:
// "2019-05-10T07:59:12.733+00:00" (UTC, milliseconds).
func timestamp(t time.Time) cbr.Timestamp {
	s := t.UTC().Format("2006-01-02T15:04:05.000") + "+00:00"
	ts, err := cbr.ParseTimestamp(s)
	if err != nil { // cannot happen: s is RFC 3339
		return cbr.NewTimestamp(t.UTC())
	}
	return ts
}

// randomHex returns n random bytes in hex.
func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails; see crypto/rand.Read
	return hex.EncodeToString(b)
}
