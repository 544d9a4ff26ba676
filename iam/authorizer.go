package iam

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Signer authorises requests with an AK/SK signature ([Keys.Sign]) of the
// keys its source gives. It asks for the keys and signs afresh on every
// attempt, so a retry carries a new X-Sdk-Date. After a 401 it invalidates
// the source when that is a [KeyInvalidator] (an [AccessKeys] re-reads its
// files, a [SecretsExtension] its secret).
type Signer struct {
	// Keys gives the access keys. Required.
	Keys KeySource
	// Now tells the signing time; nil means time.Now.
	Now func() time.Time
}

// Authorize signs req: host, x-sdk-date and, as req carries them,
// content-type, x-project-id and x-security-token. Set X-Project-Id and
// Content-Type first.
func (s Signer) Authorize(ctx context.Context, req *http.Request, body []byte) (Grant, error) {
	keys, err := s.Keys.Keys(ctx)
	if err != nil {
		return Grant{}, err
	}
	g, err := signWith(keys, req, body, s.now())
	if err != nil {
		return Grant{}, err
	}
	if inv, ok := s.Keys.(KeyInvalidator); ok {
		g.Refused = func() { inv.InvalidateKeys(keys.AccessKey) }
	}
	return g, nil
}

func (s Signer) now() time.Time {
	if s.Now == nil {
		return time.Now()
	}
	return s.Now()
}

// Format prints the signer's source, never a secret.
func (s Signer) Format(f fmt.State, _ rune) { _, _ = fmt.Fprintf(f, "iam.Signer{Keys: %v}", s.Keys) }

// signWith signs req with keys and returns the grant naming the secrets.
func signWith(keys Keys, req *http.Request, body []byte, now time.Time) (Grant, error) {
	if err := keys.Sign(req, body, now); err != nil {
		return Grant{}, err
	}
	return Grant{Secrets: keys.secrets()}, nil
}

// secrets returns the secret values of k, for scrubbing.
func (k Keys) secrets() []string {
	return []string{k.SecretKey.Reveal(), k.SecurityToken.Reveal()}
}

// keysKey is the context key of per-request access keys.
type keysKey struct{}

// WithKeys returns a copy of ctx that carries keys, the access keys of one
// request: FunctionGraph passes an agency's temporary keys in the
// X-CFF-Security-Access-Key, X-CFF-Security-Secret-Key and
// X-CFF-Security-Token headers. A [RequestCredentials] authorizer signs
// with them. It mirrors [WithToken]; front doors other than handler's HTTP
// one (such as a FunctionGraph event runtime loop) call it for each request.
func WithKeys(ctx context.Context, keys Keys) context.Context {
	return context.WithValue(ctx, keysKey{}, keys)
}

// KeysFromContext returns the keys stored by [WithKeys]; ok is false if
// there are none or their access key or secret key is empty.
func KeysFromContext(ctx context.Context) (keys Keys, ok bool) {
	keys, _ = ctx.Value(keysKey{}).(Keys)
	return keys, keys.AccessKey != "" && keys.SecretKey != ""
}

// FunctionGraph request headers that carry the execution agency's
// credentials when "Include Keys" is on. They are secrets (but for the
// access keys), never logged.
const (
	HeaderCFFAuthToken         = "X-CFF-Auth-Token"
	HeaderCFFSecurityAccessKey = "X-CFF-Security-Access-Key"
	HeaderCFFSecuritySecretKey = "X-CFF-Security-Secret-Key"
	HeaderCFFSecurityToken     = "X-CFF-Security-Token"
	// Custom runtimes name the keys so.
	HeaderCFFAccessKey = "X-CFF-Access-Key"
	HeaderCFFSecretKey = "X-CFF-Secret-Key"
)

// RequestContext returns ctx carrying the FunctionGraph credentials of a
// request's header: its temporary keys ([WithKeys]) when it has an access
// key and a secret key under either naming, and its X-CFF-Auth-Token
// ([WithToken]) when it has one. A header without them gives ctx as it is.
// Names are matched without regard to case, also in a header built from a
// map whose keys are not in canonical form (an event's JSON).
func RequestContext(ctx context.Context, h http.Header) context.Context {
	get := func(names ...string) string {
		for _, name := range names {
			if v := strings.TrimSpace(h.Get(name)); v != "" {
				return v
			}
			for key, values := range h {
				if strings.EqualFold(key, name) && len(values) > 0 && strings.TrimSpace(values[0]) != "" {
					return strings.TrimSpace(values[0])
				}
			}
		}
		return ""
	}
	keys := Keys{
		AccessKey:     get(HeaderCFFSecurityAccessKey, HeaderCFFAccessKey),
		SecretKey:     Secret(get(HeaderCFFSecuritySecretKey, HeaderCFFSecretKey)),
		SecurityToken: Secret(get(HeaderCFFSecurityToken)),
	}
	if keys.AccessKey != "" && keys.SecretKey != "" {
		ctx = WithKeys(ctx, keys)
	}
	if tok := get(HeaderCFFAuthToken); tok != "" {
		ctx = WithToken(ctx, Secret(tok))
	}
	return ctx
}

// RequestCredentials authorises each request with the credentials it
// carries in its context: keys ([WithKeys]) are signed with, else a token
// ([WithToken]) is sent as X-Auth-Token, else the Fallback authorises it.
// Without any of them the error (unauthorized) names the FunctionGraph
// headers that were looked for.
type RequestCredentials struct {
	// Fallback authorises requests that carry no credentials; may be nil.
	Fallback Authorizer
	// Now tells the signing time; nil means time.Now.
	Now func() time.Time
}

// Authorize signs req with the context's keys, or sets its token, or asks
// the Fallback. A request's own credentials cannot be replaced after a 401.
func (r RequestCredentials) Authorize(ctx context.Context, req *http.Request, body []byte) (Grant, error) {
	if keys, ok := KeysFromContext(ctx); ok {
		now := time.Now
		if r.Now != nil {
			now = r.Now
		}
		return signWith(keys, req, body, now())
	}
	if token, ok := TokenFromContext(ctx); ok {
		req.Header.Set("X-Auth-Token", token.Reveal())
		return Grant{Secrets: []string{token.Reveal()}}, nil
	}
	if r.Fallback != nil {
		return r.Fallback.Authorize(ctx, req, body)
	}
	return Grant{}, &wrapError{msg: "iam: the request carries no credentials: looked for the headers " +
		HeaderCFFSecurityAccessKey + ", " + HeaderCFFSecuritySecretKey + " and " + HeaderCFFSecurityToken +
		" (custom runtimes: " + HeaderCFFAccessKey + ", " + HeaderCFFSecretKey + "), and " + HeaderCFFAuthToken +
		" (give the function an agency and turn on Include Keys)", err: ErrNoToken}
}

// String describes the authorizer; it never shows a secret.
func (r RequestCredentials) String() string {
	if r.Fallback == nil {
		return "iam.RequestCredentials{}"
	}
	return fmt.Sprintf("iam.RequestCredentials{Fallback: %T}", r.Fallback)
}

// compile-time checks
var (
	_ Authorizer = Signer{}
	_ Authorizer = RequestCredentials{}
	_ Authorizer = TokenAuthorizer{}
)
