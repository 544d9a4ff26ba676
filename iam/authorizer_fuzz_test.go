package iam_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/restorepoint/restorepoint/iam"
)

// FuzzRequestCredentials feeds arbitrary FunctionGraph credential headers
// through RequestContext and RequestCredentials: no panic, and no error
// quotes the secret key or the security token.
func FuzzRequestCredentials(f *testing.F) {
	f.Add("AKEXAMPLE", "sk-SECRET-value", "token-SECRET-value", "", false)
	f.Add("AK/with=bad chars", "sk-SECRET-value", "", "auth-SECRET-token", true)
	f.Add("", "", "", "", false)
	f.Add("AK", "sk\nSECRET", "tok\x00SECRET", "", true)
	f.Fuzz(func(t *testing.T, ak, sk, token, authToken string, customNames bool) {
		h := http.Header{}
		akName, skName := iam.HeaderCFFSecurityAccessKey, iam.HeaderCFFSecuritySecretKey
		if customNames {
			akName, skName = iam.HeaderCFFAccessKey, iam.HeaderCFFSecretKey
		}
		h[akName] = []string{ak}
		h[skName] = []string{sk}
		h[iam.HeaderCFFSecurityToken] = []string{token}
		h[iam.HeaderCFFAuthToken] = []string{authToken}
		ctx := iam.RequestContext(context.Background(), h)
		req, err := http.NewRequest(http.MethodPost, "https://cbr.example.com/v3/p/checkpoints", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("X-Project-Id", "p")
		_, err = iam.RequestCredentials{}.Authorize(ctx, req, []byte(`{}`))
		if err == nil {
			return
		}
		for _, secret := range []string{strings.TrimSpace(sk), strings.TrimSpace(token)} {
			if len(secret) >= 8 && strings.Contains(err.Error(), secret) {
				t.Fatalf("error quotes a secret: %v", err)
			}
		}
	})
}
