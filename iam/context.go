package iam

import "context"

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
