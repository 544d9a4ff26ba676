package otc

import (
	"bytes"
	"encoding/json"
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

// FuzzMembers holds Members to encoding/json: for a valid JSON object, the
// members it yields, the last of each key kept, are those json.Unmarshal
// puts in a map of raw values; for anything else it yields nothing or
// something, but does not panic.
func FuzzMembers(f *testing.F) {
	for _, s := range []string{
		`{"a":1,"b":"x","c":{"d":[1,"}",{"e":null}]},"a":true}`,
		` { "k\u00e9y" : "v\"al" , "n" : -1.5e3 , "t":false } `,
		`{}`, `[1,2]`, `"s"`, `{"a"`, `{"a":`, `{"a":[}`, "{\"\xff\":1}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		got := map[string]json.RawMessage{}
		for k, v := range Members(data) {
			got[k.String()] = v
			if !k.Is(k.String()) || !k.EqualFold(k.String()) {
				t.Fatalf("Members(%q): key %q is not itself (Is, EqualFold)", data, k)
			}
		}
		var want map[string]json.RawMessage
		if !json.Valid(data) || json.Unmarshal(data, &want) != nil || want == nil {
			return
		}
		if len(got) != len(want) {
			t.Fatalf("Members(%q) = %q, json.Unmarshal %q", data, got, want)
		}
		for k, v := range want {
			if g, ok := got[k]; !ok || !bytes.Equal(g, v) {
				t.Fatalf("Members(%q)[%q] = %q, json.Unmarshal %q", data, k, g, v)
			}
		}
	})
}
