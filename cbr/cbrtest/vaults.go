package cbrtest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"
	"unicode/utf8"

	"github.com/restorepoint/restorepoint/cbr"
	"github.com/restorepoint/restorepoint/otc"
)

// vault is the live state of a fixture vault: addresources, FillVault and
// SetVaultUsed change it, Reset restores it.
type vault struct {
	id, name, typ string
	retention     int // as reported in extra_info: -1 is forever
	sizeGB        int // capacity
	usedGB        int
	resources     []*resource // associated, in the order they were associated
}

// full reports whether v's used capacity has reached its size.
func (v *vault) full() bool { return v.usedGB >= v.sizeGB }

// resource is a resource of the emulated cloud, in a vault or not.
type resource struct {
	FixtureResource         // Fail is the live setting of FailResource
	vault           *vault  // the vault it is associated with; nil for none
	newest          *backup // its backup created last (by created_at); nil for none
}

// resetCloud sets the vaults and resources to those of the fixture. The
// caller holds e.mu.
func (e *Emulator) resetCloud() {
	e.vaults = make(map[string]*vault, len(e.fixture.Vaults))
	e.resources = make(map[string]*resource)
	for _, fv := range e.fixture.Vaults {
		v := &vault{id: fv.ID, name: fv.Name, typ: fv.Type, retention: fv.retention(), sizeGB: fv.capacity(), usedGB: fv.UsedGB}
		for _, fr := range fv.Resources {
			r := &resource{FixtureResource: fr, vault: v}
			v.resources = append(v.resources, r)
			e.resources[r.ID] = r
		}
		e.vaults[v.id] = v
	}
	for _, fr := range e.fixture.Unassociated {
		e.resources[fr.ID] = &resource{FixtureResource: fr}
	}
}

// FailResource makes every backup of resource id that is created from now
// on end in "error" instead of "available", and so its checkpoint too.
// Backups created before keep their course. The real API reports why a
// backup failed in no field that platform-facts documents, so a failed
// backup carries nothing but its status. It fails for a resource id the
// cloud does not have.
func (e *Emulator) FailResource(id string) error { return e.setFail(id, true) }

// RepairResource undoes FailResource (or the fixture's fail): backups of
// resource id created from now on end in "available" again.
func (e *Emulator) RepairResource(id string) error { return e.setFail(id, false) }

// setFail sets whether new backups of resource id fail.
func (e *Emulator) setFail(id string, fail bool) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	r, ok := e.resources[id]
	if !ok {
		return fmt.Errorf("cbrtest: no resource %q in the fixture", id)
	}
	r.Fail = fail
	return nil
}

// FillVault sets the used capacity of vault id to its size: the vault then
// refuses new checkpoints and new resources with BackupService.6114.
func (e *Emulator) FillVault(id string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	v, ok := e.vaults[id]
	if !ok {
		return fmt.Errorf("cbrtest: no vault %q in the fixture", id)
	}
	v.usedGB = v.sizeGB
	return nil
}

// SetVaultUsed sets the used capacity of vault id, 0 to its size in GB;
// the vault is full when it reaches its size.
func (e *Emulator) SetVaultUsed(id string, usedGB int) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	v, ok := e.vaults[id]
	switch {
	case !ok:
		return fmt.Errorf("cbrtest: no vault %q in the fixture", id)
	case usedGB < 0 || usedGB > v.sizeGB:
		return fmt.Errorf("cbrtest: used capacity %d GB of vault %q is not 0 to its size %d GB", usedGB, id, v.sizeGB)
	}
	v.usedGB = usedGB
	return nil
}

// vaultResponse is the body of a 200 answer to GET /v3/{project_id}/vaults/{vault_id}.
type vaultResponse struct {
	Vault vaultInfo `json:"vault"`
}

// vaultInfo is a vault as GET vault answers it (the fields platform-facts
// documents, and the vault's type).
type vaultInfo struct {
	ID        string          `json:"id"`
	Name      string          `json:"name"`
	ProjectID string          `json:"project_id"`
	Resources []vaultResource `json:"resources"`
	Billing   vaultBilling    `json:"billing"`
}

// vaultResource is a resource associated with a vault.
type vaultResource struct {
	ID            string `json:"id"`
	Type          string `json:"type"`
	Name          string `json:"name"`
	ProtectStatus string `json:"protect_status"`
}

// vaultBilling is the capacity part of a vault. Sizes are in GB.
type vaultBilling struct {
	Allocated int    `json:"allocated"`
	Used      int    `json:"used"`
	Status    string `json:"status"`
	// ObjectType is server, disk or turbo; absent for a vault of no type.
	ObjectType string `json:"object_type,omitempty"`
}

// showVault answers GET /v3/{project_id}/vaults/{vault_id}.
func (e *Emulator) showVault(w http.ResponseWriter, project, id string) {
	e.mu.Lock()
	v, ok := e.vaults[id]
	var info vaultInfo
	if ok {
		info = e.vaultInfo(v, project)
	}
	e.mu.Unlock()
	if !ok {
		writeError(w, http.StatusNotFound, CodeVaultNotFound, msgVaultNotFound)
		return
	}
	writeJSON(w, http.StatusOK, vaultResponse{Vault: info})
}

// vaultInfo returns v as of now. The caller holds e.mu.
func (e *Emulator) vaultInfo(v *vault, project string) vaultInfo {
	now := e.now()
	info := vaultInfo{
		ID: v.id, Name: v.name, ProjectID: project,
		Resources: make([]vaultResource, len(v.resources)),
		Billing:   vaultBilling{Allocated: v.sizeGB, Used: v.usedGB, Status: cbr.StatusAvailable, ObjectType: v.typ},
	}
	for i, r := range v.resources {
		info.Resources[i] = vaultResource{ID: r.ID, Type: r.Type, Name: r.Name, ProtectStatus: e.protectStatus(r, now)}
	}
	return info
}

