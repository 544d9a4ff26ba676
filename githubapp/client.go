package githubapp

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rsa"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/restorepoint/restorepoint/failure"
	"github.com/restorepoint/restorepoint/otc"
)

// Headers every request carries, as GitHub's REST API documentation asks.
const (
	// MediaType is the Accept header of GitHub's REST API.
	MediaType = "application/vnd.github+json"
	// APIVersion is the X-GitHub-Api-Version the client speaks.
	APIVersion = "2022-11-28"
	// UserAgent is the User-Agent header; GitHub refuses requests without one.
	UserAgent = "restorepoint-githubapp"
)

// JWT timing, as GitHub documents it: iat a minute in the past allows for
// clock drift, and the token may live at most ten minutes.
const (
	jwtBackdate = time.Minute
	jwtLifetime = 9 * time.Minute // after now: exp - iat is 10 minutes
)

// refreshBefore is how long before its expires_at an installation token is
// replaced: a token handed out is good for at least this long.
const refreshBefore = 5 * time.Minute

// maxSuccessBody is how many bytes of a success answer are read.
const maxSuccessBody = 1 << 20

// Client is a GitHub App: it signs app JWTs, gets and caches installation
// access tokens, and reviews deployments. It is safe for concurrent use.
type Client struct {
	appID       string // the iss claim
	key         *rsa.PrivateKey
	api         *url.URL
	httpClient  *http.Client
	now         func() time.Time
	maxAttempts int
	backoffBase time.Duration
	backoffMax  time.Duration

	mu       sync.Mutex
	tokens   map[int64]installationToken // by installation id
	fetching map[int64]*tokenFetch       // the one request under way per installation
}

// installationToken is a cached installation access token.
type installationToken struct {
	value     string
	expiresAt time.Time
}

// tokenFetch is a request for an installation token that concurrent callers
// wait for; tok and err are set before done is closed.
type tokenFetch struct {
	done chan struct{}
	tok  installationToken
	err  error
}

// New returns a Client for cfg. It checks cfg (an app id, a private key, a
// usable API URL and retry policy) and does no I/O.
func New(cfg Config) (*Client, error) {
	apiURL := cfg.APIURL
	if apiURL == "" {
		apiURL = DefaultAPIURL
	}
	api, err := parseAPIURL(apiURL)
	if err != nil {
		return nil, fmt.Errorf("githubapp: %w", err)
	}
	c := &Client{
		appID:       strconv.FormatInt(cfg.AppID, 10),
		key:         cfg.PrivateKey,
		api:         api,
		httpClient:  cfg.HTTPClient,
		now:         cfg.Now,
		maxAttempts: cmp.Or(cfg.MaxAttempts, DefaultMaxAttempts),
		backoffBase: cmp.Or(cfg.BackoffBase, DefaultBackoffBase),
		backoffMax:  cmp.Or(cfg.BackoffMax, DefaultBackoffMax),
		tokens:      make(map[int64]installationToken),
		fetching:    make(map[int64]*tokenFetch),
	}
	switch {
	case cfg.AppID <= 0:
		return nil, fmt.Errorf("githubapp: app id %d: want a positive number", cfg.AppID)
	case cfg.PrivateKey == nil || cfg.PrivateKey.N == nil:
		return nil, errors.New("githubapp: no private key")
	case c.maxAttempts < 1:
		return nil, fmt.Errorf("githubapp: max attempts %d: want at least 1", c.maxAttempts)
	case c.backoffBase < 0 || c.backoffMax < c.backoffBase:
		return nil, fmt.Errorf("githubapp: backoff %v..%v: want 0 <= base <= max", c.backoffBase, c.backoffMax)
	}
	if c.now == nil {
		c.now = time.Now
	}
	if c.httpClient == nil {
		c.httpClient = &http.Client{Timeout: 30 * time.Second}
	}
	if c.httpClient.CheckRedirect == nil {
		hc := *c.httpClient // a shallow copy shares the caller's Transport
		hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		c.httpClient = &hc
	}
	return c, nil
}

// String describes the client without its key or tokens.
func (c *Client) String() string {
	return fmt.Sprintf("githubapp.Client{AppID: %s, APIURL: %s}", c.appID, c.api)
}

// Format prints String for every verb.
func (c *Client) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(c.String())) }

