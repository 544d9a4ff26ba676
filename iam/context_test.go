package iam_test

import (
	"context"
	"errors"
	"testing"

	"github.com/restorepoint/restorepoint/iam"
)

// recordingSource is a fallback that records invalidations.
type recordingSource struct {
	token       string
	invalidated []string
}

func (s *recordingSource) Token(context.Context) (string, error) { return s.token, nil }
func (s *recordingSource) Invalidate(token string)               { s.invalidated = append(s.invalidated, token) }

func TestContextSource(t *testing.T) {
	const noToken = "iam: no token in the request (X-CFF-Auth-Token header missing?)"
	tests := []struct {
		name     string
		ctx      context.Context
		fallback iam.TokenSource
		want     string
		wantErr  string
	}{
		{"request token", iam.WithToken(context.Background(), "req-token"), nil, "req-token", ""},
		{"request token wins over fallback", iam.WithToken(context.Background(), "req-token"), iam.NewStatic("fallback"), "req-token", ""},
		{"fallback", context.Background(), iam.NewStatic("fallback"), "fallback", ""},
		{"empty request token uses fallback", iam.WithToken(context.Background(), ""), iam.NewStatic("fallback"), "fallback", ""},
		{"no token", context.Background(), nil, "", noToken},
		{"empty request token, no fallback", iam.WithToken(context.Background(), ""), nil, "", noToken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := iam.ContextSource{Fallback: tt.fallback}.Token(tt.ctx)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr || !errors.Is(err, iam.ErrNoToken) {
					t.Fatalf("Token() error = %v, want %q wrapping ErrNoToken", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("Token() = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestTokenFromContext(t *testing.T) {
	if _, ok := iam.TokenFromContext(context.Background()); ok {
		t.Error("TokenFromContext(empty context) reports a token")
	}
	tok, ok := iam.TokenFromContext(iam.WithToken(context.Background(), "abc"))
	if !ok || tok.Reveal() != "abc" {
		t.Errorf("TokenFromContext = %q, %v; want abc, true", tok.Reveal(), ok)
	}
}

func TestContextSourceInvalidateReachesFallback(t *testing.T) {
	fallback := &recordingSource{token: "t"}
	iam.ContextSource{Fallback: fallback}.Invalidate("t")
	iam.ContextSource{}.Invalidate("t") // no fallback: nothing to do, no panic
	iam.ContextSource{Fallback: iam.NewStatic("x")}.Invalidate("x")
	if len(fallback.invalidated) != 1 || fallback.invalidated[0] != "t" {
		t.Errorf("fallback invalidated %q, want [t]", fallback.invalidated)
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
