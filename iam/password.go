package iam

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/restorepoint/restorepoint/failure"
	"github.com/restorepoint/restorepoint/otc"
)

const (
	// defaultRefreshBefore is the least time before expiry at which a cached
	// token is replaced when PasswordConfig.RefreshBefore is zero.
	defaultRefreshBefore = 5 * time.Minute
	// minRemaining is how long a token must still be valid to be handed out
	// when IAM cannot give a new one.
	minRemaining = time.Minute
	// retryDelay is how long a still-valid token is used without asking IAM
	// again after IAM failed temporarily.
	retryDelay = 30 * time.Second
	// fetchTimeout bounds one token request; it does not depend on any
	// caller's context because the answer is shared.
	fetchTimeout = 30 * time.Second
	// maxTokenBody bounds what is read of IAM's token answer; of an error
	// answer, otc.MaxErrorBody bytes are read.
	maxTokenBody = 4 << 20
)

// ErrUnauthorized is matched (errors.Is) by the [Error] of an IAM 401: the
// username, password or domain is wrong. Retrying does not help.
var ErrUnauthorized = errors.New("iam: unauthorized")

// Error is a failed IAM token request.
type Error struct {
	// StatusCode is IAM's HTTP status; 0 if IAM was not reached.
	StatusCode int
	// Code is IAM's error code (such as "IAM.0001", or a Keystone body's
	// numeric code as text: "403"), if it gave one.
	Code string
	// Message is IAM's message, on one line, without the password and cut to
	// at most 512 bytes (then ending in "..."), or what was wrong with its
	// answer.
	Message string
	// User and Domain name whose token was asked for.
	User, Domain string
	// Err is the network error when IAM was not reached.
	Err error
}

// Error describes the failure; it never contains the password.
func (e *Error) Error() string {
	who := fmt.Sprintf("user %q in domain %q", e.User, e.Domain)
	switch {
	case e.StatusCode == http.StatusUnauthorized:
		return "iam: authentication failed for " + who + ": the username or password is wrong (401)"
	case e.StatusCode == 0:
		return "iam: get token for " + who + ": " + errText(e.Err)
	}
	status := fmt.Sprintf("%d %s", e.StatusCode, http.StatusText(e.StatusCode))
	msg := "iam: get token for " + who + ": " + status
	if e.StatusCode < 300 {
		msg = "iam: get token for " + who + ": unusable answer (" + status + ")"
	}
	if e.Message != "" {
		msg += ": " + e.Message
	}
	return msg
}

// Unwrap returns the network error, if any.
func (e *Error) Unwrap() error { return e.Err }

// Is reports whether target is [ErrUnauthorized] and IAM answered 401.
func (e *Error) Is(target error) bool {
	return target == ErrUnauthorized && e.StatusCode == http.StatusUnauthorized
}

// FailureClass returns [failure.Unavailable] when asking again later may
// succeed (IAM was not reached, was throttling with 429, or failed with
// 5xx), else [failure.Unauthorized]: the credentials were refused (401) or
// IAM gave an answer no retry will change.
func (e *Error) FailureClass() failure.Class {
	if e.temporary() {
		return failure.Unavailable
	}
	return failure.Unauthorized
}

// temporary reports whether asking again later may succeed.
func (e *Error) temporary() bool {
	return e.StatusCode == 0 || e.StatusCode == http.StatusTooManyRequests || e.StatusCode >= 500
}

func errText(err error) string {
	if err == nil {
		return "unknown error"
	}
	return err.Error()
}

// PasswordConfig configures a [Password] token source.
type PasswordConfig struct {
	// Endpoint is the IAM endpoint, with or without the /v3 suffix, such as
	// https://iam.eu-de.otc.t-systems.com/v3. Required.
	Endpoint string
	// Username is the IAM user's name. Required.
	Username string
	// Password is the user's password. Required unless PasswordFile is set.
	Password Secret
	// PasswordFile is a file holding the password, read (and re-read when it
	// changes) when Password is empty.
	PasswordFile string
	// DomainName is the name of the user's domain (account). Required.
	DomainName string
	// ProjectID is the project the token is scoped to. Required.
	ProjectID string
	// HTTPClient sends the requests; nil means http.DefaultClient.
	HTTPClient *http.Client
	// Now tells the time; nil means time.Now.
	Now func() time.Time
	// RefreshBefore is how long before expiry a cached token is replaced.
	// Zero means a tenth of the token's lifetime, but at least 5 minutes;
	// it is capped at half the lifetime.
	RefreshBefore time.Duration
}

