package function

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/restorepoint/restorepoint/cbr"
	"github.com/restorepoint/restorepoint/events"
	"github.com/restorepoint/restorepoint/failure"
)

// VaultAPI is the part of the CBR client that association calls
// (Config.Associate, CBR_ASSOCIATE): *cbr.Client. The function finds it on
// its CheckpointAPI.
type VaultAPI interface {
	GetVault(ctx context.Context, id string) (*cbr.Vault, error)
	AddResources(ctx context.Context, vaultID string, resources []cbr.Resource) ([]string, error)
}

// codeVaultType is CBR's code for "the vault type does not allow this
// backup" (BackupService.6124): the code of a resource skipped because the
// vault's type cannot hold it, which restorepoint decides from the vault's
// object type without asking CBR to associate it.
const codeVaultType = "BackupService.6124"

// associate makes sure that every resource plan names with a type (a
// tagged server; a volume, server or SFS Turbo share of a deploy.pre or
// checkpoint.requested trigger's resource_details) is associated with the
// plan's vault before it is backed up: it reads the vault, associates those
// not among its resources (POST .../addresources), records them in
// created.AssociatedResources, and returns the plan without the resources
// the vault did not take. Those end in created.SkippedResources (first,
// before what the checkpoints skip) with CBR's code and message (full
// vault, quota, a resource in another vault or not found), or, for a type
// the vault's object type cannot hold, code BackupService.6124 and the
// reason, without asking CBR. A request left with no resource is not sent:
// without resources CBR would back up the whole vault. Resources named by id
// alone (no type) cannot be associated and are left to CBR.
//
// It reads the vault first, rather than creating and reacting to a
// resource CBR skipped with BackupService.6135 (not in the vault), at the
// cost of one GET per trigger with typed resources, only with
// CBR_ASSOCIATE=true:
//   - the restore point covers the resource at once: reacting to the skip
//     would take a second restore point for it, under a name other than the
//     one the trigger's lookup finds (see lookup), and a trigger whose only
//     resource is not in the vault is refused outright (BackupService.0001)
//     rather than skipped;
//   - the vault's type says which resources it cannot hold before anything
//     is asked, and a vault that refuses is known before the create, whose
//     request then leaves the resource out instead of failing whole;
//   - a resource already associated costs no addresources call.
//
// Association is idempotent (CBR answers an associated resource as added),
// so a retried trigger associates again whatever it did not finish. A split
// trigger resumed after a partial failure (see Handle) counts its requests
// after association: a request emptied by a refusal on the first attempt is
// emptied again on the next, as long as the vault refuses the same way.
//
// Errors other than a refusal (the vault cannot be read, CBR is throttled
// or unavailable, the credentials are refused) fail the trigger as they are.
func (f *Function) associate(ctx context.Context, plan Plan, created *events.Created) (Plan, error) {
	var typed []events.ResourceRef
	for _, r := range plan.Resources {
		if !r.Bare && r.Type != "" {
			typed = append(typed, r)
		}
	}
	if len(typed) == 0 {
		return plan, nil
	}
	api, ok := f.api.(VaultAPI)
	if !ok {
		return plan, failure.New(failure.Invalid, "CBR_ASSOCIATE: the CBR client given to the function cannot read vaults (no GetVault and AddResources)")
	}
	v, err := api.GetVault(ctx, plan.VaultID)
	if err != nil {
		return plan, fmt.Errorf("associate resources with vault %s: %w", plan.VaultID, err)
	}
	var add []cbr.Resource
	var skipped []events.SkippedResource
	for _, r := range typed {
		if v.Has(r.ID) {
			continue
		}
		if holds, known := v.Holds(r.Type); known && !holds {
			skipped = append(skipped, events.SkippedResource{ID: r.ID, Type: r.Type, Name: r.Name, Code: codeVaultType,
				Reason: fmt.Sprintf("not associated: vault %s holds %s resources, not %s", plan.VaultID, v.Billing.ObjectType, r.Type)})
			continue
		}
		add = append(add, cbr.Resource{ID: r.ID, Type: r.Type, Name: r.Name})
	}
	associated, refused, err := addResources(ctx, api, plan.VaultID, add)
	if err != nil {
		return plan, fmt.Errorf("associate resources with vault %s: %w", plan.VaultID, err)
	}
	skipped = append(skipped, refused...)
	created.AssociatedResources = associated
	created.SkippedResources = slices.Concat(skipped, created.SkippedResources)
	drop := make(map[string]bool, len(skipped))
	for _, s := range skipped {
		drop[s.ID] = true
	}
	return withoutResources(plan, drop), nil
}

// addResources associates add with vault vaultID, all in one call, and
// returns those associated and those the vault refused, with CBR's code and
// message. When CBR refuses a call of several resources (it associates all
// or none), each is asked for on its own, so that every refusal is the
// resource's own. An error is a failure other than a refusal.
func addResources(ctx context.Context, api VaultAPI, vaultID string, add []cbr.Resource) (associated []events.ResourceRef, refused []events.SkippedResource, err error) {
	if len(add) == 0 {
		return nil, nil, nil
	}
	ids, err := api.AddResources(ctx, vaultID, add)
	var apiErr *cbr.APIError
	switch {
	case err == nil:
		for _, r := range add {
			if slices.Contains(ids, r.ID) {
				associated = append(associated, events.ResourceRef{ID: r.ID, Type: r.Type, Name: r.Name})
				continue
			}
			refused = append(refused, events.SkippedResource{ID: r.ID, Type: r.Type, Name: r.Name,
				Reason: "not associated: CBR's answer to addresources did not list it"})
		}
		return associated, refused, nil
	case failure.ClassOf(err) != failure.Rejected || !errors.As(err, &apiErr):
		return nil, nil, err
	case len(add) > 1:
		for _, r := range add {
			a, s, err := addResources(ctx, api, vaultID, []cbr.Resource{r})
			if err != nil {
				return nil, nil, err
			}
			associated, refused = append(associated, a...), append(refused, s...)
		}
		return associated, refused, nil
	}
	r := add[0]
	return nil, []events.SkippedResource{{ID: r.ID, Type: r.Type, Name: r.Name, Code: apiErr.Code,
		Reason: "not associated: " + apiErr.Message}}, nil
}

// withoutResources returns plan with the resources of drop left out of its
// requests, and without the requests that have no resource left. plan's
// requests are not changed.
func withoutResources(plan Plan, drop map[string]bool) Plan {
	if len(drop) == 0 {
		return plan
	}
	out := plan
	out.Requests = make([]cbr.VaultBackup, 0, len(plan.Requests))
	for _, req := range plan.Requests {
		p := *req.Parameters
		p.ResourceDetails = slices.DeleteFunc(slices.Clone(p.ResourceDetails), func(r cbr.Resource) bool { return drop[r.ID] })
		if len(p.Resources) == 0 && len(p.ResourceDetails) == 0 {
			continue // not an empty request: CBR would back up the whole vault
		}
		out.Requests = append(out.Requests, cbr.VaultBackup{VaultID: req.VaultID, Parameters: &p})
	}
	return out
}
