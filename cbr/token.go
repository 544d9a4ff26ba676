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