// ConfigError reports an invalid [PasswordConfig], naming every problem.
type ConfigError struct {
	// Missing names the required fields that are empty, as spelled in
	// PasswordConfig.
	Missing []string
	// Invalid describes the fields with unusable values.
	Invalid []string
}

// Error lists the missing and invalid fields.
func (e *ConfigError) Error() string {
	var problems []string
	if len(e.Missing) > 0 {
		problems = append(problems, "missing "+strings.Join(e.Missing, ", "))
	}
	problems = append(problems, e.Invalid...)
	return "iam: invalid password config: " + strings.Join(problems, "; ")
}

// Password gets project-scoped tokens from IAM with a username and password,
// caches them and replaces them shortly before they expire. The replacement
// is fetched in the background: a caller that finds the cached token due for
// refresh but still valid gets it at once and starts the refresh, so no
// caller waits on IAM unless there is no valid token (the first call, after
// expiry, after Invalidate). Concurrent callers share one request. It is safe
// for concurrent use; Close stops a refresh under way.
type Password struct {
	tokensURL     string
	user          string
	domain        string
	project       string
	password      Secret
	passwordFile  *File // used when password is empty
	client        *http.Client
	now           func() time.Time
	refreshBefore time.Duration

	base    context.Context // of every IAM request; cancelled by Close
	cancel  context.CancelFunc
	fetches sync.WaitGroup // the IAM requests under way

	mu       sync.Mutex
	cached   token      // zero when there is none
	retryAt  time.Time  // after a temporary failure: do not ask IAM before
	inflight *tokenCall // the request under way, if any
	closed   bool
}

// token is a token with its validity.
type token struct {
	value     Secret
	expires   time.Time
	refreshAt time.Time
}

// tokenCall is one IAM request whose result all waiting callers share.
type tokenCall struct {
	done chan struct{} // closed when tok or err is set
	tok  token
	err  error
}

// NewPassword checks cfg and returns the token source. It does not contact
// IAM; the first Token call does. A *[ConfigError] names every missing or
// invalid field.
func NewPassword(cfg PasswordConfig) (*Password, error) {
	var cerr ConfigError
	required := []struct{ name, value string }{
		{"Endpoint", cfg.Endpoint},
		{"Username", cfg.Username},
		{"Password (or PasswordFile)", string(cfg.Password) + cfg.PasswordFile},
		{"DomainName", cfg.DomainName},
		{"ProjectID", cfg.ProjectID},
	}
	for _, f := range required {
		if strings.TrimSpace(f.value) == "" {
			cerr.Missing = append(cerr.Missing, f.name)
		}
	}
	var tokensURL string
	if cfg.Endpoint != "" {
		var err error
		if tokensURL, err = tokensEndpoint(cfg.Endpoint); err != nil {
			cerr.Invalid = append(cerr.Invalid, "Endpoint "+err.Error())
		}
	}
	if cfg.RefreshBefore < 0 {
		cerr.Invalid = append(cerr.Invalid, fmt.Sprintf("RefreshBefore %s is negative", cfg.RefreshBefore))
	}
	if len(cerr.Missing) > 0 || len(cerr.Invalid) > 0 {
		return nil, &cerr
	}

	p := &Password{
		tokensURL:     tokensURL,
		user:          cfg.Username,
		domain:        cfg.DomainName,
		project:       cfg.ProjectID,
		password:      cfg.Password,
		client:        cfg.HTTPClient,
		now:           cfg.Now,
		refreshBefore: cfg.RefreshBefore,
	}
	if p.password == "" {
		p.passwordFile = newFile(cfg.PasswordFile, "password")
	}
	p.base, p.cancel = context.WithCancel(context.Background())
	if p.client == nil {
		p.client = http.DefaultClient
	}
	if p.now == nil {
		p.now = time.Now
	}
	return p, nil
}

// CheckEndpoint reports whether NewPassword accepts endpoint as its
// Endpoint: an http(s) URL with a host, without user info, query or
// fragment. It is the rule NewPassword applies, for checking configuration
// before a token source is made; the error names the value, not a field.
func CheckEndpoint(endpoint string) error {
	_, err := tokensEndpoint(endpoint)
	return err
}

