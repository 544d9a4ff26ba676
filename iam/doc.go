// Package iam provides the credentials used to call Open Telekom Cloud
// APIs: X-Auth-Token sources, access keys (AK/SK) and their SDK-HMAC-SHA256
// signer, and the [Authorizer]s a cbr.Client authorises each attempt with:
//
//   - [Signer]: signs with the keys of a [KeySource] ([AccessKeys]: values
//     or files re-read when they change; [SecretsExtension]).
//   - [TokenAuthorizer]: sends the token of a token source (below).
//   - [RequestCredentials]: the keys ([WithKeys]) or token ([WithToken]) a
//     request carries, as FunctionGraph passes them in its X-CFF-* headers
//     ([RequestContext]), else a fallback.
//   - [SecretCredentials]: whatever an AWS Secrets Manager secret read
//     through the Parameters and Secrets extension holds (keys, a password or
//     a token), read again after a 401.
//
// A 401 makes the client drop the credentials it used (re-read the key
// files or the secret, fetch a new token) and try once more.
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
//     cached and refreshed in the background before it expires.
//
// Tokens, passwords, secret keys and security tokens are carried as
// [Secret], which never prints.
//
// Every error of a source states its class for [failure.ClassOf]: missing or
// refused credentials are [failure.Unauthorized] (asking again will not
// help), an IAM that could not be reached, throttled or failed is
// [failure.Unavailable].
package iam

import (
	"errors"

	"github.com/restorepoint/restorepoint/failure"
)

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