// protectStatus returns the protect_status of r in its vault at now: that of
// its newest backup while it is "protecting" or once it ended in "error",
// else "available".
func (e *Emulator) protectStatus(r *resource, now time.Time) string {
	if b := r.newest; b != nil && !b.deleted {
		if s := e.backupStatus(b, now); s == cbr.StatusProtecting || s == cbr.StatusError {
			return s
		}
	}
	return cbr.StatusAvailable
}

// addResourcesBody is the body of POST .../vaults/{vault_id}/addresources,
// with the mandatory list as a pointer so that its absence is detected.
type addResourcesBody struct {
	Resources *[]addResource `json:"resources"`
}

// addResource is one resource to associate.
type addResource struct {
	ID        string `json:"id"`
	Type      string `json:"type"`
	Name      string `json:"name"`
	ExtraInfo *struct {
		ExcludeVolumes []string `json:"exclude_volumes"`
	} `json:"extra_info"`
}

// addResourcesResponse is the body of a 200 answer to addresources.
type addResourcesResponse struct {
	AddResourceIDs []string `json:"add_resource_ids"`
}

// addResources answers POST /v3/{project_id}/vaults/{vault_id}/addresources.
func (e *Emulator) addResources(w http.ResponseWriter, vaultID string, body []byte) {
	if len(body) > MaxBodyBytes {
		writeError(w, http.StatusRequestEntityTooLarge, CodeInvalidParameter,
			fmt.Sprintf("The request body exceeds %d bytes.", MaxBodyBytes))
		return
	}
	var req addResourcesBody
	if err := json.Unmarshal(body, &req); err != nil {
		writeError(w, http.StatusBadRequest, CodeInvalidParameter, "Invalid request body: "+err.Error())
		return
	}
	if msg := validateAddResources(req.Resources); msg != "" {
		writeError(w, http.StatusBadRequest, CodeInvalidParameter, msg)
		return
	}
	e.mu.Lock()
	ids, status, code, msg := e.associate(vaultID, *req.Resources)
	e.mu.Unlock()
	if status != http.StatusOK {
		writeError(w, status, code, msg)
		return
	}
	writeJSON(w, http.StatusOK, addResourcesResponse{AddResourceIDs: ids})
}

// validateAddResources checks an addresources list like the real API does
// and returns the error message for the first problem, or "".
func validateAddResources(list *[]addResource) string {
	if list == nil {
		return "Invalid resources provided: resources is required."
	}
	if n := len(*list); n < 1 || n > otc.MaxResources {
		return fmt.Sprintf("Invalid resources provided: %d resources, 1 to %d allowed.", n, otc.MaxResources)
	}
	for i, r := range *list {
		switch {
		case r.ID == "":
			return fmt.Sprintf("Invalid resources provided: resources[%d].id is required.", i)
		case !otc.ValidResourceType(r.Type):
			return fmt.Sprintf("Invalid resources provided: resources[%d].type %s is not %s, %s or %s.",
				i, quote(r.Type), otc.TypeServer, otc.TypeVolume, otc.TypeSFSTurbo)
		case utf8.RuneCountInString(r.Name) > maxResourceName:
			return fmt.Sprintf("Invalid resources provided: resources[%d].name is longer than %d characters.", i, maxResourceName)
		}
	}
	return ""
}

// associate associates the resources of list with vault vaultID, all or
// none, and returns their ids without duplicates (those already in the vault
// included), or the status, code and message of the error. The caller holds
// e.mu.
func (e *Emulator) associate(vaultID string, list []addResource) (ids []string, status int, code, msg string) {
	v, ok := e.vaults[vaultID]
	if !ok {
		return nil, http.StatusNotFound, CodeVaultNotFound, msgVaultNotFound
	}
	if v.full() {
		return nil, http.StatusBadRequest, CodeVaultFull, msgVaultFull
	}
	var add []*resource
	seen := make(map[string]bool, len(list))
	for i, a := range list {
		if !vaultHolds(v.typ, a.Type) {
			return nil, http.StatusBadRequest, CodeVaultType, fmt.Sprintf(
				"The vault type does not allow this backup: resources[%d] is %s, vault %s holds %s.", i, a.Type, v.name, v.typ)
		}
		r, ok := e.resources[a.ID]
		if !ok || r.Type != a.Type {
			code, what := notFound(a.Type)
			return nil, http.StatusNotFound, code, fmt.Sprintf("The %s %s in resources[%d] does not exist.", what, quote(a.ID), i)
		}
		if r.vault != nil && r.vault != v {
			return nil, http.StatusBadRequest, CodeInOtherVault, fmt.Sprintf(
				"The resource %s in resources[%d] is associated with another vault.", quote(a.ID), i)
		}
		if !seen[a.ID] {
			seen[a.ID] = true
			add = append(add, r)
		}
	}
	ids = make([]string, len(add))
	for i, r := range add {
		ids[i] = r.ID
		if r.vault == nil {
			r.vault = v
			v.resources = append(v.resources, r)
		}
	}
	return ids, http.StatusOK, "", ""
}

// notFound returns the error code and the noun for a resource of type typ
// that does not exist.
func notFound(typ string) (code, noun string) {
	switch typ {
	case otc.TypeServer:
		return CodeServerNotFound, "server"
	case otc.TypeVolume:
		return CodeVolumeNotFound, "disk"
	}
	return CodeResourceNotFound, "resource"
}
