package githubapp

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/restorepoint/restorepoint/failure"
	"github.com/restorepoint/restorepoint/otc"
)

// State is the outcome of a review.
type State string

// The states GitHub accepts.
const (
	StateApproved State = "approved"
	StateRejected State = "rejected"
)

// Limits of a Review.
const (
	// MaxCommentBytes is the longest comment sent, in bytes; a longer one is
	// cut on a rune boundary and ends with "…". GitHub documents no limit for
	// this comment; the bound keeps it well inside the 65,536 characters of
	// GitHub's other comments and readable where GitHub shows it.
	MaxCommentBytes = 4096
	// MaxEnvironmentName is the longest environment name GitHub allows, in
	// bytes.
	MaxEnvironmentName = 255
)

// Review is the review of a deployment that waits for the app's
// protection rule: the body of POST {deployment_callback_url}.
type Review struct {
	// EnvironmentName is the environment of the deployment: the webhook's
	// "environment". Required.
	EnvironmentName string `json:"environment_name"`
	// State is StateApproved or StateRejected.
	State State `json:"state"`
	// Comment is shown with the review; it is cut to MaxCommentBytes.
	Comment string `json:"comment,omitempty"`
}

// Review approves or rejects a deployment: it posts r to callbackURL (the
// deployment_callback_url of the deployment_protection_rule webhook) with
// an installation access token of installationID (the webhook's
// installation.id). Any 2xx answer is success (GitHub answers 204).
//
// Nothing is sent when an argument breaks a rule: the error is
// [failure.FieldErrors] (class invalid) naming each field. In particular a
// callback URL that is not on the configured API is refused (see
// [Client.CheckCallbackURL]), so that the token goes nowhere else.
//
// A 401 drops the token and the review is tried once more with a new one;
// throttling and unavailability are retried with backoff. A retry after an
// answer was lost may meet GitHub's refusal of a second review of the same
// rule, which then is an *APIError of class rejected.
func (c *Client) Review(ctx context.Context, installationID int64, callbackURL string, r Review) error {
	var problems failure.FieldErrors
	if problem := checkInstallationID(installationID); problem != nil {
		problems = append(problems, *problem)
	}
	target, rule := c.callbackTarget(callbackURL)
	if rule != "" {
		problems.Add("deployment_callback_url", rule)
	}
	switch {
	case strings.TrimSpace(r.EnvironmentName) == "":
		problems.Add("environment_name", "required")
	case len(r.EnvironmentName) > MaxEnvironmentName || !utf8.ValidString(r.EnvironmentName):
		problems.Add("environment_name", fmt.Sprintf("must be UTF-8 of at most %d bytes", MaxEnvironmentName))
	}
	if r.State != StateApproved && r.State != StateRejected {
		problems.Add("state", fmt.Sprintf("must be %q or %q", StateApproved, StateRejected))
	}
	if err := problems.Err(); err != nil {
		return fmt.Errorf("githubapp: review: %w", err)
	}
	r.Comment = boundComment(r.Comment)
	body, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("githubapp: review: encode: %w", err)
	}
	installation := credentials{
		bearer:  func(ctx context.Context) (string, error) { return c.installationToken(ctx, installationID) },
		refused: func(tok string) { c.dropInstallationToken(installationID, tok) },
	}
	if err := c.call(ctx, http.MethodPost, target, body, installation, nil); err != nil {
		return fmt.Errorf("githubapp: review: %w", err)
	}
	return nil
}

// CheckCallbackURL reports whether Review would post to callbackURL: an
// error (a *failure.FieldError for deployment_callback_url, class invalid)
// unless it is a review URL of the configured API,
// {api}/repos/{owner}/{repo}/actions/runs/{run_id}/deployment_protection_rule,
// with the API's scheme, host and port and, on GitHub Enterprise Server, its
// path prefix (/api/v3). Check a webhook's callback URL with it before
// acting on the webhook.
func (c *Client) CheckCallbackURL(callbackURL string) error {
	if _, rule := c.callbackTarget(callbackURL); rule != "" {
		return &failure.FieldError{Field: "deployment_callback_url", Rule: rule}
	}
	return nil
}

// reviewPath is the path of a review URL after the API's prefix; the
// segments marked "" are the owner, the repository and the run id.
var reviewPath = []string{"repos", "", "", "actions", "runs", "", "deployment_protection_rule"}

// callbackTarget checks a callback URL and returns the URL to post to: the
// configured API base URL with the callback's path. rule is the broken rule,
// or "".
func (c *Client) callbackTarget(callbackURL string) (target, rule string) {
	u, err := url.Parse(callbackURL)
	switch {
	case strings.TrimSpace(callbackURL) == "":
		return "", "required"
	case err != nil:
		return "", "not a URL"
	case u.User != nil:
		return "", "must not contain user info"
	case !strings.EqualFold(u.Scheme, c.api.Scheme) || hostPort(u) != hostPort(c.api):
		return "", fmt.Sprintf("must be on the configured GitHub API %s, not %q",
			c.api, clip(u.Scheme+"://"+u.Host, 100))
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		return "", "must not have a query or fragment"
	}
	rest, ok := strings.CutPrefix(u.Path, c.api.Path+"/")
	segments := strings.Split(rest, "/")
	if !ok || len(segments) != len(reviewPath) {
		return "", fmt.Sprintf("must be %s/repos/{owner}/{repo}/actions/runs/{run_id}/deployment_protection_rule", c.api)
	}
	for i, want := range reviewPath {
		s := segments[i]
		switch {
		case want != "" && s != want,
			want == "" && (s == "" || s == "." || s == ".."),
			i == 5 && strings.Trim(s, "0123456789") != "":
			return "", fmt.Sprintf("must be %s/repos/{owner}/{repo}/actions/runs/{run_id}/deployment_protection_rule", c.api)
		}
	}
	t := *c.api
	t.Path, t.RawPath = c.api.Path+"/"+rest, ""
	return t.String(), ""
}

// hostPort returns u's host, lower-case, with its port or the scheme's
// default port.
func hostPort(u *url.URL) string {
	port := u.Port()
	if port == "" {
		switch strings.ToLower(u.Scheme) {
		case "https":
			port = "443"
		case "http":
			port = "80"
		}
	}
	return net.JoinHostPort(strings.ToLower(u.Hostname()), port)
}

// boundComment makes a comment valid UTF-8 of at most MaxCommentBytes,
// cutting it on a rune boundary and marking the cut with "…".
func boundComment(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= MaxCommentBytes {
		return s
	}
	const mark = "…"
	cut := MaxCommentBytes - len(mark)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + mark
}

// clip quotes text from the input safely: on one line, at most n bytes
// (cut on a rune boundary) and "...".
func clip(s string, n int) string {
	s = otc.OneLine(s)
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "..."
}
