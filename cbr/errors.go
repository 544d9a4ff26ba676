package cbr

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/restorepoint/restorepoint/failure"
	"github.com/restorepoint/restorepoint/otc"
)

// APIError is an HTTP answer from the API other than success.
//
// Its Error text names the status, error code, message and request id;
// never the URL (which holds the project id), the token or other headers.
type APIError struct {
	// StatusCode is the HTTP status, such as 404.
	StatusCode int
	// Code is the API error code, such as "BackupService.6105", or the
	// numeric Keystone code as a string ("404"). Empty when the body had none.
	Code string
	// Message is the error message from the body, or the body text when it
	// was not JSON of a known shape; on one line, without the token, and cut
	// to at most 512 bytes (then ending in "...").
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
// "404 BackupService.6105: vault does not exist (request id abc)".
func (e *APIError) Error() string {
	s := strconv.Itoa(e.StatusCode)
	if e.Code != "" {
		s += " " + e.Code
	}
	return s + otc.AnswerText(e.StatusCode, e.Message, e.RequestID)
}

// FailureClass classes the error by status: 401 is
// [failure.Unauthorized], 429 [failure.Throttled], 5xx (including
// BackupService.0002, "resources are being backed up")
// [failure.Unavailable], and every other status [failure.Rejected].
func (e *APIError) FailureClass() failure.Class { return failure.OfStatus(e.StatusCode) }

// ErrMalformedResponse is wrapped by errors for a successful status whose body
// could not be read as the expected JSON, or was too large. The request may
// have taken effect, so the client does not retry it.
var ErrMalformedResponse = errors.New("malformed response body")

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
