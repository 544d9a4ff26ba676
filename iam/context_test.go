package iam_test

import (
	"context"
	"errors"
	"testing"

	"github.com/restorepoint/restorepoint/iam"
)

func TestTokenFromContext(t *testing.T) {
	if _, ok := iam.TokenFromContext(context.Background()); ok {
		t.Error("TokenFromContext(empty context) reports a token")
	}
	tok, ok := iam.TokenFromContext(iam.WithToken(context.Background(), "abc"))
	if !ok || tok.Reveal() != "abc" {
		t.Errorf("TokenFromContext = %q, %v; want abc, true", tok.Reveal(), ok)
	}
}

func TestStatic(t *testing.T) {
	got, err := iam.NewStatic("tok").Token(context.Background())
	if err != nil || got != "tok" {
		t.Errorf("Token() = %q, %v; want tok", got, err)
	}
	_, err = iam.NewStatic("").Token(context.Background())
	if err == nil || !errors.Is(err, iam.ErrNoToken) {
		t.Errorf("empty Static: error = %v, want one wrapping ErrNoToken", err)
	}
}
