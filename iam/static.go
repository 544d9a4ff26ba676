package iam

import (
	"context"
	"fmt"
)

// Static is a fixed token, for example one given in the environment.
type Static struct {
	token Secret
}

// NewStatic returns a source that always gives token.
func NewStatic(token Secret) *Static { return &Static{token: token} }

// Token returns the token, or an error wrapping [ErrNoToken] if it is empty.
func (s *Static) Token(context.Context) (string, error) {
	if s.token == "" {
		return "", &wrapError{msg: "iam: the static token is empty", err: ErrNoToken}
	}
	return s.token.Reveal(), nil
}

// Format prints the source without its token.
func (s Static) Format(f fmt.State, _ rune) { _, _ = fmt.Fprint(f, "iam.Static{[redacted]}") }
