package cbr

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/restorepoint/restorepoint/failure"
	"github.com/restorepoint/restorepoint/otc"
)

// Vault object types, as a vault's billing.object_type names the one kind of
// resource it holds.
const (
	VaultObjectServer = "server" // otc.TypeServer
	VaultObjectDisk   = "disk"   // otc.TypeVolume
	VaultObjectTurbo  = "turbo"  // otc.TypeSFSTurbo
)

// Vault is a vault as GET /v3/{project_id}/vaults/{vault_id} answers it: the
// fields restorepoint reads (the resources associated with it, its capacity
// and type). Unknown fields are ignored.
type Vault struct {
	// ID and Name of the vault.
	ID   string `json:"id"`
	Name string `json:"name"`
	// ProjectID of the project the vault belongs to.
	ProjectID string `json:"project_id,omitempty"`
	// Resources are the resources associated with the vault: only they can
	// be backed up into it.
	Resources []VaultResource `json:"resources"`
	// Billing holds the vault's capacity, status and type.
	Billing VaultBilling `json:"billing"`
}

// VaultResource is one resource associated with a vault.
type VaultResource struct {
	ID   string `json:"id"`
	Type string `json:"type"`
	Name string `json:"name,omitempty"`
	// ProtectStatus is available, error, protecting, restoring or removing.
	ProtectStatus string `json:"protect_status,omitempty"`
}

// VaultBilling is the capacity part of a vault. Sizes are in GB, documented
// as integers; decoded from a number or a string.
type VaultBilling struct {
	Allocated *Quantity `json:"allocated,omitempty"`
	Used      *Quantity `json:"used,omitempty"`
	Status    string    `json:"status,omitempty"`
	// ObjectType is the kind of resource the vault holds: VaultObjectServer,
	// VaultObjectDisk, VaultObjectTurbo, or another kind restorepoint does
	// not back up; empty when the answer does not say.
	ObjectType string `json:"object_type,omitempty"`
}

// Has reports whether the resource with id is associated with v.
func (v *Vault) Has(id string) bool {
	return slices.ContainsFunc(v.Resources, func(r VaultResource) bool { return r.ID == id })
}

// Holds reports whether v can hold resources of resourceType (otc.TypeServer,
// otc.TypeVolume, otc.TypeSFSTurbo), as its object type says; known is false
// when the vault reports no object type or one restorepoint does not know,
// and then only CBR can tell.
func (v *Vault) Holds(resourceType string) (holds, known bool) {
	var held string
	switch v.Billing.ObjectType {
	case VaultObjectServer:
		held = otc.TypeServer
	case VaultObjectDisk:
		held = otc.TypeVolume
	case VaultObjectTurbo:
		held = otc.TypeSFSTurbo
	default:
		return false, false
	}
	return resourceType == held, true
}

// vaultURL returns {endpoint}/v3/{project_id}/vaults/{vault_id}.
func (c *Client) vaultURL(id string) string {
	return c.endpoint + "/v3/" + url.PathEscape(c.projectID) + "/vaults/" + url.PathEscape(id)
}

// GetVault reads vault id from GET /v3/{project_id}/vaults/{vault_id}: the
// resources associated with it and its type. It is retried like every
// call. Reading it needs the permission cbr:vaults:get.
func (c *Client) GetVault(ctx context.Context, id string) (*Vault, error) {
	if strings.TrimSpace(id) == "" {
		return nil, fmt.Errorf("cbr: get vault: %w", &failure.FieldError{Field: "vault_id", Rule: "required"})
	}
	return callDecoded(ctx, c, "get vault", http.MethodGet, c.vaultURL(id), nil, decodeVault)
}

// decodeVault decodes a get-vault answer: one JSON object whose vault has an id.
func decodeVault(data []byte) (*Vault, error) {
	var raw struct {
		Vault *Vault `json:"vault"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, err
	}
	if raw.Vault == nil || raw.Vault.ID == "" {
		return nil, errors.New("no vault.id in response")
	}
	return raw.Vault, nil
}

// AddResources associates resources with vault vaultID through
// POST /v3/{project_id}/vaults/{vault_id}/addresources, body
// {"resources":[{"id","type","name"}]} (1 to 256 of them, each with an id
// and one of the three resource types), and returns the ids CBR answers in
// add_resource_ids. Associating a resource the vault already holds is no
// error, so the call is retried like every call. A vault that refuses
// (full, of another type, a resource in another vault or not found)
// answers an *APIError with CBR's code and message; for the whole list,
// since CBR associates all or none. It needs the permission
// cbr:vaults:addResources.
func (c *Client) AddResources(ctx context.Context, vaultID string, resources []Resource) ([]string, error) {
	if err := checkAddResources(vaultID, resources); err != nil {
		return nil, fmt.Errorf("cbr: add resources: %w", err)
	}
	body, err := json.Marshal(addResourcesRequest{Resources: resources})
	if err != nil {
		return nil, fmt.Errorf("cbr: add resources: encode request: %w", err)
	}
	return callDecoded(ctx, c, "add resources", http.MethodPost, c.vaultURL(vaultID)+"/addresources", body, decodeAddResources)
}

// addResourcesRequest is the body of POST .../vaults/{vault_id}/addresources.
type addResourcesRequest struct {
	Resources []Resource `json:"resources"`
}

// checkAddResources checks an addresources call against the API's rules and
// reports every problem at once.
func checkAddResources(vaultID string, resources []Resource) error {
	var v failure.FieldErrors
	if strings.TrimSpace(vaultID) == "" {
		v.Add("vault_id", "required")
	}
	if n := len(resources); n < 1 || n > otc.MaxResources {
		v.Add("resources", fmt.Sprintf("1 to %d entries, not %d", otc.MaxResources, n))
	}
	checkResources(&v, "resources", resources)
	return v.Err()
}

// decodeAddResources decodes an addresources answer: one JSON object with
// an add_resource_ids array of strings.
func decodeAddResources(data []byte) ([]string, error) {
	var raw struct {
		IDs *[]string `json:"add_resource_ids"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, err
	}
	if raw.IDs == nil {
		return nil, errors.New("no add_resource_ids array in response")
	}
	return *raw.IDs, nil
}
