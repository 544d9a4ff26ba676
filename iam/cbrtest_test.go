package iam_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/restorepoint/restorepoint/cbr/cbrtest"
	"github.com/restorepoint/restorepoint/failure"
	"github.com/restorepoint/restorepoint/iam"
)

// These tests run the Password source against the project's IAM emulator.

func emulatorPassword(t *testing.T, srv *cbrtest.Server, endpoint string, password iam.Secret) *iam.Password {
	t.Helper()
	p, err := iam.NewPassword(iam.PasswordConfig{
		Endpoint:   endpoint,
		Username:   cbrtest.DemoUser,
		Password:   password,
		DomainName: cbrtest.DemoDomain,
		ProjectID:  cbrtest.DefaultProjectID,
		HTTPClient: srv.Client(),
	})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// cbrStatus calls the CBR API of srv with token and returns the status.
func cbrStatus(t *testing.T, srv *cbrtest.Server, token string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, srv.URL+"/v3/"+cbrtest.DefaultProjectID+"/checkpoints/00000000-0000-0000-0000-000000000000", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Auth-Token", token)
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestPasswordAgainstEmulator(t *testing.T) {
	for _, suffix := range []string{"", "/v3"} {
		t.Run("endpoint"+suffix, func(t *testing.T) {
			srv := cbrtest.NewServer(cbrtest.Options{})
			defer srv.Close()
			p := emulatorPassword(t, srv, srv.URL+suffix, cbrtest.DemoPassword)
			ctx := context.Background()

			token, err := p.Token(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if again, _ := p.Token(ctx); again != token || srv.IAMTokenRequests() != 1 {
				t.Fatalf("second Token() = %q after %d IAM requests; want the cached token after 1", again, srv.IAMTokenRequests())
			}
			if status := cbrStatus(t, srv, token); status == http.StatusUnauthorized {
				t.Fatalf("CBR refused the IAM token (%d)", status)
			}
			for _, r := range srv.Requests() {
				if strings.Contains(string(r.Body), cbrtest.DemoPassword) {
					t.Errorf("emulator recorded the password in %s %s", r.Method, r.Path)
				}
				if r.Path == "/v3/auth/tokens" && r.Query != "nocatalog=true" {
					t.Errorf("token request query %q, want nocatalog=true", r.Query)
				}
			}

			// A password change revokes the token: the API answers 401, the
			// client invalidates it and the next Token is a new, working one.
			srv.RevokeTokens()
			if status := cbrStatus(t, srv, token); status != http.StatusUnauthorized {
				t.Fatalf("revoked token: status %d, want 401", status)
			}
			p.Invalidate(token)
			fresh, err := p.Token(ctx)
			if err != nil || fresh == token || srv.IAMTokenRequests() != 2 {
				t.Fatalf("after Invalidate: Token() = %v (new: %v) after %d IAM requests", err, fresh != token, srv.IAMTokenRequests())
			}
			if status := cbrStatus(t, srv, fresh); status == http.StatusUnauthorized {
				t.Fatalf("CBR refused the new token (%d)", status)
			}
		})
	}
}

func TestPasswordErrorsAgainstEmulator(t *testing.T) {
	srv := cbrtest.NewServer(cbrtest.Options{})
	defer srv.Close()
	ctx := context.Background()

	_, err := emulatorPassword(t, srv, srv.URL, "not-"+cbrtest.DemoPassword).Token(ctx)
	var iamErr *iam.Error
	if !errors.Is(err, iam.ErrUnauthorized) || !errors.As(err, &iamErr) || failure.ClassOf(err) != failure.Unauthorized ||
		strings.Contains(err.Error(), cbrtest.DemoPassword) {
		t.Errorf("wrong password: error = %v; want a non-temporary ErrUnauthorized without the password", err)
	}

	srv.SetIAMDown(true)
	_, err = emulatorPassword(t, srv, srv.URL, cbrtest.DemoPassword).Token(ctx)
	if !errors.As(err, &iamErr) || failure.ClassOf(err) != failure.Unavailable || iamErr.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("IAM down: error = %v; want a temporary 503 *iam.Error", err)
	}
}
