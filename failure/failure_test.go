package failure_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/restorepoint/restorepoint/failure"
)

// wrapped wraps an error without a class of its own.
type wrapped struct{ err error }

func (w wrapped) Error() string { return "wrapped: " + w.err.Error() }
func (w wrapped) Unwrap() error { return w.err }

// overriding wraps an error and states its own class.
type overriding struct{ err error }

func (o overriding) Error() string               { return o.err.Error() }
func (o overriding) Unwrap() error               { return o.err }
func (o overriding) FailureClass() failure.Class { return failure.Unauthorized }

func TestClassOf(t *testing.T) {
	sentinel := errors.New("sentinel")
	tests := []struct {
		name      string
		err       error
		want      failure.Class
		retryable bool
	}{
		{"nil", nil, "", false},
		{"unclassified", errors.New("boom"), failure.Unavailable, true},
		{"context deadline", context.DeadlineExceeded, failure.Unavailable, true},
		{"unexpected EOF", fmt.Errorf("read: %w", io.ErrUnexpectedEOF), failure.Unavailable, true},
		{"field error", &failure.FieldError{Field: "a", Rule: "required"}, failure.Invalid, false},
		{"field errors", failure.FieldErrors{{Field: "a", Rule: "required"}}, failure.Invalid, false},
		{"wrapped field error", fmt.Errorf("plan: %w", &failure.FieldError{Field: "a", Rule: "b"}), failure.Invalid, false},
		{"new rejected", failure.New(failure.Rejected, "no"), failure.Rejected, false},
		{"new throttled", failure.New(failure.Throttled, "slow"), failure.Throttled, true},
		{"new unauthorized, wrapped", wrapped{failure.New(failure.Unauthorized, "who?")}, failure.Unauthorized, false},
		{"outermost classifier wins", overriding{failure.New(failure.Throttled, "x")}, failure.Unauthorized, false},
		{"field error with a cause", &failure.FieldError{Field: "a", Rule: "b", Err: sentinel}, failure.Invalid, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := failure.ClassOf(tt.err); got != tt.want {
				t.Errorf("ClassOf = %q, want %q", got, tt.want)
			}
			if got := failure.Retryable(tt.err); got != tt.retryable {
				t.Errorf("Retryable = %v, want %v", got, tt.retryable)
			}
		})
	}
}

func TestClassRetryable(t *testing.T) {
	want := map[failure.Class]bool{
		failure.Invalid:      false,
		failure.Rejected:     false,
		failure.Unauthorized: false,
		failure.Throttled:    true,
		failure.Unavailable:  true,
		"":                   false,
	}
	for c, w := range want {
		if got := c.Retryable(); got != w {
			t.Errorf("%q.Retryable() = %v, want %v", c, got, w)
		}
	}
	if n := len(failure.Classes()); n != len(want)-1 {
		t.Errorf("Classes() has %d classes, want %d", n, len(want)-1)
	}
}

// TestClassStrings pins the values: they are the "class" of result events.
func TestClassStrings(t *testing.T) {
	want := []string{"invalid", "rejected", "unauthorized", "throttled", "unavailable"}
	for i, c := range failure.Classes() {
		if string(c) != want[i] {
			t.Errorf("Classes()[%d] = %q, want %q", i, c, want[i])
		}
	}
}

func TestFieldError(t *testing.T) {
	sentinel := errors.New("sentinel")
	tests := []struct {
		name string
		err  error
		want string
		is   error
	}{
		{"field and rule", &failure.FieldError{Field: "data.server_id", Rule: "required, a UUID"}, "data.server_id: required, a UUID", nil},
		{"rule alone", &failure.FieldError{Rule: "no vault"}, "no vault", nil},
		{"cause not in the message", &failure.FieldError{Field: "payload", Rule: "must be JSON", Err: sentinel}, "payload: must be JSON", sentinel},
		{"several", failure.FieldErrors{{Field: "a", Rule: "required"}, {Field: "b[1]", Rule: "must not be empty"}}, "a: required; b[1]: must not be empty", nil},
		{"one of several", failure.FieldErrors{{Field: "a", Rule: "required"}}, "a: required", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.err.Error(); got != tt.want {
				t.Errorf("Error() = %q, want %q", got, tt.want)
			}
			if tt.is != nil && !errors.Is(tt.err, tt.is) {
				t.Errorf("errors.Is(%v, %v) = false", tt.err, tt.is)
			}
			var fe *failure.FieldError
			if !errors.As(tt.err, &fe) {
				t.Errorf("errors.As(%v, *FieldError) = false", tt.err)
			}
		})
	}
}

func TestFieldErrorsAddErr(t *testing.T) {
	var errs failure.FieldErrors
	if err := errs.Err(); err != nil {
		t.Fatalf("empty Err() = %v, want nil", err)
	}
	errs.Add("checkpoint.vault_id", "required")
	errs.Add("checkpoint.parameters.name", "too long")
	err := errs.Err()
	if err == nil || err.Error() != "checkpoint.vault_id: required; checkpoint.parameters.name: too long" {
		t.Fatalf("Err() = %v", err)
	}
	var got failure.FieldErrors
	if !errors.As(fmt.Errorf("create: %w", err), &got) || len(got) != 2 || got[1].Field != "checkpoint.parameters.name" {
		t.Errorf("errors.As(FieldErrors) = %v", got)
	}
	var first *failure.FieldError
	if !errors.As(err, &first) || first.Field != "checkpoint.vault_id" {
		t.Errorf("errors.As(*FieldError) = %v, want the first problem", first)
	}
}

// An HTTP API's failed answer is classed by its status alone.
func TestOfStatus(t *testing.T) {
	for status, want := range map[int]failure.Class{
		400: failure.Rejected, 401: failure.Unauthorized, 403: failure.Rejected, 404: failure.Rejected, 409: failure.Rejected, 422: failure.Rejected,
		429: failure.Throttled, 302: failure.Rejected, 500: failure.Unavailable, 502: failure.Unavailable, 503: failure.Unavailable, 504: failure.Unavailable,
	} {
		if got := failure.OfStatus(status); got != want {
			t.Errorf("OfStatus(%d) = %s, want %s", status, got, want)
		}
	}
}