// tokensEndpoint returns {endpoint without /v3}/v3/auth/tokens?nocatalog=true.
func tokensEndpoint(endpoint string) (string, error) {
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return "", fmt.Errorf("%q is not an http(s) URL", endpoint)
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("%q must not have user info, query or fragment", u.Redacted())
	}
	base := strings.TrimSuffix(strings.TrimRight(u.Path, "/"), "/v3")
	u.Path, u.RawPath = base+"/v3/auth/tokens", ""
	u.RawQuery = "nocatalog=true"
	return u.String(), nil
}

// Token returns a cached token, or asks IAM for a new one when there is
// no valid one. When the cached token is due for refresh (see
// PasswordConfig.RefreshBefore) but still valid for more than a minute, it
// is returned at once and a new one is fetched in the background. All
// callers waiting at the same time share one request; a caller whose ctx
// ends stops waiting without disturbing the others. If IAM fails
// temporarily while the cached token is still valid, that token is
// returned, and IAM is asked again 30 seconds later at the earliest.
//
// Errors from IAM are *[Error]; a wrong username or password matches
// [ErrUnauthorized]. After Close, Token fails unless a token is cached.
func (p *Password) Token(ctx context.Context) (string, error) {
	p.mu.Lock()
	now := p.now()
	if p.cached.value != "" && p.usable(now) {
		value := p.cached.value
		if !now.Before(p.cached.refreshAt) && !now.Before(p.retryAt) {
			p.startFetch() // in the background: nobody waits for it
		}
		p.mu.Unlock()
		return value.Reveal(), nil
	}
	call := p.startFetch()
	p.mu.Unlock()

	select {
	case <-call.done:
	case <-ctx.Done():
		return "", fmt.Errorf("iam: waiting for a token: %w", context.Cause(ctx))
	}
	if call.err == nil {
		return call.tok.value.Reveal(), nil
	}
	return "", call.err
}

// startFetch returns the IAM request under way, starting one if there is
// none. The request must outlive its caller: others may wait for it, so it
// runs under the source's own context. p.mu must be held.
func (p *Password) startFetch() *tokenCall {
	if p.inflight != nil {
		return p.inflight
	}
	call := &tokenCall{done: make(chan struct{})}
	if p.closed {
		call.err = errors.New("iam: password token source is closed")
		close(call.done)
		return call
	}
	p.inflight = call
	p.fetches.Add(1)
	go p.fetch(p.base, call)
	return call
}

// Close stops a token request under way and waits until it has ended;
// later calls to Token ask IAM no more. It returns nil.
func (p *Password) Close() error {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	p.cancel()
	p.fetches.Wait()
	return nil
}

// usable reports whether the cached token is still valid long enough to be
// handed out. p.mu must be held.
func (p *Password) usable(now time.Time) bool {
	return now.Before(p.cached.expires.Add(-minRemaining))
}

// Invalidate drops the cached token if it is the refused one, so that the
// next Token call asks IAM for a new one. Call it when the API answered 401.
// A token that was already replaced is ignored, so many requests failing
// with the same token cause one new IAM request.
func (p *Password) Invalidate(refused string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if refused != "" && p.cached.value.Reveal() == refused {
		p.cached = token{}
		p.retryAt = time.Time{}
	}
}

// Format prints the source without its password or token.
func (p *Password) Format(f fmt.State, _ rune) {
	_, _ = fmt.Fprintf(f, "iam.Password{endpoint: %q, user: %q, domain: %q, project: %q}",
		p.tokensURL, p.user, p.domain, p.project)
}

// fetch performs call and publishes its result.
func (p *Password) fetch(ctx context.Context, call *tokenCall) {
	defer p.fetches.Done()
	ctx, cancel := context.WithTimeout(ctx, fetchTimeout)
	defer cancel()
	tok, err := p.request(ctx)

	p.mu.Lock()
	if err == nil {
		p.cached, p.retryAt = tok, time.Time{}
	} else if temporary(err) {
		p.retryAt = p.now().Add(retryDelay)
	}
	call.tok, call.err = tok, err
	p.inflight = nil
	p.mu.Unlock()
	close(call.done)
}

// temporary reports whether err is an IAM error worth retrying later.
func temporary(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.temporary()
}

