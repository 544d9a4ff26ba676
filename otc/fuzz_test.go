package otc

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func FuzzParseErrorBody(f *testing.F) {
	for _, s := range []string{
		`{"error_code":"BackupService.9900","error_msg":"Invalid vault_id provided."}`,
		`{"error":{"code":404,"message":"Could not find project","title":"Not Found"}}`,
		`{"error":"plain"}`,
		`{"code":"APIGW.0301","message":"Incorrect IAM authentication information","request_id":"r"}`,
		`{"code":1e400,"message":["x"]}`,
		"<html>\n<body>502 Bad Gateway</body></html>",
		"",
		"\xff\xfe",
	} {
		f.Add([]byte(s), "tok-1234")
	}
	f.Fuzz(func(t *testing.T, body []byte, secret string) {
		code, msg, reqID := ParseErrorBody(body, secret)
		for _, s := range []string{code, msg, reqID} {
			if !utf8.ValidString(s) || strings.ContainsAny(s, "\n\r\t\x00") || len(s) > MaxMessage+len("...") {
				t.Fatalf("ParseErrorBody(%q) gave %q", body, s)
			}
			// A token-like secret never survives.
			if tokenLike(secret) && strings.Contains(s, secret) {
				t.Fatalf("ParseErrorBody(%q) kept the secret %q in %q", body, secret, s)
			}
		}
	})
}

// tokenLike reports whether s looks like a token: at least 8 letters, digits,
// _ or -, and not part of Redacted.
func tokenLike(s string) bool {
	if len(s) < 8 || strings.Contains(Redacted, s) {
		return false
	}
	for _, r := range s {
		if !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}
