package otc

import (
	"bytes"
	"encoding/json"
	"io"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Redacted replaces a secret wherever one would be shown.
const Redacted = "[redacted]"

// MaxErrorBody is how much of an error answer's body is read, in bytes.
const MaxErrorBody = 64 << 10

// MaxMessage is the longest text kept from an error body, in bytes; see
// OneLine.
const MaxMessage = 512

// ReadErrorBody reads at most MaxErrorBody bytes of an error answer's body.
// A read error ends the body early: what was read is returned.
func ReadErrorBody(r io.Reader) []byte {
	b, _ := io.ReadAll(io.LimitReader(r, MaxErrorBody))
	return b
}

// Scrub replaces every occurrence of each non-empty secret in s with
// Redacted. It must run before anything cuts s short: tokens are kilobytes
// long, and a cut one would no longer match.
func Scrub(s string, secrets ...string) string {
	for _, secret := range secrets {
		if secret != "" {
			s = strings.ReplaceAll(s, secret, Redacted)
		}
	}
	return s
}

// ScrubBytes is Scrub for a body; it copies b only when b holds a secret.
func ScrubBytes(b []byte, secrets ...string) []byte {
	for _, secret := range secrets {
		if secret != "" && bytes.Contains(b, []byte(secret)) {
			b = bytes.ReplaceAll(b, []byte(secret), []byte(Redacted))
		}
	}
	return b
}

// OneLine makes text from an answer safe to quote in an error, a log line or
// a result event: invalid UTF-8 becomes U+FFFD, every run of white space and
// control characters one space, surrounding space is trimmed, and text
// longer than MaxMessage bytes is cut there (on a rune boundary) and ends
// with "...". The result is at most MaxMessage+3 bytes long.
func OneLine(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Join(strings.FieldsFunc(s, func(r rune) bool {
		return unicode.IsSpace(r) || unicode.IsControl(r)
	}), " ")
	if len(s) <= MaxMessage {
		return s
	}
	cut := MaxMessage
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}

// errorBody covers the error shapes Open Telekom Cloud services and their
// gateways use.
type errorBody struct {
	ErrorCode json.RawMessage `json:"error_code"`
	ErrorMsg  json.RawMessage `json:"error_msg"`
	Error     json.RawMessage `json:"error"`
	Code      json.RawMessage `json:"code"`
	Message   json.RawMessage `json:"message"`
	RequestID json.RawMessage `json:"request_id"`
}

// keystoneError is the inner object of the Keystone shape.
type keystoneError struct {
	Code    json.RawMessage `json:"code"`
	Message json.RawMessage `json:"message"`
	Title   json.RawMessage `json:"title"`
}

// ParseErrorBody extracts the error code, message and request id from an
// error body in any of the shapes
//
//	{"error_code":"BackupService.9900","error_msg":"...","request_id":"..."}
//	{"error":{"code":404,"message":"...","title":"Not Found"}}   (Keystone, IAM)
//	{"code":"APIGW.0301","message":"..."}                        (API gateway)
//	{"error":"..."}
//
// A numeric code is returned as its literal ("404"); a Keystone error without
// message gives its title. A body of no known shape gives its text as the
// message. Every occurrence of each secret is replaced with Redacted first;
// then each value goes through OneLine.
func ParseErrorBody(body []byte, secrets ...string) (code, message, requestID string) {
	clean := func(s string) string { return OneLine(Scrub(s, secrets...)) }
	var eb errorBody
	if err := json.Unmarshal(body, &eb); err == nil {
		code = firstNonEmpty(jsonText(eb.ErrorCode), jsonText(eb.Code))
		message = firstNonEmpty(jsonText(eb.ErrorMsg), jsonText(eb.Message))
		requestID = jsonText(eb.RequestID)
		var ks keystoneError
		if len(eb.Error) > 0 && json.Unmarshal(eb.Error, &ks) == nil {
			code = firstNonEmpty(code, jsonText(ks.Code))
			message = firstNonEmpty(message, jsonText(ks.Message), jsonText(ks.Title))
		} else {
			message = firstNonEmpty(message, jsonText(eb.Error))
		}
		if code != "" || message != "" {
			return clean(code), clean(message), clean(requestID)
		}
	}
	return "", clean(string(body)), clean(requestID)
}

// jsonText returns a JSON string's value or a JSON number's literal, else "".
func jsonText(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		return n.String()
	}
	return ""
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}
