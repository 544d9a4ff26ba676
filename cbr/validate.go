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
		checkResources(&v, params+".resource_details", p.ResourceDetails)
	}
	return v.Err()
}

// checkResources adds to v the problems of each resource of list (at path):
// an id, a resource type CBR knows, a name within the text rule. The same
// rule holds in a checkpoint's resource_details and in addresources.
func checkResources(v *failure.FieldErrors, path string, list []Resource) {
	for i, r := range list {
		// The path is only built for a problem: most requests have none.
		at := func(field string) string { return fmt.Sprintf("%s[%d].%s", path, i, field) }
		if strings.TrimSpace(r.ID) == "" {
			v.Add(at("id"), "required")
		}
		if !otc.ValidResourceType(r.Type) {
			v.Add(at("type"), otc.ResourceTypeRule)
		}
		if rule := otc.TextRule(r.Name, otc.MaxResourceName); rule != "" {
			v.Add(at("name"), rule)
		}
	}
}
