package cbr

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"unicode/utf8"
)

func addFixtures(f *testing.F, names ...string) {
	for _, name := range names {
		b, err := os.ReadFile("testdata/" + name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

func FuzzDecodeCheckpointResponse(f *testing.F) {
	addFixtures(f, "example_response.json")
	f.Add([]byte(`{"checkpoint":{"id":"c","created_at":"2020-02-05T10:38:34.209782","vault":{"resources":[{"id":"r","type":"OS::Cinder::Volume","resource_size":"40","backup_size":1.5e3,"backup_count":null,"extra_info":{"a":1}}],"skipped_resources":[{"id":"x","code":"BackupService.6135"}]}}}`))
	f.Add([]byte(`{"checkpoint":{"id":"c","created_at":null,"extra_info":null}}`))
	f.Add([]byte(`{"checkpoint":{"id":"c","created_at":""}}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, data []byte) {
		resp, err := decodeCheckpointResponse(data)
		if err != nil {
			return
		}
		enc, err := json.Marshal(resp)
		if err != nil {
			t.Fatalf("re-encode of decoded %q: %v", data, err)
		}
		again, err := decodeCheckpointResponse(enc)
		if err != nil {
			t.Fatalf("decode of re-encoded %s: %v", enc, err)
		}
		enc2, err := json.Marshal(again)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(enc, enc2) {
			t.Fatalf("round trip not stable:\n%s\n%s", enc, enc2)
		}
	})
}

func FuzzParseAPIError(f *testing.F) {
	addFixtures(f, "example_response.json")
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
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		code, msg, reqID := parseErrorBody(body, "")
		for _, s := range []string{code, msg, reqID} {
			if !utf8.ValidString(s) || strings.ContainsAny(s, "\n\r\t") || len(s) > maxMessage+len("...") {
				t.Fatalf("parseErrorBody(%q) gave %q", body, s)
			}
		}
		e := &APIError{StatusCode: 500, Code: code, Message: msg, RequestID: reqID, Method: "POST", URL: "u"}
		if e.Error() == "" || ClassOf(e) != ClassUnavailable {
			t.Fatal("bad APIError")
		}
	})
}
