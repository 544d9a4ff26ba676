package cbr

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/restorepoint/restorepoint/failure"
	"github.com/restorepoint/restorepoint/iam"
	"github.com/restorepoint/restorepoint/otc"
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
// of attempts and never beyond the context's deadline.
//
// Every attempt is authorised afresh by the client's iam.Authorizer (an
// X-Auth-Token, or an AK/SK signature), so a retry is signed with a new date.
// Requests carry X-Project-Id. A 401 makes the client drop the credentials
// it used (invalidate the token, re-read the keys) and try once more with
// fresh ones; that retry costs no attempt and no wait.
//
// Create checkpoint is not idempotent: a retry after a failure that may have
// come after the server acted could create a second restore point. So a
// create is retried only when the server surely did not act (a refused
// connection, 429, 500, 503 and other error answers); after a failure that
// leaves it open (the connection broke or timed out after the request went
// out, a 502 or 504 from a gateway, a 2xx whose body is malformed) the
// client returns at once with an error that wraps [ErrAnswerLost], and the
// caller looks the restore point up (ListBackups) before creating again.
//
// Every error states its class for [failure.ClassOf]: a broken rule is
// invalid, an *APIError is classed by status (see [APIError.FailureClass]),
// an *AuthError as its authorizer says, anything else is unavailable.
type Client struct {
	endpoint    string
	projectID   string
	auth        iam.Authorizer
	httpClient  *http.Client
	maxAttempts int
	backoffBase time.Duration
	backoffMax  time.Duration
	rand        func() float64                                   // jitter in [0, 1); tests: WithRand
	sleep       func(ctx context.Context, d time.Duration) error // waits between attempts; tests: WithSleep
	now         func() time.Time                                 // tests: WithClock
	userAgent   string
	observer    func(context.Context, Attempt) // WithObserver
}

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient sets the HTTP client used for requests. The default has a
// 30 second timeout per attempt.
//
// Redirects are not followed (a 3xx answer is returned as an *APIError),
// because net/http would forward the credential headers to the redirect
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

// WithUserAgent sets the User-Agent header (default DefaultUserAgent).
func WithUserAgent(ua string) Option { return func(c *Client) { c.userAgent = ua } }

// New returns a Client for the CBR endpoint (such as
// "https://cbr.eu-de.otc.t-systems.com", without "/v3"; a path prefix is
// kept) and project, authorising every attempt with auth: an X-Auth-Token
// (iam.TokenAuthorizer), an AK/SK signature (iam.Signer) or the credentials
// a request carries (iam.RequestCredentials). A failure of auth is an
// *[AuthError].
func New(endpoint, projectID string, auth iam.Authorizer, opts ...Option) (*Client, error) {
	if auth == nil {
		return nil, errors.New("cbr: authorizer is nil")
	}
	ep, err := parseEndpoint(endpoint)
	if err != nil {
		return nil, err
	}
	if strings.TrimSpace(projectID) == "" {
		return nil, errors.New("cbr: project ID is empty")
	}
	c := &Client{
		endpoint:    ep,
		projectID:   projectID,
		auth:        auth,
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

// CheckEndpoint reports whether New accepts endpoint: an http(s) URL with a
// host, without user info, query, fragment or the /v3 the client adds. It is
// the rule New applies, for checking configuration before a client is made.
func CheckEndpoint(endpoint string) error {
	_, err := parseEndpoint(endpoint)
	return err
}

// parseEndpoint checks an endpoint URL and returns it without a trailing slash.
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
		return "", errors.New("cbr: endpoint must not contain user info; use an Authorizer")
	case u.RawQuery != "" || u.Fragment != "":
		return "", fmt.Errorf("cbr: endpoint %q: must not have a query or fragment", endpoint)
	}
	ep := strings.TrimRight(u.String(), "/")
	if strings.HasSuffix(ep, "/v3") {
		return "", fmt.Errorf("cbr: endpoint %q: leave out /v3, the client adds it", endpoint)
	}
	return ep, nil
}

// checkpointsURL returns {endpoint}/v3/{project_id}/checkpoints.
func (c *Client) checkpointsURL() string {
	return c.endpoint + "/v3/" + url.PathEscape(c.projectID) + "/checkpoints"
}

