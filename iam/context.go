package iam

import (
	"context"
	"fmt"
)

// tokenKey is the context key of the per-request token.
type tokenKey struct{}

// WithToken returns a copy of ctx that carries token, the X-Auth-Token of
// one request (FunctionGraph passes it in the X-CFF-Auth-Token header).
func WithToken(ctx context.Context, token Secret) context.Context {
	return context.WithValue(ctx, tokenKey{}, token)
}

// TokenFromContext returns the token stored by [WithToken]; ok is false if
// there is none or it is empty.
func TokenFromContext(ctx context.Context) (token Secret, ok bool) {
	token, _ = ctx.Value(tokenKey{}).(Secret)
	return token, token != ""
}

// ContextSource gives the token carried in the context (see [WithToken]),
// else the Fallback's token.
type ContextSource struct {
	// Fallback is asked when the context carries no token; may be nil.
	Fallback TokenSource
}

// Token returns the context's token, else the Fallback's, else an error
// wrapping [ErrNoToken].
func (s ContextSource) Token(ctx context.Context) (string, error) {
	if token, ok := TokenFromContext(ctx); ok {
		return token.Reveal(), nil
	}
	if s.Fallback != nil {
		return s.Fallback.Token(ctx)
	}
	return "", &wrapError{
		msg: "iam: no token in the request (X-CFF-Auth-Token header missing?)",
		err: ErrNoToken,
	}
}

// Invalidate passes the refused token on to the Fallback if it is a
// [TokenInvalidator]. A request's own token cannot be replaced.
func (s ContextSource) Invalidate(token string) {
	if inv, ok := s.Fallback.(TokenInvalidator); ok {
		inv.Invalidate(token)
	}
}

// String describes the source; it never shows a token.
func (s ContextSource) String() string {
	if s.Fallback == nil {
		return "iam.ContextSource{}"
	}
	return fmt.Sprintf("iam.ContextSource{Fallback: %T}", s.Fallback)
}
