package cbr

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// APIError is an HTTP answer from the API other than success.
//
// Its Error text names the method, URL, status, error code, message and
// request id; it never contains the request's token or other headers.
type APIError struct {
	// StatusCode is the HTTP status, such as 404.
	StatusCode int
	// Code is the API error code, such as "BackupService.6105", or the
	// numeric Keystone code as a string ("404"). Empty when the body had none.
	Code string
	// Message is the error message from the body, or the trimmed body text
	// when it was not JSON (truncated).
	Message string
	// RequestID is the X-Request-Id response header (or the body's
	// request_id when the header is missing).
	RequestID string
	// Method and URL identify the request.
	Method, URL string
	// RetryAfter is the server's Retry-After hint; zero when absent.
	RetryAfter time.Duration
}

// Error returns a one-line description such as
// "POST https://host/v3/p/checkpoints: 404 BackupService.6105: vault does not exist (request id abc)".
func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s: %d", e.Method, e.URL, e.StatusCode)
	if e.Code != "" {
		b.WriteString(" " + e.Code)
	}
	msg := e.Message
	if msg == "" {
		msg = http.StatusText(e.StatusCode)
	}
	if msg != "" {
		b.WriteString(": " + msg)
	}
	if e.RequestID != "" {
		b.WriteString(" (request id " + e.RequestID + ")")
	}
	return b.String()
}

// Class returns the class of the error; see ClassOf.
func (e *APIError) Class() Class {
	switch {
	case e.StatusCode == http.StatusUnauthorized:
		return ClassUnauthorized
	case e.StatusCode == http.StatusTooManyRequests:
		return ClassThrottled
	case e.StatusCode >= 500:
		return ClassUnavailable
	default:
		return ClassRejected
	}
}

// Class says what a caller can do about an error. Callers map classes to
// their own outcomes (HTTP status, redelivery, dead letter) in one place.
type Class string

// Error classes.
const (
	// ClassInvalid: the request broke a rule of the API page; nothing was sent.
	ClassInvalid Class = "invalid"
	// ClassRejected: the API refused the request (4xx other than 401 and 429);
	// sending it again will not help.
	ClassRejected Class = "rejected"
	// ClassUnauthorized: the API refused the token (401), even after a fresh one.
	ClassUnauthorized Class = "unauthorized"
	// ClassThrottled: the API asked to slow down (429); retry later.
	ClassThrottled Class = "throttled"
	// ClassUnavailable: the API or the network failed (5xx, including
	// BackupService.0002 "resources are being backed up", timeouts, resets,
	// cancellation, malformed answers); retry later.
	ClassUnavailable Class = "unavailable"
)

// classifier is implemented by errors that know their class. Errors from
// other packages (a token source, say) can implement it to steer ClassOf.
type classifier interface {
	Class() Class
}

// ClassOf returns the class of err, or "" for a nil error.
//
// *ValidationError is ClassInvalid; *APIError is classed by status (401
// unauthorized, 429 throttled, 5xx unavailable, other rejected); any error in
// the chain with a Class() Class method decides for itself; everything else
// (network errors, timeouts, context errors, io.ErrUnexpectedEOF, malformed
// answers, token source failures) is ClassUnavailable.
func ClassOf(err error) Class {
	if err == nil {
		return ""
	}
	var c classifier
	if errors.As(err, &c) {
		return c.Class()
	}
	return ClassUnavailable
}

// Retryable reports whether err is worth retrying later: throttled or unavailable.
func Retryable(err error) bool {
	switch ClassOf(err) {
	case ClassThrottled, ClassUnavailable:
		return true
	}
	return false
}

// ErrMalformedResponse is wrapped by errors for a successful status whose body
// could not be read as the expected JSON, or was too large. The request may
// have taken effect, so the client does not retry it.
var ErrMalformedResponse = errors.New("malformed response body")

// maxMessage is the longest message kept from an error body, in bytes.
const maxMessage = 512

// errorBody covers the error shapes the API and its gateways use:
//
//	{"error_code":"BackupService.9900","error_msg":"..."}
//	{"error":{"code":404,"message":"...","title":"Not Found"}}
//	{"code":"...","message":"..."}
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

// parseErrorBody extracts the error code, message and body request id from an
// error body of any known shape. A body that is not JSON of a known shape
// yields its trimmed, truncated text as the message. Every occurrence of
// token is replaced before anything is truncated.
func parseErrorBody(body []byte, token string) (code, message, requestID string) {
	clean := func(s string) string { return oneLine(scrubToken(s, token)) }
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
			// {"error":"text"}
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

// oneLine collapses white space and truncates s to maxMessage bytes on a
// rune boundary, marking the cut with "...".
func oneLine(s string) string {
	s = strings.Join(strings.Fields(strings.ToValidUTF8(s, "\uFFFD")), " ")
	if len(s) <= maxMessage {
		return s
	}
	cut := maxMessage
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}

// parseRetryAfter reads a Retry-After value: delay seconds or an HTTP date
// (relative to now). It returns zero when the value is absent or invalid.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		if secs > int64(maxRetryAfterHint/time.Second) {
			return maxRetryAfterHint
		}
		return time.Duration(secs) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return min(d, maxRetryAfterHint)
		}
	}
	return 0
}

// maxRetryAfterHint caps parsed Retry-After values so arithmetic cannot overflow.
const maxRetryAfterHint = 24 * time.Hour
