// Package iam provides the X-Auth-Token sources used to call Open Telekom
// Cloud APIs.
//
// Every source has the method
//
//	Token(ctx context.Context) (string, error)
//
// and sources that can fetch a fresh token after a 401 also have
//
//	Invalidate(token string)
//
// The sources are:
//
//   - [Static]: a fixed token, for example from the environment.
//   - [File]: a token in a mounted secret file, re-read when the file changes.
//   - [Password]: a project-scoped token from IAM (POST /v3/auth/tokens),
//     cached and refreshed before it expires.
//   - [ContextSource]: the token a FunctionGraph request carried in its
//     X-CFF-Auth-Token header (see [WithToken]), with an optional fallback.
//
// Tokens and passwords are carried as [Secret], which never prints.
//
// Every error of a source states its class for [failure.ClassOf]: missing or
// refused credentials are [failure.Unauthorized] (asking again will not
// help), an IAM that could not be reached, throttled or failed is
// [failure.Unavailable].
package iam

import (
	"errors"

	"github.com/restorepoint/restorepoint/failure"
	"github.com/restorepoint/restorepoint/internal/otc"
)

// TokenSource gives the X-Auth-Token for a request. It is the same interface
// as cbr.TokenSource.
type TokenSource = otc.TokenSource

// TokenInvalidator is implemented by sources that can replace a token the
// API refused (answered 401); the next Token call then gets a new one. It is
// the same interface as cbr.TokenInvalidator.
type TokenInvalidator = otc.TokenInvalidator

// ErrNoToken is wrapped by the errors of sources that have no token to give:
// an empty static token, an empty token file, a request without a token.
var ErrNoToken = errors.New("iam: no token")

// wrapError is an error with its own message that still unwraps to err, so
// that messages stay short and free of duplicated paths while errors.Is works.
type wrapError struct {
	msg string
	err error
}

func (e *wrapError) Error() string { return e.msg }
func (e *wrapError) Unwrap() error { return e.err }

// FailureClass returns [failure.Unauthorized]: asking again will not make a
// missing or empty token appear.
func (e *wrapError) FailureClass() failure.Class { return failure.Unauthorized }