// CreateCheckpoint backs up a vault: it posts {"checkpoint": req} to
// /v3/{project_id}/checkpoints and returns the restore point the API
// reports. Read its Vault.SkippedResources: a success can still skip
// resources. req is sent as it is: check it with [Validate] first.
func (c *Client) CreateCheckpoint(ctx context.Context, req VaultBackup) (*CheckpointCreate, error) {
	body, err := json.Marshal(CreateCheckpointRequest{Checkpoint: req})
	if err != nil {
		return nil, fmt.Errorf("cbr: create checkpoint: encode request: %w", err)
	}
	var resp *CheckpointResponse
	err = c.callOnce(ctx, http.MethodPost, c.checkpointsURL(), body, func(data []byte) error {
		resp, err = decodeCheckpointResponse(data)
		return err
	})
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
			&failure.FieldError{Field: "checkpoint_id", Rule: "required"})
	}
	resp, err := callDecoded(ctx, c, "get checkpoint", http.MethodGet, c.checkpointsURL()+"/"+url.PathEscape(id), nil,
		decodeCheckpointResponse)
	if err != nil {
		return nil, err
	}
	return &resp.Checkpoint, nil
}

// call sends one request with retries and decodes the success body with
// decode.
func (c *Client) call(ctx context.Context, method, target string, body []byte, decode func([]byte) error) error {
	return c.send(ctx, method, target, body, decode, false)
}

// callDecoded sends one request with retries (call) and returns its success
// body decoded by decode; an error says which operation op failed.
func callDecoded[T any](ctx context.Context, c *Client, op, method, target string, body []byte, decode func([]byte) (T, error)) (T, error) {
	var out T
	err := c.call(ctx, method, target, body, func(data []byte) (err error) {
		out, err = decode(data)
		return err
	})
	if err != nil {
		var zero T
		return zero, fmt.Errorf("cbr: %s: %w", op, err)
	}
	return out, nil
}

// callOnce is call for a request that is not idempotent: it is not retried
// after a failure that may have come after the server acted (see
// answerLost); such a failure wraps ErrAnswerLost.
func (c *Client) callOnce(ctx context.Context, method, target string, body []byte, decode func([]byte) error) error {
	return c.send(ctx, method, target, body, decode, true)
}

