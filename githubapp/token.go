package githubapp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/restorepoint/restorepoint/failure"
)

// InstallationToken returns an installation access token of the app's
// installation installationID: the cached one while it has more than five
// minutes left, else a new one from
// POST {api}/app/installations/{installation_id}/access_tokens, asked with
// an app JWT. Concurrent callers for one installation share one request.
// The token is a secret: keep it out of logs.
func (c *Client) InstallationToken(ctx context.Context, installationID int64) (string, error) {
	if problem := checkInstallationID(installationID); problem != nil {
		return "", fmt.Errorf("githubapp: %w", problem)
	}
	tok, err := c.installationToken(ctx, installationID)
	if err != nil {
		return "", fmt.Errorf("githubapp: %w", err)
	}
	return tok, nil
}

// installationToken is InstallationToken without the checks and the prefix.
func (c *Client) installationToken(ctx context.Context, id int64) (string, error) {
	for {
		c.mu.Lock()
		if t, ok := c.tokens[id]; ok && c.fresh(t) {
			c.mu.Unlock()
			return t.value, nil
		}
		if f, ok := c.fetching[id]; ok {
			c.mu.Unlock()
			select {
			case <-f.done:
			case <-ctx.Done():
				return "", fmt.Errorf("installation %d: access token: %w", id, ctx.Err())
			}
			if f.err != nil && ctx.Err() == nil &&
				(errors.Is(f.err, context.Canceled) || errors.Is(f.err, context.DeadlineExceeded)) {
				continue // the caller who asked gave up; ask again for this one
			}
			return f.tok.value, f.err
		}
		f := &tokenFetch{done: make(chan struct{})}
		c.fetching[id] = f
		c.mu.Unlock()
		c.runFetch(ctx, id, f)
		return f.tok.value, f.err
	}
}

// runFetch asks for a token for installation id, caches it while it is
// fresh, and hands the outcome to everyone waiting on f.
func (c *Client) runFetch(ctx context.Context, id int64, f *tokenFetch) {
	defer close(f.done)
	f.tok, f.err = c.fetchInstallationToken(ctx, id)
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.fetching, id)
	if f.err != nil {
		return
	}
	for other, t := range c.tokens { // keep the cache to live tokens
		if !c.fresh(t) {
			delete(c.tokens, other)
		}
	}
	if c.fresh(f.tok) {
		c.tokens[id] = f.tok
	}
}

// fresh reports whether t has more than refreshBefore left.
func (c *Client) fresh(t installationToken) bool {
	return c.now().Before(t.expiresAt.Add(-refreshBefore))
}

// dropInstallationToken forgets the cached token of installation id if it
// is tok (the API refused it), so that the next caller gets a new one.
func (c *Client) dropInstallationToken(id int64, tok string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t, ok := c.tokens[id]; ok && t.value == tok {
		delete(c.tokens, id)
	}
}

// accessTokenAnswer is the 201 answer of the access_tokens endpoint (its
// permissions and repositories are not read).
type accessTokenAnswer struct {
	Token     string `json:"token"`
	ExpiresAt string `json:"expires_at"`
}

// fetchInstallationToken asks the API for a new token of installation id.
func (c *Client) fetchInstallationToken(ctx context.Context, id int64) (installationToken, error) {
	target := c.api.JoinPath("app", "installations", strconv.FormatInt(id, 10), "access_tokens").String()
	var tok installationToken
	appJWT := credentials{bearer: func(context.Context) (string, error) { return c.AppJWT() }}
	err := c.call(ctx, http.MethodPost, target, nil, appJWT, func(data []byte) error {
		var ans accessTokenAnswer
		if err := json.Unmarshal(data, &ans); err != nil {
			return errors.New("not a JSON object with token and expires_at")
		}
		if ans.Token == "" {
			return errors.New("no token")
		}
		expiresAt, err := time.Parse(time.RFC3339, ans.ExpiresAt)
		if err != nil {
			return errors.New("expires_at is not an RFC 3339 time")
		}
		tok = installationToken{value: ans.Token, expiresAt: expiresAt}
		return nil
	})
	if err != nil {
		return installationToken{}, fmt.Errorf("installation %d: access token: %w", id, err)
	}
	return tok, nil
}

// checkInstallationID checks an installation id (GitHub's ids are
// positive); it returns nil or the problem.
func checkInstallationID(id int64) *failure.FieldError {
	if id <= 0 {
		return &failure.FieldError{Field: "installation.id", Rule: "must be a positive number"}
	}
	return nil
}
