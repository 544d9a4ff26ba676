package otc

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestParseErrorBody(t *testing.T) {
	tests := []struct {
		name                 string
		body                 string
		secrets              []string
		code, message, reqID string
	}{
		{"CBR shape", `{"error_code":"BackupService.9900","error_msg":"Invalid vault_id provided."}`, nil, "BackupService.9900", "Invalid vault_id provided.", ""},
		{"IAM shape", `{"error_code":"IAM.0001","error_msg":"Busy."}`, nil, "IAM.0001", "Busy.", ""},
		{"Keystone", `{"error":{"code":404,"message":"Could not find project","title":"Not Found"}}`, nil, "404", "Could not find project", ""},
		{"Keystone without message", `{"error":{"code":"404","title":"Not Found"}}`, nil, "404", "Not Found", ""},
		{"Keystone 401", `{"error":{"code":401,"message":"Wrong.","title":"Unauthorized"}}`, nil, "401", "Wrong.", ""},
		{"error as text", `{"error":"plain words"}`, nil, "", "plain words", ""},
		{"gateway shape", `{"code":"APIGW.0301","message":"Incorrect IAM authentication information","request_id":"r1"}`, nil, "APIGW.0301", "Incorrect IAM authentication information", "r1"},
		{"numeric code", `{"code":1001,"message":"x"}`, nil, "1001", "x", ""},
		{"unknown object", `{"unrelated":true}`, nil, "", `{"unrelated":true}`, ""},
		{"array", `[1,2]`, nil, "", `[1,2]`, ""},
		{"text", "  Service\r\n Unavailable \n", nil, "", "Service Unavailable", ""},
		{"empty", "", nil, "", "", ""},
		{"secret in message", `{"error_msg":"bad password s3cret!"}`, []string{"s3cret!"}, "", "bad password [redacted]", ""},
		{"secret in text", "echo: X-Auth-Token: tok-123", []string{"", "tok-123"}, "", "echo: X-Auth-Token: [redacted]", ""},
		{"secret in request id", `{"code":"x","request_id":"tok-123"}`, []string{"tok-123"}, "x", "", "[redacted]"},
		{"control characters", "a\x1b[31mred\x00b", nil, "", "a [31mred b", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, msg, reqID := ParseErrorBody([]byte(tt.body), tt.secrets...)
			if code != tt.code || msg != tt.message || reqID != tt.reqID {
				t.Errorf("ParseErrorBody(%q) = %q, %q, %q; want %q, %q, %q", tt.body, code, msg, reqID, tt.code, tt.message, tt.reqID)
			}
		})
	}
}

func TestParseErrorBodySecretLongerThanMessage(t *testing.T) {
	// The secret is scrubbed before the text is cut: a cut secret would
	// no longer match.
	secret := strings.Repeat("k", 2*MaxMessage)
	_, msg, _ := ParseErrorBody([]byte(`{"error_msg":"token `+secret+` refused"}`), secret)
	if msg != "token [redacted] refused" {
		t.Errorf("message = %q", msg)
	}
}

func TestOneLine(t *testing.T) {
	long := strings.Repeat("x", MaxMessage+100)
	runes := strings.Repeat("é", MaxMessage) // 2 bytes each
	tests := []struct{ name, in, want string }{
		{"short", "hello", "hello"},
		{"white space", " a \t b\r\nc ", "a b c"},
		{"invalid UTF-8", "a\xffb", "a\uFFFDb"},
		{"exactly the limit", long[:MaxMessage], long[:MaxMessage]},
		{"too long", long, long[:MaxMessage] + "..."},
		{"cut on a rune boundary", runes, runes[:MaxMessage] + "..."},
		{"cut inside a rune", "a" + runes, "a" + runes[:MaxMessage-2] + "..."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := OneLine(tt.in)
			if got != tt.want {
				t.Errorf("OneLine(%.20q...) = %.40q... (%d bytes), want %.40q... (%d bytes)", tt.in, got, len(got), tt.want, len(tt.want))
			}
			if !utf8.ValidString(got) || len(got) > MaxMessage+len("...") {
				t.Errorf("OneLine gave %d bytes, valid UTF-8 %v", len(got), utf8.ValidString(got))
			}
		})
	}
}

