package cbr

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/restorepoint/restorepoint/failure"
	"github.com/restorepoint/restorepoint/internal/otc"
)

// Defaults of a Client.
const (
	DefaultMaxAttempts = 4
	DefaultBackoffBase = 200 * time.Millisecond
	DefaultBackoffMax  = 5 * time.Second
	DefaultUserAgent   = "restorepoint-cbr"
	// DefaultMaxRetryAfter is the longest Retry-After the client waits for;
	// when the server asks for more, the call gives up at once and returns
	// the throttled error, leaving the retry to the caller.
	DefaultMaxRetryAfter = time.Minute
)

// maxSuccessBody is how many bytes of a success answer are accepted; of an
// error answer, otc.MaxErrorBody are read.
const maxSuccessBody = 4 << 20

// contentType is the request content type the API page names.
const contentType = "application/json;charset=UTF-8"

// Client calls the CBR v3 checkpoint API of one project. It is safe for
// concurrent use.
//
// Every call is retried on throttling (429) and unavailability (5xx,
// including BackupService.0002, and network failures) with exponential
// backoff and full jitter, honouring Retry-After, up to the configured number
// of attempts and never beyond the context's deadline. A 401 makes the client
// invalidate the token (when its TokenSource implements TokenInvalidator) and
// try once more with a fresh one; that retry costs no attempt and no wait.
//
// Create checkpoint is not idempotent: a retry after a connection failure
// that happened after the server accepted the request can create a second
// restore point. Callers that must not double-create deduplicate at a higher
// level (for example by checkpoint name). A success status (any 2xx; the API
// answers 200) with a malformed body is never retried.
//
// Every error states its class for [failure.ClassOf]: a broken rule is
// invalid, an *APIError is classed by status (see [APIError.FailureClass]),
// a *TokenError as its source says, anything else is unavailable.
type Client struct {
	endpoint    string
	projectID   string
	tokens      TokenSource
	httpClient  *http.Client
	maxAttempts int
	backoffBase time.Duration
	backoffMax  time.Duration
	rand        func() float64
	sleep       func(ctx context.Context, d time.Duration) error
	now         func() time.Time
	userAgent   string
	observer    func(context.Context, Attempt) // WithObserver
}

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient sets the HTTP client used for requests. The default has a
// 30 second timeout per attempt.
//
// Redirects are not followed (a 3xx answer is returned as an *APIError),
// because net/http would forward the X-Auth-Token header to the redirect
// target, unless hc sets its own CheckRedirect.
func WithHTTPClient(hc *http.Client) Option { return func(c *Client) { c.httpClient = hc } }

// WithMaxAttempts sets how many attempts one call may make in total,
// including the first (default 4). n must be at least 1.
func WithMaxAttempts(n int) Option { return func(c *Client) { c.maxAttempts = n } }

// WithBackoff sets the base and the cap of the exponential backoff between
// attempts (default 200ms and 5s). The wait before retry n (1-based) is drawn
// uniformly from [0, min(max, base*2^(n-1))) ("full jitter").
func WithBackoff(base, max time.Duration) Option {
	return func(c *Client) { c.backoffBase, c.backoffMax = base, max }
}

// WithRand sets the source of jitter: a function returning a number in
// [0, 1). The default is math/rand/v2's Float64. Tests pass a constant.
func WithRand(f func() float64) Option { return func(c *Client) { c.rand = f } }

// WithSleep sets how the client waits between attempts. The function must
// return early with ctx.Err() when ctx is done. Tests use it to observe waits.
func WithSleep(f func(ctx context.Context, d time.Duration) error) Option {
	return func(c *Client) { c.sleep = f }
}

// WithClock sets the clock used to read Retry-After dates and to compare
// waits with the context's deadline (default time.Now).
func WithClock(now func() time.Time) Option { return func(c *Client) { c.now = now } }

// WithUserAgent sets the User-Agent header (default DefaultUserAgent).
func WithUserAgent(ua string) Option { return func(c *Client) { c.userAgent = ua } }

