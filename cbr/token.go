package cbr

import (
	"context"
	"errors"
)

// TokenSource yields the current token for the X-Auth-Token header.
//
// The client asks for a token before every attempt, so a source that caches
// tokens can refresh them between retries. Implementations must be safe for
// concurrent use.
type TokenSource interface {
	Token(ctx context.Context) (string, error)
}

// TokenInvalidator is implemented by token sources that can drop a token the
// API refused with 401 Unauthorized, so that the next call to Token fetches a
// new one.
type TokenInvalidator interface {
	Invalidate(token string)
}

// StaticToken is a TokenSource that always yields the same token.
type StaticToken string

// errEmptyToken is returned when a TokenSource yields an empty token.
var errEmptyToken = errors.New("token source returned an empty token")

// Token returns the token itself, or an error when it is empty.
func (t StaticToken) Token(context.Context) (string, error) {
	if t == "" {
		return "", errEmptyToken
	}
	return string(t), nil
}

// TokenError is a failure to get a token from the TokenSource. Its class is
// unauthorized when the source says the failure is not temporary (wrong
// credentials, no token configured, none in the request), otherwise
// unavailable (the identity service could not be reached, say).
type TokenError struct{ Err error }

// Error returns "get token: " and the token source's message.
func (e *TokenError) Error() string { return "get token: " + e.Err.Error() }

// Unwrap returns the token source's error.
func (e *TokenError) Unwrap() error { return e.Err }

// Class implements the classifier ClassOf asks.
func (e *TokenError) Class() Class {
	var t interface{ Temporary() bool }
	if errors.Is(e.Err, errEmptyToken) || (errors.As(e.Err, &t) && !t.Temporary()) {
		return ClassUnauthorized
	}
	return ClassUnavailable
}
