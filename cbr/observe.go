package cbr

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Attempt is what the client reports of one HTTP attempt through the
// function given to WithObserver: one per request sent, retries and the
// re-authorised retry after a 401 included.
type Attempt struct {
	// Operation names the API call: "create_checkpoint", "get_checkpoint",
	// "list_backups", "delete_backup", "get_vault", "add_resources", or the
	// method and the last path segment of another request.
	Operation string
	// Method is the HTTP method.
	Method string
	// URL is the request URL (it holds no credential).
	URL string
	// Resend counts the attempts of the same call before this one.
	Resend int
	// StatusCode is the HTTP status of the answer, 0 when none came back.
	StatusCode int
	// Code is the API's error code (such as BackupService.6135), or empty.
	Code string
	// Start is when the attempt started; Duration how long it took.
	Start    time.Time
	Duration time.Duration
	// Err is the attempt's error, nil when it succeeded.
	Err error
}

// WithObserver sets a function the client calls after every HTTP attempt,
// for metrics and traces; ctx is the call's. It is called synchronously and
// must be safe for concurrent use. Nothing is reported when f is nil.
func WithObserver(f func(ctx context.Context, a Attempt)) Option {
	return func(c *Client) { c.observer = f }
}

// observe reports one attempt to the observer, if any.
func (c *Client) observe(ctx context.Context, method, target string, resend int, start time.Time, err error) {
	if c.observer == nil {
		return
	}
	a := Attempt{Operation: operationOf(method, target), Method: method, URL: target, Resend: resend,
		Start: start, Duration: time.Since(start), Err: err}
	var apiErr *APIError
	switch {
	case err == nil, errors.Is(err, ErrMalformedResponse):
		// The API answers a success with 200; a malformed success answer
		// was a success status too.
		a.StatusCode = http.StatusOK
	case errors.As(err, &apiErr):
		a.StatusCode, a.Code = apiErr.StatusCode, apiErr.Code
	}
	c.observer(ctx, a)
}

// operationOf names the API call of a request by its method and path.
func operationOf(method, target string) string {
	path := target
	if u, err := url.Parse(target); err == nil {
		path = u.Path
	}
	segs := strings.Split(strings.Trim(path, "/"), "/")
	last := segs[len(segs)-1]
	switch {
	case method == http.MethodPost && last == "checkpoints":
		return "create_checkpoint"
	case method == http.MethodGet && len(segs) > 1 && segs[len(segs)-2] == "checkpoints":
		return "get_checkpoint"
	case method == http.MethodGet && last == "backups":
		return "list_backups"
	case method == http.MethodDelete && len(segs) > 1 && segs[len(segs)-2] == "backups":
		return "delete_backup"
	case method == http.MethodGet && len(segs) > 1 && segs[len(segs)-2] == "vaults":
		return "get_vault"
	case method == http.MethodPost && last == "addresources":
		return "add_resources"
	}
	return strings.ToLower(method) + "_" + last
}