// New returns a Client for the CBR endpoint (such as
// "https://cbr.eu-de.otc.t-systems.com", without "/v3"; a path prefix is
// kept) and project, authenticating with tokens from tokens.
func New(endpoint, projectID string, tokens TokenSource, opts ...Option) (*Client, error) {
	ep, err := parseEndpoint(endpoint)
	if err != nil {
		return nil, err
	}
	if strings.TrimSpace(projectID) == "" {
		return nil, errors.New("cbr: project ID is empty")
	}
	if tokens == nil {
		return nil, errors.New("cbr: token source is nil")
	}
	c := &Client{
		endpoint:    ep,
		projectID:   projectID,
		tokens:      tokens,
		httpClient:  &http.Client{Timeout: 30 * time.Second},
		maxAttempts: DefaultMaxAttempts,
		backoffBase: DefaultBackoffBase,
		backoffMax:  DefaultBackoffMax,
		rand:        rand.Float64,
		sleep:       otc.Sleep,
		now:         time.Now,
		userAgent:   DefaultUserAgent,
	}
	for _, opt := range opts {
		opt(c)
	}
	switch {
	case c.httpClient == nil:
		return nil, errors.New("cbr: HTTP client is nil")
	case c.maxAttempts < 1:
		return nil, fmt.Errorf("cbr: max attempts %d: want at least 1", c.maxAttempts)
	case c.backoffBase < 0 || c.backoffMax < c.backoffBase:
		return nil, fmt.Errorf("cbr: backoff %v..%v: want 0 <= base <= max", c.backoffBase, c.backoffMax)
	case c.rand == nil || c.sleep == nil || c.now == nil:
		return nil, errors.New("cbr: rand, sleep and clock must not be nil")
	}
	if c.httpClient.CheckRedirect == nil {
		hc := *c.httpClient // a shallow copy shares the caller's Transport
		hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		c.httpClient = &hc
	}
	return c, nil
}

// parseEndpoint checks an endpoint URL and returns it without a trailing slash.
// CheckEndpoint reports whether New accepts endpoint: an http(s) URL with a
// host, without user info, query, fragment or the /v3 the client adds. It is
// the rule New applies, for checking configuration before a client is made.
func CheckEndpoint(endpoint string) error {
	_, err := parseEndpoint(endpoint)
	return err
}

func parseEndpoint(endpoint string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(endpoint))
	if err != nil {
		return "", fmt.Errorf("cbr: endpoint: %w", err)
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return "", fmt.Errorf("cbr: endpoint %q: want an http or https URL", endpoint)
	case u.Host == "":
		return "", fmt.Errorf("cbr: endpoint %q: no host", endpoint)
	case u.User != nil:
		return "", errors.New("cbr: endpoint must not contain user info; use a TokenSource")
	case u.RawQuery != "" || u.Fragment != "":
		return "", fmt.Errorf("cbr: endpoint %q: must not have a query or fragment", endpoint)
	}
	ep := strings.TrimRight(u.String(), "/")
	if strings.HasSuffix(ep, "/v3") {
		return "", fmt.Errorf("cbr: endpoint %q: leave out /v3, the client adds it", endpoint)
	}
	return ep, nil
}

// Endpoint returns the endpoint the client was made with, without a trailing slash.
func (c *Client) Endpoint() string { return c.endpoint }

// ProjectID returns the project the client works in.
func (c *Client) ProjectID() string { return c.projectID }

// checkpointsURL returns {endpoint}/v3/{project_id}/checkpoints.
func (c *Client) checkpointsURL() string {
	return c.endpoint + "/v3/" + url.PathEscape(c.projectID) + "/checkpoints"
}

// CreateCheckpoint backs up a vault: it validates req (returning
// [failure.FieldErrors] without sending anything when it breaks a rule), then
// posts {"checkpoint": req} to /v3/{project_id}/checkpoints and returns the
// restore point the API reports. Read its Vault.SkippedResources: a success
// can still skip resources.
func (c *Client) CreateCheckpoint(ctx context.Context, req VaultBackup) (*CheckpointCreate, error) {
	if err := Validate(req); err != nil {
		return nil, fmt.Errorf("cbr: create checkpoint: %w", err)
	}
	body, err := json.Marshal(CreateCheckpointRequest{Checkpoint: req})
	if err != nil {
		return nil, fmt.Errorf("cbr: create checkpoint: encode request: %w", err)
	}
	resp, err := c.call(ctx, http.MethodPost, c.checkpointsURL(), body)
	if err != nil {
		return nil, fmt.Errorf("cbr: create checkpoint: %w", err)
	}
	return &resp.Checkpoint, nil
}

// GetCheckpoint reads a restore point by ID from
// /v3/{project_id}/checkpoints/{checkpoint_id}, for instance to wait until
// its status leaves "protecting".
func (c *Client) GetCheckpoint(ctx context.Context, id string) (*CheckpointCreate, error) {
	if strings.TrimSpace(id) == "" {
		return nil, fmt.Errorf("cbr: get checkpoint: %w",
			&failure.FieldError{Field: "checkpoint_id", Rule: ruleRequired})
	}
	resp, err := c.call(ctx, http.MethodGet, c.checkpointsURL()+"/"+url.PathEscape(id), nil)
	if err != nil {
		return nil, fmt.Errorf("cbr: get checkpoint: %w", err)
	}
	return &resp.Checkpoint, nil
}

