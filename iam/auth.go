package iam

import (
	"context"
	"net/http"

	"github.com/restorepoint/restorepoint/failure"
)

// Authorizer authorises the requests of an API client: it sets the headers
// that prove who sends req (an X-Auth-Token, or an AK/SK signature over req
// and body). Clients call it before every attempt, so a retry is signed
// afresh. Implementations must be safe for concurrent use; their errors
// state a failure class (see the failure package).
type Authorizer interface {
	// Authorize sets the credential headers of req, whose other headers
	// (Content-Type, X-Project-Id) are already set. body is exactly what
	// req sends (nil for none); Authorize does not read req.Body.
	Authorize(ctx context.Context, req *http.Request, body []byte) (Grant, error)
}

// Grant is what authorised one attempt.
type Grant struct {
	// Secrets are the secret values the attempt carries (token, secret key,
	// security token): the client scrubs them from everything it quotes of
	// the answer.
	Secrets []string
	// Refused, when not nil, drops the credentials that were used, so that
	// the next Authorize reads or fetches them again. The client calls it
	// once when the API answers 401 and then tries once more.
	Refused func()
}

// TokenAuthorizer authorises requests with the X-Auth-Token header, taking
// the token from Source before every attempt.
type TokenAuthorizer struct {
	// Source gives the token.
	Source TokenSource
}

// Authorize sets X-Auth-Token. A 401 invalidates the token when Source is a
// TokenInvalidator. An empty token gives [ErrEmptyToken].
func (a TokenAuthorizer) Authorize(ctx context.Context, req *http.Request, _ []byte) (Grant, error) {
	token, err := a.Source.Token(ctx)
	if err != nil {
		return Grant{}, err
	}
	if token == "" {
		return Grant{}, ErrEmptyToken
	}
	req.Header.Set("X-Auth-Token", token)
	g := Grant{Secrets: []string{token}}
	if inv, ok := a.Source.(TokenInvalidator); ok {
		g.Refused = func() { inv.Invalidate(token) }
	}
	return g, nil
}

// ErrEmptyToken is returned by TokenAuthorizer when its source gives an
// empty token; it is unauthorized.
var ErrEmptyToken = failure.New(failure.Unauthorized, "token source returned an empty token")

// TokenSource gives the X-Auth-Token for a request. Callers ask before every
// attempt, so a source that caches tokens can refresh them between retries.
// Implementations must be safe for concurrent use.
type TokenSource interface {
	Token(ctx context.Context) (string, error)
}

// TokenInvalidator is implemented by token sources that can drop a token the
// API refused (answered 401 Unauthorized), so that the next Token call gets a
// new one.
type TokenInvalidator interface {
	Invalidate(token string)
}