func TestScrub(t *testing.T) {
	tests := []struct {
		name, in string
		secrets  []string
		want     string
	}{
		{"none", "a token", nil, "a token"},
		{"empty secret ignored", "abc", []string{""}, "abc"},
		{"every occurrence", "t1 and t1", []string{"t1"}, "[redacted] and [redacted]"},
		{"several secrets", "user pw tok", []string{"pw", "tok"}, "user [redacted] [redacted]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Scrub(tt.in, tt.secrets...); got != tt.want {
				t.Errorf("Scrub = %q, want %q", got, tt.want)
			}
			if got := string(ScrubBytes([]byte(tt.in), tt.secrets...)); got != tt.want {
				t.Errorf("ScrubBytes = %q, want %q", got, tt.want)
			}
		})
	}
	b := []byte("no secret here")
	if got := ScrubBytes(b, "tok"); &got[0] != &b[0] {
		t.Error("ScrubBytes copied a body without the secret")
	}
}

func TestReadErrorBody(t *testing.T) {
	if got := ReadErrorBody(strings.NewReader(strings.Repeat("x", MaxErrorBody+10))); len(got) != MaxErrorBody {
		t.Errorf("read %d bytes, want %d", len(got), MaxErrorBody)
	}
}

func TestParseTime(t *testing.T) {
	tests := []struct {
		in   string
		want time.Time
		ok   bool
	}{
		{"2015-11-09T01:42:57.527363Z", time.Date(2015, 11, 9, 1, 42, 57, 527363000, time.UTC), true},
		{"2015-11-09T02:42:57.5+01:00", time.Date(2015, 11, 9, 1, 42, 57, 500000000, time.UTC), true},
		{"2015-11-09T09:42:57+0800", time.Date(2015, 11, 9, 1, 42, 57, 0, time.UTC), true},
		{"2015-11-09T01:42:57.527363", time.Date(2015, 11, 9, 1, 42, 57, 527363000, time.UTC), true},
		{"2015-11-09 01:42:57", time.Date(2015, 11, 9, 1, 42, 57, 0, time.UTC), true},
		{"tomorrow", time.Time{}, false},
		{"", time.Time{}, false},
		{"2015-11-09", time.Time{}, false},
	}
	for _, tt := range tests {
		got, ok := ParseTime(tt.in)
		if ok != tt.ok || !got.Equal(tt.want) {
			t.Errorf("ParseTime(%q) = %v, %v; want %v, %v", tt.in, got, ok, tt.want, tt.ok)
		}
		if ok && got.Location() != time.UTC && !strings.ContainsAny(tt.in[10:], "Z+-") {
			t.Errorf("ParseTime(%q) is in %v, want UTC", tt.in, got.Location())
		}
	}
}

func TestSleep(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	if err := Sleep(ctx, time.Millisecond); err != nil {
		t.Errorf("Sleep = %v", err)
	}
	if err := Sleep(ctx, 0); err != nil {
		t.Errorf("Sleep(0) = %v", err)
	}
	cancel()
	start := time.Now()
	if err := Sleep(ctx, time.Hour); !errors.Is(err, context.Canceled) {
		t.Errorf("Sleep after cancel = %v", err)
	}
	if err := Sleep(ctx, 0); !errors.Is(err, context.Canceled) {
		t.Errorf("Sleep(0) after cancel = %v", err)
	}
	if time.Since(start) > time.Second {
		t.Error("Sleep did not return when the context was done")
	}
}

func TestAnswerText(t *testing.T) {
	for _, c := range []struct {
		status           int
		message, request string
		want             string
	}{
		{404, "vault does not exist", "abc", ": vault does not exist (request id abc)"},
		{503, "", "", ": Service Unavailable"},
		{599, "", "r-1", " (request id r-1)"},
	} {
		if got := AnswerText(c.status, c.message, c.request); got != c.want {
			t.Errorf("AnswerText(%d, %q, %q) = %q, want %q", c.status, c.message, c.request, got, c.want)
		}
	}
}