// call sends one request with retries and decodes the success body.
func (c *Client) call(ctx context.Context, method, target string, body []byte) (*CheckpointResponse, error) {
	reauthorized := false
	resend := 0 // attempts sent before this one, for the observer
	for attempt := 1; ; resend++ {
		token, err := c.tokens.Token(ctx)
		if err == nil && token == "" {
			err = errEmptyToken
		}
		if err != nil {
			return nil, &TokenError{Err: err}
		}
		start := time.Now()
		resp, err := c.attempt(ctx, method, target, body, token)
		c.observe(ctx, method, target, resend, start, err)
		if err == nil {
			return resp, nil
		}

		var apiErr *APIError
		isAPI := errors.As(err, &apiErr)
		if isAPI && apiErr.StatusCode == http.StatusUnauthorized && !reauthorized {
			if inv, ok := c.tokens.(TokenInvalidator); ok {
				inv.Invalidate(token)
				reauthorized = true
				continue // a fresh token: no attempt spent, no wait
			}
		}
		if !failure.Retryable(err) || errors.Is(err, ErrMalformedResponse) ||
			attempt >= c.maxAttempts || ctx.Err() != nil {
			return nil, err
		}

		wait := c.backoff(attempt)
		if isAPI && apiErr.RetryAfter > 0 {
			if apiErr.RetryAfter > DefaultMaxRetryAfter {
				return nil, err
			}
			wait = max(wait, apiErr.RetryAfter)
		}
		if deadline, ok := ctx.Deadline(); ok && c.now().Add(wait).After(deadline) {
			return nil, err // waiting would outlive the caller
		}
		if serr := c.sleep(ctx, wait); serr != nil {
			return nil, fmt.Errorf("%w (retry abandoned: %w)", err, serr)
		}
		attempt++
	}
}

// backoff returns the full-jitter wait before retry number attempt (1-based).
func (c *Client) backoff(attempt int) time.Duration {
	ceiling := c.backoffBase
	for i := 1; i < attempt && ceiling < c.backoffMax; i++ {
		ceiling *= 2
	}
	ceiling = min(ceiling, c.backoffMax)
	f := c.rand()
	if f < 0 || f >= 1 {
		f = 0
	}
	return time.Duration(f * float64(ceiling))
}

// attempt sends one request and turns the answer into a response or an error.
func (c *Client) attempt(ctx context.Context, method, target string, body []byte, token string) (*CheckpointResponse, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, target, rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("X-Auth-Token", token)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.userAgent)
	if body != nil {
		req.Header.Set("Content-Type", contentType)
	}

	resp, err := c.httpClient.Do(req)
	if err != nil {
		return nil, err // *url.Error: method, URL and cause; no headers
	}
	defer resp.Body.Close()

	requestID := resp.Header.Get("X-Request-Id")
	if resp.StatusCode/100 != 2 {
		return nil, c.apiError(req, resp, requestID, token)
	}

	data, err := io.ReadAll(io.LimitReader(resp.Body, maxSuccessBody+1))
	if err != nil {
		return nil, fmt.Errorf("%s %s: read response: %w", method, target, err)
	}
	// where names the answer in errors; only a malformed answer needs it.
	where := func() string {
		w := fmt.Sprintf("%s %s: %d", method, target, resp.StatusCode)
		if requestID != "" {
			w += " (request id " + requestID + ")"
		}
		return w
	}
	if len(data) > maxSuccessBody {
		return nil, fmt.Errorf("%s: %w: larger than %d bytes", where(), ErrMalformedResponse, maxSuccessBody)
	}
	// The token goes before decoding: decode errors quote (and cut) parts of
	// the body, and the checkpoint ends up in result events.
	out, err := decodeCheckpointResponse(otc.ScrubBytes(data, token))
	if err != nil {
		return nil, fmt.Errorf("%s: %w: %s", where(), ErrMalformedResponse, otc.Scrub(err.Error(), token))
	}
	return out, nil
}

// apiError builds an *APIError from a failed answer, reading at most
// otc.MaxErrorBody bytes of its body. The token is scrubbed from the body in
// case a gateway echoes the request.
func (c *Client) apiError(req *http.Request, resp *http.Response, requestID, token string) *APIError {
	code, msg, bodyRequestID := otc.ParseErrorBody(otc.ReadErrorBody(resp.Body), token)
	if requestID == "" {
		requestID = bodyRequestID
	}
	return &APIError{
		StatusCode: resp.StatusCode,
		Code:       code,
		Message:    msg,
		RequestID:  otc.Scrub(requestID, token),
		Method:     req.Method,
		URL:        req.URL.Redacted(),
		RetryAfter: parseRetryAfter(resp.Header.Get("Retry-After"), c.now()),
	}
}

// decodeCheckpointResponse decodes a create or get checkpoint answer. The
// body must be one JSON object with a checkpoint that has an id.
func decodeCheckpointResponse(data []byte) (*CheckpointResponse, error) {
	var out CheckpointResponse
	if err := json.Unmarshal(data, &out); err != nil {
		return nil, err
	}
	if out.Checkpoint.ID == "" {
		return nil, errors.New("no checkpoint.id in response")
	}
	return &out, nil
}
