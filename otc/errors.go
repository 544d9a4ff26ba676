package otc

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"
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

// MaxShown is the most bytes of an outside value (an id, a source) Shorten
// keeps for a log line or a reply.
const MaxShown = 256

// Shorten returns s when it is at most MaxShown bytes, else its first bytes
// (on a rune boundary) and a marker saying how long it was, so that a
// hostile megabyte is never logged or echoed whole.
func Shorten(s string) string {
	if len(s) <= MaxShown {
		return s
	}
	cut := MaxShown - 32
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…[" + strconv.Itoa(len(s)) + " bytes]"
}

// AnswerText is how an API's error answer ends its one-line description:
// ": " and the answer's message (the status text when it has none), then
// " (request id …)" when it named one.
func AnswerText(status int, message, requestID string) string {
	if message == "" {
		message = http.StatusText(status)
	}
	var s string
	if message != "" {
		s = ": " + message
	}
	if requestID != "" {
		s += " (request id " + requestID + ")"
	}
	return s
}

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

// TransportError is a request that got no answer: the connection could not
// be made, broke, or timed out. Its Error text says which, without the URL
// or the socket addresses (net/http's errors name both); Unwrap gives the
// cause.
type TransportError struct{ Err error }

// Error describes the failure, such as "no answer: connection refused".
func (e *TransportError) Error() string { return "no answer: " + describeTransport(e.Err) }

// Unwrap returns the cause (a *url.Error from net/http).
func (e *TransportError) Unwrap() error { return e.Err }

// describeTransport says what went wrong with a request that got no answer,
// without an address.
func describeTransport(err error) string {
	var dnsErr *net.DNSError
	var opErr *net.OpError
	var errno syscall.Errno
	var netErr net.Error
	var certErr *tls.CertificateVerificationError
	switch {
	case errors.Is(err, context.Canceled):
		return "cancelled"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return "timed out"
	case errors.As(err, &dnsErr):
		return "the host name did not resolve"
	case errors.As(err, &errno):
		if errors.As(err, &opErr) && opErr.Op == "dial" {
			return "could not connect: " + errno.Error()
		}
		return errno.Error()
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "the connection closed before the answer"
	case errors.As(err, &certErr):
		return "the server's TLS certificate is not trusted"
	case errors.As(err, &opErr):
		return "network error (" + opErr.Op + ")"
	}
	return "request failed"
}