// AppJWT returns a new JWT that authenticates as the app: RS256, iss the app
// id, iat a minute before now, exp nine minutes after now.
func (c *Client) AppJWT() (string, error) {
	now := c.now()
	claims := jwt.RegisteredClaims{
		Issuer:    c.appID,
		IssuedAt:  jwt.NewNumericDate(now.Add(-jwtBackdate)),
		ExpiresAt: jwt.NewNumericDate(now.Add(jwtLifetime)),
	}
	signed, err := jwt.NewWithClaims(jwt.SigningMethodRS256, claims).SignedString(c.key)
	if err != nil {
		// The library's errors name the problem ("key is invalid"), not the key.
		return "", fmt.Errorf("githubapp: sign app JWT: %w", err)
	}
	return signed, nil
}

// credentials give the Authorization bearer of each attempt of a call.
type credentials struct {
	// bearer returns the credential for the next attempt.
	bearer func(ctx context.Context) (string, error)
	// refused drops a credential the API answered 401 to, so that bearer
	// gives a fresh one; nil when credentials cannot be renewed.
	refused func(credential string)
}

// call sends one request with retries: method and target, an optional JSON
// body, authorised by creds; decode (optional) reads the body of a 2xx
// answer. Retryable failures (see failure.Retryable) are retried with
// backoff up to maxAttempts, never beyond ctx's deadline; a 401 may be tried
// once more with fresh credentials, which costs no attempt. A failure of
// creds is returned as it is.
func (c *Client) call(ctx context.Context, method, target string, body []byte, creds credentials, decode func([]byte) error) error {
	renewed := false
	for attempt := 1; ; {
		bearer, err := creds.bearer(ctx)
		if err != nil {
			return err
		}
		err = c.attempt(ctx, method, target, body, bearer, decode)
		if err == nil {
			return nil
		}
		var apiErr *APIError
		isAPI := errors.As(err, &apiErr)
		if isAPI && apiErr.StatusCode == http.StatusUnauthorized && !renewed && creds.refused != nil {
			creds.refused(bearer)
			renewed = true
			continue // fresh credentials: no attempt spent, no wait
		}
		if !failure.Retryable(err) || attempt >= c.maxAttempts || ctx.Err() != nil {
			return err
		}
		wait := c.backoff(attempt)
		if isAPI {
			if apiErr.RetryAfter > maxRetryAfter {
				return err // the caller retries later
			}
			wait = max(wait, apiErr.RetryAfter)
		}
		if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < wait {
			return err // waiting would outlive the caller
		}
		if serr := otc.Sleep(ctx, wait); serr != nil {
			return fmt.Errorf("%w (retry abandoned: %w)", err, serr)
		}
		attempt++
	}
}

// maxRetryAfter is the longest wait GitHub may ask for that a call waits
// out; when it asks for more, the call returns the throttled error at once.
const maxRetryAfter = time.Minute

// backoff returns the full-jitter wait before retry number attempt (1-based).
func (c *Client) backoff(attempt int) time.Duration {
	ceiling := c.backoffBase
	for i := 1; i < attempt && ceiling < c.backoffMax; i++ {
		ceiling *= 2
	}
	ceiling = min(ceiling, c.backoffMax)
	return time.Duration(rand.Float64() * float64(ceiling))
}

// attempt sends one request and decodes a 2xx answer with decode (when not
// nil), or turns the answer into an *APIError.
func (c *Client) attempt(ctx context.Context, method, target string, body []byte, bearer string, decode func([]byte) error) error {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, target, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", MediaType)
	req.Header.Set("X-GitHub-Api-Version", APIVersion)
	req.Header.Set("User-Agent", UserAgent)
	req.Header.Set("Authorization", "Bearer "+bearer)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.httpClient.Do(req)
	if err != nil {
		return err // *url.Error: method, URL and cause; no headers
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return newAPIError(req, resp, c.now(), bearer)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxSuccessBody+1))
	if err != nil {
		return fmt.Errorf("%s %s: read answer: %w", method, req.URL.Redacted(), err)
	}
	if len(data) > maxSuccessBody {
		return fmt.Errorf("%s %s: answer larger than %d bytes", method, req.URL.Redacted(), maxSuccessBody)
	}
	if decode == nil {
		return nil
	}
	if err := decode(data); err != nil {
		return fmt.Errorf("%s %s: %d: malformed answer: %s", method, req.URL.Redacted(), resp.StatusCode,
			otc.OneLine(otc.Scrub(err.Error(), bearer)))
	}
	return nil
}
