package cbr

import (
	"fmt"
	"strings"

	"github.com/restorepoint/restorepoint/failure"
	"github.com/restorepoint/restorepoint/otc"
)

// Validate checks a create checkpoint request against the rules of the API
// page and the text rule of otc (no control characters, bidirectional
// controls, < or > in what CBR stores), and reports all problems at once as
// [failure.FieldErrors] (class invalid), or nil when the request is valid.
// Field paths are rooted at "checkpoint.".
func Validate(req VaultBackup) error {
	var v failure.FieldErrors
	if strings.TrimSpace(req.VaultID) == "" {
		v.Add("checkpoint.vault_id", "required")
	}
	if p := req.Parameters; p != nil {
		const params = "checkpoint.parameters"
		if p.Name != "" && !otc.ValidName(p.Name) {
			v.Add(params+".name", otc.NameRule)
		}
		if rule := otc.TextRule(p.Description, otc.MaxDescription); rule != "" {
			v.Add(params+".description", rule)
		}
		for i, id := range p.Resources {
			if strings.TrimSpace(id) == "" {
				v.Add(fmt.Sprintf("%s.resources[%d]", params, i), "must not be empty")
			}
		}
		if len(p.ResourceDetails) > otc.MaxResources {
			v.Add(params+".resource_details", fmt.Sprintf("at most %d entries", otc.MaxResources))
		}
		for i, r := range p.ResourceDetails {
			// The path is only built for a problem: most requests have none.
			path := func() string { return fmt.Sprintf("%s.resource_details[%d]", params, i) }
			if strings.TrimSpace(r.ID) == "" {
				v.Add(path()+".id", "required")
			}
			if !otc.ValidResourceType(r.Type) {
				v.Add(path()+".type", otc.ResourceTypeRule)
			}
			if rule := otc.TextRule(r.Name, otc.MaxResourceName); rule != "" {
				v.Add(path()+".name", rule)
			}
		}
	}
	return v.Err()
}
