package cbr

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/restorepoint/restorepoint/failure"
)

// validName reports whether s matches the checkpoint name pattern of the API
// page, ^[A-Za-z0-9_-]{1,64}$. It is written out rather than compiled from
// the pattern because the compiled {1,64} costs a millisecond of start-up.
func validName(s string) bool {
	if len(s) < 1 || len(s) > MaxNameLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// Rules reported in failure.FieldError.Rule.
const (
	ruleRequired    = "required"
	ruleName        = "only letters, digits, _ and - allowed, 1-64 characters"
	ruleDescription = "at most 255 characters"
	ruleDetails     = "at most 256 entries"
	ruleType        = "must be one of " + TypeServer + ", " + TypeVolume + ", " + TypeSFSTurbo
	ruleResName     = "at most 255 characters"
	ruleNotEmpty    = "must not be empty"
)

// Validate checks a create checkpoint request against the rules of the API
// page and reports all problems at once as [failure.FieldErrors] (class
// invalid), or nil when the request is valid. Field paths are rooted at
// "checkpoint.".
func Validate(req VaultBackup) error {
	var v failure.FieldErrors
	if strings.TrimSpace(req.VaultID) == "" {
		v.Add("checkpoint.vault_id", ruleRequired)
	}
	if p := req.Parameters; p != nil {
		const params = "checkpoint.parameters"
		if p.Name != "" && !validName(p.Name) {
			v.Add(params+".name", ruleName)
		}
		if utf8.RuneCountInString(p.Description) > MaxDescription {
			v.Add(params+".description", ruleDescription)
		}
		for i, id := range p.Resources {
			if strings.TrimSpace(id) == "" {
				v.Add(fmt.Sprintf("%s.resources[%d]", params, i), ruleNotEmpty)
			}
		}
		if len(p.ResourceDetails) > MaxResources {
			v.Add(params+".resource_details", ruleDetails)
		}
		for i, r := range p.ResourceDetails {
			// The path is only built for a problem: most requests have none.
			path := func() string { return fmt.Sprintf("%s.resource_details[%d]", params, i) }
			if strings.TrimSpace(r.ID) == "" {
				v.Add(path()+".id", ruleRequired)
			}
			if !validType(r.Type) {
				v.Add(path()+".type", ruleType)
			}
			if utf8.RuneCountInString(r.Name) > 255 {
				v.Add(path()+".name", ruleResName)
			}
		}
	}
	return v.Err()
}

// validType reports whether t is one of the resource types the page documents.
func validType(t string) bool {
	switch t {
	case TypeServer, TypeVolume, TypeSFSTurbo:
		return true
	}
	return false
}
