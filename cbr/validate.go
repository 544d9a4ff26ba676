package cbr

import (
	"fmt"
	"strings"
	"unicode/utf8"
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

// Rules reported in FieldError.Rule.
const (
	ruleRequired    = "required"
	ruleName        = "only letters, digits, _ and - allowed, 1-64 characters"
	ruleDescription = "at most 255 characters"
	ruleDetails     = "at most 256 entries"
	ruleType        = "must be one of " + TypeServer + ", " + TypeVolume + ", " + TypeSFSTurbo
	ruleResName     = "at most 255 characters"
	ruleNotEmpty    = "must not be empty"
)

// FieldError is one problem with one field of a request.
type FieldError struct {
	// Field is the JSON path of the field, such as
	// "checkpoint.parameters.resource_details[3].type".
	Field string
	// Rule says what the field must satisfy.
	Rule string
}

// Error returns "field: rule".
func (e FieldError) Error() string { return e.Field + ": " + e.Rule }

// ValidationError lists every problem found in a request. The client returns
// it before anything is sent.
type ValidationError struct {
	// Problems are the problems found, in field order. Never empty.
	Problems []FieldError
}

// Error joins all problems with "; ".
func (e *ValidationError) Error() string {
	msgs := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		msgs[i] = p.Error()
	}
	return strings.Join(msgs, "; ")
}

// Unwrap returns the problems, so errors.As can reach a FieldError.
func (e *ValidationError) Unwrap() []error {
	errs := make([]error, len(e.Problems))
	for i, p := range e.Problems {
		errs[i] = p
	}
	return errs
}

// Class returns ClassInvalid.
func (e *ValidationError) Class() Class { return ClassInvalid }

// Validate checks a create checkpoint request against the rules of the API
// page and reports all problems at once as a *ValidationError, or nil when the
// request is valid. Field paths are rooted at "checkpoint.".
func Validate(req VaultBackup) error {
	var v validator
	if strings.TrimSpace(req.VaultID) == "" {
		v.add("checkpoint.vault_id", ruleRequired)
	}
	if p := req.Parameters; p != nil {
		const params = "checkpoint.parameters"
		if p.Name != "" && !validName(p.Name) {
			v.add(params+".name", ruleName)
		}
		if utf8.RuneCountInString(p.Description) > MaxDescription {
			v.add(params+".description", ruleDescription)
		}
		for i, id := range p.Resources {
			if strings.TrimSpace(id) == "" {
				v.add(fmt.Sprintf("%s.resources[%d]", params, i), ruleNotEmpty)
			}
		}
		if len(p.ResourceDetails) > MaxResources {
			v.add(params+".resource_details", ruleDetails)
		}
		for i, r := range p.ResourceDetails {
			// The path is only built for a problem: most requests have none.
			path := func() string { return fmt.Sprintf("%s.resource_details[%d]", params, i) }
			if strings.TrimSpace(r.ID) == "" {
				v.add(path()+".id", ruleRequired)
			}
			if !validType(r.Type) {
				v.add(path()+".type", ruleType)
			}
			if utf8.RuneCountInString(r.Name) > 255 {
				v.add(path()+".name", ruleResName)
			}
		}
	}
	return v.err()
}

// validType reports whether t is one of the resource types the page documents.
func validType(t string) bool {
	switch t {
	case TypeServer, TypeVolume, TypeSFSTurbo:
		return true
	}
	return false
}

// validator collects field problems.
type validator struct{ problems []FieldError }

func (v *validator) add(field, rule string) {
	v.problems = append(v.problems, FieldError{Field: field, Rule: rule})
}

func (v *validator) err() error {
	if len(v.problems) == 0 {
		return nil
	}
	return &ValidationError{Problems: v.problems}
}
