package iam

import (
	"strings"
	"testing"
)

// FuzzParseCredentials decodes arbitrary SecretStrings: nothing panics, and
// a decoded secret is of exactly one usable kind.
func FuzzParseCredentials(f *testing.F) {
	for _, seed := range []string{
		`{"access_key":"AK1","secret_key":"sk","security_token":"t","webhook_secret":"w"}`,
		`{"username":"u","password":"p","domain_name":"d"}`,
		`{"token":"t"}`,
		`{"access_key":1}`, `null`, `[]`, `"x"`, ``, `{"password":"a\u0000b","username":"u","domain_name":"d"}`,
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, secretString string) {
		c, reason := parseCredentials(secretString)
		if reason != "" {
			if c != (Credentials{}) {
				t.Fatalf("credentials %v with reason %q", c, reason)
			}
			return
		}
		switch c.Kind {
		case CredentialKeys:
			if c.Keys.Validate() != nil {
				t.Fatalf("unusable keys %v", c.Keys)
			}
		case CredentialPassword:
			if c.Username == "" || c.Password == "" || c.DomainName == "" {
				t.Fatalf("incomplete password credentials %v", c)
			}
		case CredentialToken:
			if c.Token == "" || strings.ContainsFunc(c.Token.Reveal(), isControl) {
				t.Fatalf("unusable token")
			}
		default:
			t.Fatalf("no kind: %v", c)
		}
	})
}
