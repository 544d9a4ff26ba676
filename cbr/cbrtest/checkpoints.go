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

// checkpoint is a restore point the emulator created.
type checkpoint struct {
	cbr.CheckpointCreate           // as answered to the create call
	created              time.Time // by the emulator's clock
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
		case !validType(d.Type):
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
	vault, ok := e.vaults[vb.VaultID]
	if !ok {
		return cp, http.StatusNotFound, CodeVaultNotFound, msgVaultNotFound
	}
	now := e.now()
	p := vb.Parameters
	if p == nil {
		p = &cbr.CheckpointParam{}
	}

	backedUp := make([]cbr.CheckpointResourceResp, 0)
	skipped := make([]cbr.CheckpointCreateSkippedResource, 0)
	inVault := 0
	for _, w := range wantedResources(vault, p) {
		r, ok := vault.resource(w.id)
		if !ok {
			skipped = append(skipped, cbr.CheckpointCreateSkippedResource{
				ID: w.id, Type: w.typ, Name: w.name, Code: CodeNotInVault, Reason: msgNotInVault,
			})
			continue
		}
		inVault++
		if last, ok := e.lastBackup[r.ID]; ok && e.status(last, now) == cbr.StatusProtecting {
			skipped = append(skipped, cbr.CheckpointCreateSkippedResource{
				ID: r.ID, Type: r.Type, Name: r.Name, Code: CodeBeingBackedUp, Reason: msgBeingBackedUp,
			})
			continue
		}
		backedUp = append(backedUp, cbr.CheckpointResourceResp{
			ID:            r.ID,
			Name:          r.Name,
			ProtectStatus: cbr.StatusAvailable,
			ResourceSize:  cbr.NumberQuantity(int64(r.SizeGB)),
			Type:          r.Type,
		})
	}
	if inVault == 0 {
		return cp, http.StatusBadRequest, CodeNoResource, msgNoResource
	}

	name := p.Name
	if name == "" {
		name = "manualbk_" + randomHex(2)
	}
	c := &checkpoint{created: now, CheckpointCreate: cbr.CheckpointCreate{
		CreatedAt: timestamp(now),
		ID:        newUUID(),
		ProjectID: project,
		Status:    cbr.StatusProtecting,
		Vault: cbr.CheckpointPlanCreate{
			ID:               vault.ID,
			Name:             vault.Name,
			Resources:        backedUp,
			SkippedResources: skipped,
		},
		ExtraInfo: &cbr.CheckpointExtraInfoResp{
			Name:              name,
			Description:       p.Description,
			RetentionDuration: vault.retention(),
		},
	}}
	e.checkpoints[c.ID] = c
	e.order = append(e.order, c.ID)
	e.addBackups(c, p.Description)
	for _, r := range backedUp {
		e.lastBackup[r.ID] = c
	}
	return copyCheckpoint(c.CheckpointCreate), http.StatusOK, "", ""
}

// wantedResources lists the resources p asks for, without duplicates: the ids
// of p.Resources, then those of p.ResourceDetails (whose name and type are
// kept). No resources at all means every resource of the vault.
func wantedResources(vault *FixtureVault, p *cbr.CheckpointParam) []wanted {
	if len(p.Resources) == 0 && len(p.ResourceDetails) == 0 {
		all := make([]wanted, len(vault.Resources))
		for i, r := range vault.Resources {
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
		ok = c.ProjectID == project
		cp = e.view(c)
	}
	e.mu.Unlock()
	if !ok {
		writeError(w, http.StatusNotFound, CodeCheckpointNotFound, msgCheckpointNotFound)
		return
	}
	writeJSON(w, http.StatusOK, cbr.CheckpointResponse{Checkpoint: cp})
}

// Checkpoint returns the checkpoint id, with its status as of now, and
// whether it exists.
func (e *Emulator) Checkpoint(id string) (cbr.CheckpointCreate, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	c, ok := e.checkpoints[id]
	if !ok {
		return cbr.CheckpointCreate{}, false
	}
	return e.view(c), true
}

// Checkpoints returns every checkpoint created so far, oldest first, with
// their status as of now.
func (e *Emulator) Checkpoints() []cbr.CheckpointCreate {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]cbr.CheckpointCreate, len(e.order))
	for i, id := range e.order {
		out[i] = e.view(e.checkpoints[id])
	}
	return out
}

// view returns a copy of c with its status as of now. The caller holds e.mu.
func (e *Emulator) view(c *checkpoint) cbr.CheckpointCreate {
	cp := copyCheckpoint(c.CheckpointCreate)
	cp.Status = e.status(c, e.now())
	return cp
}

// status returns the status of c at now: "protecting" until AvailableAfter
// has passed since its creation, then "available".
func (e *Emulator) status(c *checkpoint, now time.Time) string {
	if e.availableAfter < 0 || !now.Before(c.created.Add(e.availableAfter)) {
		return cbr.StatusAvailable
	}
	return cbr.StatusProtecting
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
