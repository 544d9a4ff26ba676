package githubapp

import (
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/restorepoint/restorepoint/otc"
)

// FuzzParseErrorBody: whatever the body, the text is one line of UTF-8,
// bounded, without the secret.
func FuzzParseErrorBody(f *testing.F) {
	f.Add([]byte(`{"message":"Bad credentials","documentation_url":"https://docs.github.com/rest","status":"401"}`), "ghs_secret")
	f.Add([]byte(`{"message":"Validation Failed","errors":[{"resource":"Review","field":"state","code":"invalid"},"plain",{"message":"m"},{},1],"documentation_url":"x"}`), "tok")
	f.Add([]byte(`{"message":"token ghs_abc is bad\n\nreally"}`), "ghs_abc")
	f.Add([]byte("<html><body>502 Bad Gateway</body></html>"), "")
	f.Add([]byte(`{"message":null,"errors":"x"}`), "x")
	f.Add([]byte("\xff\xfe{\"message\":1}"), "\xff")
	f.Fuzz(func(t *testing.T, body []byte, secret string) {
		got := parseErrorBody(body, secret)
		if !utf8.ValidString(got) || strings.ContainsAny(got, "\r\n\t") || len(got) > otc.MaxMessage+3 {
			t.Fatalf("parseErrorBody = %q: want one bounded line of UTF-8", got)
		}
		if len(secret) >= 8 && utf8.ValidString(secret) && strings.TrimSpace(secret) == secret &&
			!strings.ContainsFunc(secret, func(r rune) bool { return r < ' ' || r == 0x7f }) &&
			!strings.Contains(otc.Redacted, secret) && strings.Contains(got, secret) {
			t.Fatalf("parseErrorBody = %q: holds the secret %q", got, secret)
		}
	})
}

// FuzzCallbackTarget: a callback URL is accepted only as a review path on
// the configured API, and the target it gives is on that API.
func FuzzCallbackTarget(f *testing.F) {
	for _, s := range []string{
		"https://ghe.example.com/api/v3/repos/o/r/actions/runs/1/deployment_protection_rule",
		"https://ghe.example.com/api/v3/repos/o/../actions/runs/1/deployment_protection_rule",
		"https://ghe.example.com:443/api/v3/repos/o%2Fx/r/actions/runs/1/deployment_protection_rule",
		"https://evil.example/api/v3/repos/o/r/actions/runs/1/deployment_protection_rule",
		"https://ghe.example.com@evil.example/api/v3/repos/o/r/actions/runs/1/deployment_protection_rule",
		"//ghe.example.com/api/v3/repos/o/r/actions/runs/1/deployment_protection_rule",
		"",
	} {
		f.Add(s)
	}
	api, err := parseAPIURL("https://ghe.example.com/api/v3")
	if err != nil {
		f.Fatal(err)
	}
	c := &Client{api: api}
	f.Fuzz(func(t *testing.T, callback string) {
		target, rule := c.callbackTarget(callback)
		if rule != "" {
			if target != "" || strings.ContainsAny(rule, "\r\n") {
				t.Fatalf("refused with target %q and rule %q", target, rule)
			}
			return
		}
		u, err := url.Parse(target)
		if err != nil {
			t.Fatalf("target %q: %v", target, err)
		}
		if u.Scheme != "https" || u.Host != "ghe.example.com" || u.User != nil || u.RawQuery != "" || u.Fragment != "" ||
			!strings.HasPrefix(u.EscapedPath(), "/api/v3/repos/") || !strings.HasSuffix(u.Path, "/deployment_protection_rule") ||
			strings.Contains(u.Path, "/../") || strings.Contains(u.Path, "/./") {
			t.Fatalf("callback %q accepted as %q", callback, target)
		}
	})
}