// authRequest is the body of POST /v3/auth/tokens with a password.
type authRequest struct {
	Auth struct {
		Identity struct {
			Methods  []string `json:"methods"`
			Password struct {
				User struct {
					Name     string `json:"name"`
					Password string `json:"password"` // a plain string: Secret would marshal as "[redacted]"
					Domain   struct {
						Name string `json:"name"`
					} `json:"domain"`
				} `json:"user"`
			} `json:"password"`
		} `json:"identity"`
		Scope struct {
			Project struct {
				ID string `json:"id"`
			} `json:"project"`
		} `json:"scope"`
	} `json:"auth"`
}

// request asks IAM for a token.
func (p *Password) request(ctx context.Context) (token, error) {
	password := p.password
	if password == "" {
		var err error
		if password, err = p.passwordFile.secret(); err != nil {
			return token{}, err
		}
	}

	var body authRequest
	body.Auth.Identity.Methods = []string{"password"}
	user := &body.Auth.Identity.Password.User
	user.Name, user.Password, user.Domain.Name = p.user, password.Reveal(), p.domain
	body.Auth.Scope.Project.ID = p.project
	data, err := json.Marshal(body)
	if err != nil {
		return token{}, fmt.Errorf("iam: encode token request: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.tokensURL, bytes.NewReader(data))
	if err != nil {
		return token{}, fmt.Errorf("iam: token request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json;charset=utf8")
	req.Header.Set("Accept", "application/json")

	start := p.now()
	resp, err := p.client.Do(req)
	if err != nil {
		return token{}, p.error(0, "", "", err)
	}
	defer resp.Body.Close()

	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK {
		code, msg, _ := otc.ParseErrorBody(otc.ReadErrorBody(resp.Body), password.Reveal())
		return token{}, p.error(resp.StatusCode, code, msg, nil)
	}
	value := resp.Header.Get("X-Subject-Token")
	switch {
	case value == "":
		return token{}, p.error(resp.StatusCode, "", "no X-Subject-Token header", nil)
	case strings.ContainsFunc(value, isControl):
		return token{}, p.error(resp.StatusCode, "", "X-Subject-Token has control characters", nil)
	}
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxTokenBody))
	if err != nil {
		return token{}, p.error(0, "", "", fmt.Errorf("read token body: %w", err))
	}
	expires, err := decodeTokenResponse(raw)
	if err != nil {
		return token{}, p.error(resp.StatusCode, "", err.Error(), nil)
	}
	lifetime := expires.Sub(start)
	if lifetime <= minRemaining {
		return token{}, p.error(resp.StatusCode, "", fmt.Sprintf(
			"the token expires at %s, less than %s from now (clock skew?)",
			expires.Format(time.RFC3339), minRemaining), nil)
	}
	return token{
		value:     Secret(value),
		expires:   expires,
		refreshAt: expires.Add(-p.refreshMargin(lifetime)),
	}, nil
}

func (p *Password) error(status int, code, msg string, err error) *Error {
	return &Error{StatusCode: status, Code: code, Message: msg, User: p.user, Domain: p.domain, Err: err}
}

// refreshMargin is how long before expiry a token of the given lifetime is
// replaced.
func (p *Password) refreshMargin(lifetime time.Duration) time.Duration {
	margin := p.refreshBefore
	if margin == 0 {
		margin = max(defaultRefreshBefore, lifetime/10)
	}
	return min(margin, lifetime/2)
}

// decodeTokenResponse returns token.expires_at of an IAM token body.
func decodeTokenResponse(data []byte) (time.Time, error) {
	var body struct {
		Token *struct {
			ExpiresAt string `json:"expires_at"`
		} `json:"token"`
	}
	if err := json.Unmarshal(data, &body); err != nil {
		return time.Time{}, fmt.Errorf("decode token body: %w", err)
	}
	if body.Token == nil || body.Token.ExpiresAt == "" {
		return time.Time{}, errors.New("token body has no token.expires_at")
	}
	return parseExpiry(body.Token.ExpiresAt)
}

// parseExpiry parses an IAM time such as 2015-11-09T01:42:57.527363Z; a
// time without zone is taken as UTC.
func parseExpiry(s string) (time.Time, error) {
	if t, ok := otc.ParseTime(s); ok {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("token.expires_at %.40q is not a time", s)
}

var (
	_ TokenSource      = (*Password)(nil)
	_ TokenInvalidator = (*Password)(nil)
	_ TokenSource      = (*Static)(nil)
)
