package failure

import "strings"

// FieldError says which field of an input is wrong and what it must be. Its
// class is [Invalid].
type FieldError struct {
	// Field is the path of the offending field, such as "data.server_id" or
	// "checkpoint.parameters.resource_details[3].type". It may be empty when
	// the problem concerns no one field.
	Field string
	// Rule is what the field must be: "required", "must be a boolean".
	Rule string
	// Err is an optional cause or sentinel, returned by Unwrap so that
	// errors.Is can match it; it is not part of the message.
	Err error
}

// Error returns "field: rule", or the rule alone when Field is empty.
func (e *FieldError) Error() string {
	if e.Field == "" {
		return e.Rule
	}
	return e.Field + ": " + e.Rule
}

// Unwrap returns Err.
func (e *FieldError) Unwrap() error { return e.Err }

// FailureClass returns [Invalid].
func (e *FieldError) FailureClass() Class { return Invalid }

// FieldErrors lists every problem found in one input, in field order. Its
// class is [Invalid]. Build it with append and return [FieldErrors.Err], so
// that no problems give a nil error.
type FieldErrors []FieldError

// Add appends the problem of field with rule.
func (e *FieldErrors) Add(field, rule string) {
	*e = append(*e, FieldError{Field: field, Rule: rule})
}

// Err returns e as an error, or nil when it is empty.
func (e FieldErrors) Err() error {
	if len(e) == 0 {
		return nil
	}
	return e
}

// Error joins the problems' messages with "; ".
func (e FieldErrors) Error() string {
	msgs := make([]string, len(e))
	for i := range e {
		msgs[i] = e[i].Error()
	}
	return strings.Join(msgs, "; ")
}

// Unwrap returns each problem as a *FieldError, so that errors.As reaches
// the first one.
func (e FieldErrors) Unwrap() []error {
	errs := make([]error, len(e))
	for i := range e {
		errs[i] = &e[i]
	}
	return errs
}

// FailureClass returns [Invalid].
func (e FieldErrors) FailureClass() Class { return Invalid }