// send is call and callOnce.
func (c *Client) send(ctx context.Context, method, target string, body []byte, decode func([]byte) error, once bool) error {
	reauthorized := false
	resend := 0 // attempts sent before this one, for the observer
	for attempt := 1; ; resend++ {
		start := time.Now()
		refused, err := c.attempt(ctx, method, target, body, decode)
		var authErr authFailure
		if errors.As(err, &authErr) {
			return authErr.err // nothing was sent
		}
		c.observe(ctx, method, target, resend, start, err)
		if err == nil {
			return nil
		}
		if once && answerLost(err) {
			return fmt.Errorf("%w (%w)", err, ErrAnswerLost)
		}
		var apiErr *APIError
		isAPI := errors.As(err, &apiErr)
		if isAPI && apiErr.StatusCode == http.StatusUnauthorized && !reauthorized && refused != nil {
			refused()
			reauthorized = true
			continue // fresh credentials: no attempt spent, no wait
		}
		if !failure.Retryable(err) || errors.Is(err, ErrMalformedResponse) ||
			attempt >= c.maxAttempts || ctx.Err() != nil {
			return err
		}

		wait := c.backoff(attempt)
		if isAPI && apiErr.RetryAfter > 0 {
			if apiErr.RetryAfter > DefaultMaxRetryAfter {
				return err
			}
			wait = max(wait, apiErr.RetryAfter)
		}
		if deadline, ok := ctx.Deadline(); ok && c.now().Add(wait).After(deadline) {
			return err // waiting would outlive the caller
		}
		if serr := c.sleep(ctx, wait); serr != nil {
			return fmt.Errorf("%w (retry abandoned: %w)", err, serr)
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

// authFailure marks an error of the Authorizer inside call: it is
// returned as it is, never retried.
type authFailure struct{ err error }

func (a authFailure) Error() string { return a.err.Error() }

// attempt authorises and sends one request, and decodes a success answer
// with decode or turns the answer into an error. refused drops the
// credentials it used (nil when they cannot be replaced).
func (c *Client) attempt(ctx context.Context, method, target string, body []byte, decode func([]byte) error) (refused func(), _ error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, target, rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.userAgent)
	req.Header.Set("X-Project-Id", c.projectID)
	if body != nil {
		req.Header.Set("Content-Type", contentType)
	}
	grant, err := c.auth.Authorize(ctx, req, body)
	if err != nil {
		return nil, authFailure{&AuthError{Err: err}}
	}
	return grant.Refused, c.do(req, grant.Secrets, decode)
}

// do sends req and decodes a success answer with decode; secrets are
// scrubbed from whatever is quoted of the answer.
func (c *Client) do(req *http.Request, secrets []string, decode func([]byte) error) error {
	resp, err := c.httpClient.Do(req)
	if err != nil {
		return &otc.TransportError{Err: err}
	}
	defer resp.Body.Close()

	requestID := resp.Header.Get("X-Request-Id")
	if resp.StatusCode/100 != 2 {
		return c.apiError(req, resp, requestID, secrets)
	}

	data, err := readBody(resp, maxSuccessBody+1)
	if err != nil {
		return &readError{fmt.Errorf("read response: %w", &otc.TransportError{Err: err})}
	}
	// where names the answer in errors; only a malformed answer needs it.
	where := func() string {
		w := strconv.Itoa(resp.StatusCode)
		if requestID != "" {
			w += " (request id " + requestID + ")"
		}
		return w
	}
	if len(data) > maxSuccessBody {
		return fmt.Errorf("%s: %w: larger than %d bytes", where(), ErrMalformedResponse, maxSuccessBody)
	}
	// The secrets go before decoding: decode errors quote (and cut) parts of
	// the body, and the checkpoint ends up in result events.
	if err := decode(otc.ScrubBytes(data, secrets...)); err != nil {
		return fmt.Errorf("%s: %w: %s", where(), ErrMalformedResponse, otc.Scrub(err.Error(), secrets...))
	}
	return nil
}

// apiError builds an *APIError from a failed answer, reading at most
// otc.MaxErrorBody bytes of its body. The secrets are scrubbed from the
// body in case a gateway echoes the request.
func (c *Client) apiError(req *http.Request, resp *http.Response, requestID string, secrets []string) *APIError {
	code, msg, bodyRequestID := otc.ParseErrorBody(otc.ReadErrorBody(resp.Body), secrets...)
	if requestID == "" {
		requestID = bodyRequestID
	}
	return &APIError{
		StatusCode: resp.StatusCode,
		Code:       code,
		Message:    msg,
		RequestID:  otc.Scrub(requestID, secrets...),
		Method:     req.Method,
		URL:        req.URL.Redacted(),
		RetryAfter: parseRetryAfter(resp.Header.Get("Retry-After"), c.now()),
	}
}

// readBody reads at most limit bytes of resp's body into a buffer sized by
// its Content-Length when the API sent one (within the limit), so that a
// typical answer is read without growing the buffer.
func readBody(resp *http.Response, limit int64) ([]byte, error) {
	var buf bytes.Buffer
	if n := resp.ContentLength; n > 0 && n < limit {
		buf.Grow(int(n) + bytes.MinRead) // ReadFrom wants room to see EOF
	}
	_, err := buf.ReadFrom(io.LimitReader(resp.Body, limit))
	return buf.Bytes(), err
}

// decodeCheckpointResponse decodes a create or get checkpoint answer. The
// body must be one JSON object with a checkpoint that has an id.
//
// It decodes the body once and cuts the checkpoint's bytes (Raw) out of it,
// instead of letting CheckpointCreate.UnmarshalJSON validate and decode them
// a second time: half the time of the create call's decode
// (docs/benchmarks.md). An answer with the member twice goes the long way,
// which gives the same result (FuzzDecodeCheckpointResponse holds the two
// together).
func decodeCheckpointResponse(data []byte) (*CheckpointResponse, error) {
	type fields CheckpointCreate // the same fields, without UnmarshalJSON
	var out struct {
		Checkpoint fields `json:"checkpoint"`
	}
	if err := json.Unmarshal(data, &out); err != nil {
		return nil, err
	}
	resp := &CheckpointResponse{Checkpoint: CheckpointCreate(out.Checkpoint)}
	if raw, n := memberValue(data, "checkpoint"); n == 1 {
		resp.Checkpoint.Raw = append(json.RawMessage(nil), raw...)
	} else if n > 1 {
		*resp = CheckpointResponse{}
		if err := json.Unmarshal(data, resp); err != nil {
			return nil, err
		}
	}
	if resp.Checkpoint.ID == "" {
		return nil, errors.New("no checkpoint.id in response")
	}
	return resp, nil
}

// ErrAnswerLost is wrapped by a create-checkpoint error after which CBR may
// have created the restore point although no answer said so: the connection
// broke or timed out after the request went out, a gateway answered 502 or
// 504, or a success answer was malformed. The client does not retry such a
// create; look the restore point up before creating it again.
var ErrAnswerLost = errors.New("the answer was lost: the restore point may exist")

// readError is a failure to read a success answer's body.
type readError struct{ err error }

func (e *readError) Error() string { return e.err.Error() }
func (e *readError) Unwrap() error { return e.err }

// answerLost reports whether err, from one attempt, leaves open whether the
// server acted on the request.
func answerLost(err error) bool {
	var apiErr *APIError
	if errors.As(err, &apiErr) {
		return apiErr.StatusCode == http.StatusBadGateway || apiErr.StatusCode == http.StatusGatewayTimeout
	}
	var re *readError
	if errors.Is(err, ErrMalformedResponse) || errors.As(err, &re) {
		return true
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) && opErr.Op == "dial" {
		return false // never connected: nothing was sent
	}
	return true
}
