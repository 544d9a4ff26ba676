package githubapp

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/restorepoint/restorepoint/failure"
	"github.com/restorepoint/restorepoint/otc"
)

// APIError is an answer of the GitHub API other than success (2xx).
//
// Its Error text names the method, URL, status and GitHub's message on one
// line; it never contains the request's credentials.
type APIError struct {
	// StatusCode is the HTTP status, such as 422.
	StatusCode int
	// Message is GitHub's "message" (with the "errors" details of a 422), or
	// the body text when it was not GitHub's error JSON; on one line,
	// without credentials, at most otc.MaxMessage bytes and "...".
	Message string
	// RequestID is the X-GitHub-Request-Id response header.
	RequestID string
	// Method and URL identify the request.
	Method, URL string
	// RateLimited reports GitHub's signs of a rate limit on a 403 or 429: a
	// Retry-After header, X-RateLimit-Remaining 0, or a message that says
	// "rate limit".
	RateLimited bool
	// RetryAfter is how long GitHub asked to wait: Retry-After, or until
	// X-RateLimit-Reset when no request remains, or a minute for a rate
	// limit without either (as GitHub's documentation advises).
	RetryAfter time.Duration
}

// Error returns a one-line description such as
// "POST https://api.github.com/app/installations/42/access_tokens: 401: Bad credentials (request id 0400:1B2C:3D4E)".
func (e *APIError) Error() string {
	return e.Method + " " + e.URL + ": " + strconv.Itoa(e.StatusCode) + otc.AnswerText(e.StatusCode, e.Message, e.RequestID)
}

// FailureClass classes the error by status: 401 is [failure.Unauthorized]
// (the JWT or token was refused), 429 and a rate-limited 403
// [failure.Throttled], 5xx [failure.Unavailable], and every other status
// (403, 404, 422, a 3xx redirect) [failure.Rejected].
func (e *APIError) FailureClass() failure.Class {
	if e.RateLimited {
		return failure.Throttled
	}
	return failure.OfStatus(e.StatusCode)
}

// newAPIError builds an *APIError from a failed answer, reading at most
// otc.MaxErrorBody bytes of its body; secrets are removed from what is quoted.
func newAPIError(req *http.Request, resp *http.Response, now time.Time, secrets ...string) *APIError {
	e := &APIError{
		StatusCode: resp.StatusCode,
		Message:    parseErrorBody(otc.ReadErrorBody(resp.Body), secrets...),
		RequestID:  otc.OneLine(otc.Scrub(resp.Header.Get("X-GitHub-Request-Id"), secrets...)),
		Method:     req.Method,
		URL:        req.URL.Redacted(),
	}
	if resp.StatusCode == http.StatusForbidden || resp.StatusCode == http.StatusTooManyRequests {
		e.RateLimited, e.RetryAfter = rateLimit(resp.Header, now)
		if !e.RateLimited && strings.Contains(strings.ToLower(e.Message), "rate limit") {
			e.RateLimited, e.RetryAfter = true, time.Minute
		}
	}
	return e
}

// maxRetryAfterHint caps the waits read from headers, so that arithmetic
// cannot overflow.
const maxRetryAfterHint = 24 * time.Hour

// rateLimit reads GitHub's rate-limit headers: a Retry-After (seconds) or
// X-RateLimit-Remaining 0 mark a rate limit, and the wait is the Retry-After
// or the time until X-RateLimit-Reset (Unix seconds).
func rateLimit(h http.Header, now time.Time) (limited bool, wait time.Duration) {
	if v := strings.TrimSpace(h.Get("Retry-After")); v != "" {
		if secs, err := strconv.ParseInt(v, 10, 64); err == nil && secs >= 0 {
			return true, time.Duration(min(secs, int64(maxRetryAfterHint/time.Second))) * time.Second
		}
		if t, err := http.ParseTime(v); err == nil {
			return true, min(max(t.Sub(now), 0), maxRetryAfterHint)
		}
		return true, 0
	}
	if strings.TrimSpace(h.Get("X-RateLimit-Remaining")) != "0" {
		return false, 0
	}
	reset, err := strconv.ParseInt(strings.TrimSpace(h.Get("X-RateLimit-Reset")), 10, 64)
	if err != nil || reset <= 0 || reset > now.Add(maxRetryAfterHint).Unix() {
		return true, 0
	}
	return true, max(time.Unix(reset, 0).Sub(now), 0)
}

// errorBody is GitHub's error answer:
//
//	{"message":"Validation Failed","errors":[{"resource":"…","field":"…","code":"missing_field"}],"documentation_url":"…"}
//
// An entry of errors is an object (with a message, or resource, field and
// code) or, in places, a plain string.
type errorBody struct {
	Message *string           `json:"message"`
	Errors  []json.RawMessage `json:"errors"`
}

// errorDetail is an object entry of errorBody.Errors.
type errorDetail struct {
	Resource string `json:"resource"`
	Field    string `json:"field"`
	Code     string `json:"code"`
	Message  string `json:"message"`
}

// maxErrorDetails is how many entries of "errors" a message quotes.
const maxErrorDetails = 3

// parseErrorBody returns the text to quote from an error answer's body:
// GitHub's message followed by up to three of its "errors" details
// ("Validation Failed: environment_name missing_field"), or, when the body
// is not GitHub's error JSON, the body itself. Every occurrence of each
// secret is removed first; the result is one line of at most
// otc.MaxMessage+3 bytes.
func parseErrorBody(body []byte, secrets ...string) string {
	var eb errorBody
	if err := json.Unmarshal(body, &eb); err != nil || eb.Message == nil {
		return otc.OneLine(otc.Scrub(string(body), secrets...))
	}
	details := make([]string, 0, min(len(eb.Errors), maxErrorDetails))
	for _, raw := range eb.Errors {
		if len(details) == maxErrorDetails {
			details = append(details, "...")
			break
		}
		if d := errorDetailText(raw); d != "" {
			details = append(details, d)
		}
	}
	text := *eb.Message
	if len(details) > 0 {
		text += ": " + strings.Join(details, "; ")
	}
	return otc.OneLine(otc.Scrub(text, secrets...))
}

// errorDetailText renders one entry of "errors": its message, else
// "resource.field code", else the string it is.
func errorDetailText(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var d errorDetail
	if json.Unmarshal(raw, &d) != nil {
		return ""
	}
	if d.Message != "" {
		return d.Message
	}
	field := d.Field
	if d.Resource != "" && field != "" {
		field = d.Resource + "." + field
	}
	return strings.TrimSpace(field + " " + d.Code)
}
