package cbr

import (
	"context"

	"github.com/restorepoint/restorepoint/failure"
	"github.com/restorepoint/restorepoint/internal/otc"
)

// TokenSource yields the current token for the X-Auth-Token header.
//
// The client asks for a token before every attempt, so a source that caches
// tokens can refresh them between retries. Implementations must be safe for
// concurrent use. It is the same interface as iam.TokenSource.
type TokenSource = otc.TokenSource

// TokenInvalidator is implemented by token sources that can drop a token the
// API refused with 401 Unauthorized, so that the next call to Token fetches a
// new one. It is the same interface as iam.TokenInvalidator.
type TokenInvalidator = otc.TokenInvalidator

// StaticToken is a TokenSource that always yields the same token.
type StaticToken string

// errEmptyToken is returned when a TokenSource yields an empty token.
var errEmptyToken = failure.New(failure.Unauthorized, "token source returned an empty token")

// Token returns the token itself, or an error when it is empty.
func (t StaticToken) Token(context.Context) (string, error) {
	if t == "" {
		return "", errEmptyToken
	}
	return string(t), nil
}

// TokenError is a failure to get a token from the TokenSource. Its class
// (see [failure.ClassOf]) is the one the source's error states, as the iam
// sources' errors do: unauthorized for wrong or missing credentials,
// unavailable when the identity service could not be reached. An empty
// token is unauthorized; an error that states no class is unavailable.
type TokenError struct{ Err error }

// Error returns "get token: " and the token source's message.
func (e *TokenError) Error() string { return "get token: " + e.Err.Error() }

// Unwrap returns the token source's error.
func (e *TokenError) Unwrap() error { return e.Err }
