package githubapp_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/restorepoint/restorepoint/failure"
	"github.com/restorepoint/restorepoint/githubapp"
	"github.com/restorepoint/restorepoint/githubapp/githubtest"
)

func TestReviewApprovedAndRejected(t *testing.T) {
	srv, c, _ := setup(t, githubtest.Options{Installations: []int64{77}})
	ctx := context.Background()
	approveURL := srv.CallbackURL("example-org", "shop", 9876543210)
	if err := c.Review(ctx, 77, approveURL, approve); err != nil {
		t.Fatalf("Review approved: %v", err)
	}
	reject := githubapp.Review{EnvironmentName: "staging", State: githubapp.StateRejected,
		Comment: "restore point failed: vault full"}
	if err := c.Review(ctx, 77, srv.CallbackURL("example-org", "api", 42), reject); err != nil {
		t.Fatalf("Review rejected: %v", err)
	}
	want := []githubtest.ReviewRecord{
		{Owner: "example-org", Repo: "shop", RunID: 9876543210, InstallationID: 77,
			EnvironmentName: "production", State: "approved", Comment: approve.Comment},
		{Owner: "example-org", Repo: "api", RunID: 42, InstallationID: 77,
			EnvironmentName: "staging", State: "rejected", Comment: reject.Comment},
	}
	got := srv.Reviews()
	if len(got) != len(want) {
		t.Fatalf("reviews = %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("review %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	if n := srv.TokensIssued(); n != 1 {
		t.Errorf("tokens issued = %d, want 1 (cached between reviews)", n)
	}
	req := requestsTo(srv, githubtest.EndpointReview)[0]
	tok, _ := c.InstallationToken(ctx, 77)
	if bearerOf(req) != tok {
		t.Errorf("review sent Authorization %q, want the installation token", req.Header.Get("Authorization"))
	}
	for h, want := range map[string]string{
		"Accept": githubapp.MediaType, "X-GitHub-Api-Version": githubapp.APIVersion,
		"Content-Type": "application/json", "User-Agent": githubapp.UserAgent,
	} {
		if got := req.Header.Get(h); got != want {
			t.Errorf("%s = %q, want %q", h, got, want)
		}
	}
	if wantBody := `{"environment_name":"production","state":"approved","comment":"restore point 3f1c… created in vault backup-prod"}`; string(req.Body) != wantBody {
		t.Errorf("body = %s, want %s", req.Body, wantBody)
	}
}

func TestReviewWithoutCommentOmitsIt(t *testing.T) {
	srv, c, _ := setup(t, githubtest.Options{})
	err := c.Review(context.Background(), githubtest.DefaultInstallationID, srv.CallbackURL("o", "r", 1),
		githubapp.Review{EnvironmentName: "production", State: githubapp.StateApproved})
	if err != nil {
		t.Fatal(err)
	}
	if body := string(requestsTo(srv, githubtest.EndpointReview)[0].Body); body != `{"environment_name":"production","state":"approved"}` {
		t.Errorf("body = %s", body)
	}
}

func TestReviewCommentBounded(t *testing.T) {
	srv, c, _ := setup(t, githubtest.Options{})
	long := strings.Repeat("ä", githubapp.MaxCommentBytes) + "\xff" // 2 bytes a rune, and invalid UTF-8
	err := c.Review(context.Background(), githubtest.DefaultInstallationID, srv.CallbackURL("o", "r", 1),
		githubapp.Review{EnvironmentName: "production", State: githubapp.StateApproved, Comment: long})
	if err != nil {
		t.Fatal(err)
	}
	got := srv.Reviews()[0].Comment
	if len(got) > githubapp.MaxCommentBytes || !utf8.ValidString(got) || !strings.HasSuffix(got, "…") ||
		!strings.HasPrefix(got, "ää") {
		t.Errorf("comment of %d bytes (valid UTF-8 %v), ending %q: want at most %d, cut on a rune and marked",
			len(got), utf8.ValidString(got), got[len(got)-8:], githubapp.MaxCommentBytes)
	}
	if len(got) < githubapp.MaxCommentBytes-4 {
		t.Errorf("comment cut to %d bytes: want close to %d", len(got), githubapp.MaxCommentBytes)
	}
}

// A token GitHub no longer accepts is dropped and the review is tried once
// more with a new one.
func TestReviewRenewsRevokedToken(t *testing.T) {
	srv, c, _ := setup(t, githubtest.Options{})
	ctx := context.Background()
	old, err := c.InstallationToken(ctx, githubtest.DefaultInstallationID)
	if err != nil {
		t.Fatal(err)
	}
	srv.RevokeTokens()
	if err := c.Review(ctx, githubtest.DefaultInstallationID, srv.CallbackURL("o", "r", 1), approve); err != nil {
		t.Fatalf("Review: %v", err)
	}
	reqs := requestsTo(srv, githubtest.EndpointReview)
	if len(reqs) != 2 || reqs[0].Status != 401 || reqs[1].Status != 204 {
		t.Fatalf("review requests: %+v; want 401 then 204", reqs)
	}
	if bearerOf(reqs[0]) != old || bearerOf(reqs[1]) == old {
		t.Error("want the old token refused, then a new one")
	}
	if srv.TokensIssued() != 2 || len(srv.Reviews()) != 1 {
		t.Errorf("%d tokens issued, %d reviews; want 2 and 1", srv.TokensIssued(), len(srv.Reviews()))
	}
}

func TestReviewUnauthorizedTwiceGivesUp(t *testing.T) {
	srv, c, _ := setup(t, githubtest.Options{})
	srv.Refuse(githubtest.Refusal{Endpoint: githubtest.EndpointReview, Status: 401, Times: -1})
	err := c.Review(context.Background(), githubtest.DefaultInstallationID, srv.CallbackURL("o", "r", 1), approve)
	if failure.ClassOf(err) != failure.Unauthorized || !strings.Contains(err.Error(), "401: Bad credentials") {
		t.Errorf("Review = %v (class %s), want unauthorized with GitHub's message", err, failure.ClassOf(err))
	}
	if n := len(requestsTo(srv, githubtest.EndpointReview)); n != 2 {
		t.Errorf("%d review requests, want 2 (one renewal)", n)
	}
	if n := srv.TokensIssued(); n != 2 {
		t.Errorf("%d tokens issued, want 2", n)
	}
}

func TestReviewRetries(t *testing.T) {
	tests := []struct {
		name     string
		refusal  githubtest.Refusal
		wantErr  failure.Class // "" for success
		requests int
	}{
		{"5xx then success", githubtest.Refusal{Status: 503, Times: 2}, "", 3},
		{"5xx every time", githubtest.Refusal{Status: 500, Times: -1}, failure.Unavailable, 3},
		{"429 with Retry-After", githubtest.Refusal{Status: 429, Header: http.Header{"Retry-After": {"0"}}}, "", 2},
		{"secondary rate limit (403 + Retry-After)", githubtest.Refusal{Status: 403,
			Message: "You have exceeded a secondary rate limit", Header: http.Header{"Retry-After": {"0"}}}, "", 2},
		{"422 not retried", githubtest.Refusal{Status: 422}, failure.Rejected, 1},
		{"404 not retried", githubtest.Refusal{Status: 404, Message: "Not Found"}, failure.Rejected, 1},
		{"403 not retried", githubtest.Refusal{Status: 403, Message: "Resource not accessible by integration"}, failure.Rejected, 1},
		{"secondary rate limit without headers waits a minute", githubtest.Refusal{Status: 403,
			Message: "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."}, failure.Throttled, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, c, _ := setup(t, githubtest.Options{})
			tt.refusal.Endpoint = githubtest.EndpointReview
			srv.Refuse(tt.refusal)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second) // too short to wait a minute
			defer cancel()
			err := c.Review(ctx, githubtest.DefaultInstallationID, srv.CallbackURL("o", "r", 1), approve)
			if got := failure.ClassOf(err); got != tt.wantErr {
				t.Errorf("Review = %v (class %q), want class %q", err, got, tt.wantErr)
			}
			if n := len(requestsTo(srv, githubtest.EndpointReview)); n != tt.requests {
				t.Errorf("%d review requests, want %d", n, tt.requests)
			}
			wantReviews := 0
			if tt.wantErr == "" {
				wantReviews = 1
			}
			if n := len(srv.Reviews()); n != wantReviews {
				t.Errorf("%d reviews recorded, want %d", n, wantReviews)
			}
			if srv.TokensIssued() != 1 {
				t.Errorf("%d tokens issued; a refused review must not renew the token", srv.TokensIssued())
			}
		})
	}
}

func TestReviewErrorCarriesStatusAndMessage(t *testing.T) {
	srv, c, _ := setup(t, githubtest.Options{})
	srv.Refuse(githubtest.Refusal{Endpoint: githubtest.EndpointReview, Status: 422,
		Message: "Invalid request.\n\nNo pending deployment protection rule for environment production."})
	err := c.Review(context.Background(), githubtest.DefaultInstallationID, srv.CallbackURL("o", "r", 1), approve)
	var apiErr *githubapp.APIError
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 422 {
		t.Fatalf("Review = %v, want an *APIError 422", err)
	}
	want := "githubapp: review: POST " + srv.CallbackURL("o", "r", 1) +
		": 422: Invalid request. No pending deployment protection rule for environment production."
	if err.Error() != want {
		t.Errorf("error\n %s\nwant\n %s", err, want)
	}
}

// Waiting for a retry that the caller's deadline does not allow ends the
// call at once.
func TestReviewDoesNotWaitBeyondDeadline(t *testing.T) {
	srv, c, _ := setup(t, githubtest.Options{})
	ctx := context.Background()
	if _, err := c.InstallationToken(ctx, githubtest.DefaultInstallationID); err != nil {
		t.Fatal(err)
	}
	for _, retryAfter := range []string{"30", "3600"} { // within the deadline's reach, and beyond any wait
		srv.Refuse(githubtest.Refusal{Endpoint: githubtest.EndpointReview, Status: 429,
			Header: http.Header{"Retry-After": {retryAfter}}})
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		start := time.Now()
		err := c.Review(ctx, githubtest.DefaultInstallationID, srv.CallbackURL("o", "r", 1), approve)
		cancel()
		if failure.ClassOf(err) != failure.Throttled || time.Since(start) > 5*time.Second {
			t.Errorf("Retry-After %s: %v after %v; want throttled at once", retryAfter, err, time.Since(start))
		}
		var apiErr *githubapp.APIError
		if !errors.As(err, &apiErr) || apiErr.RetryAfter == 0 {
			t.Errorf("Retry-After %s: want it in the error: %#v", retryAfter, apiErr)
		}
	}
}

func TestReviewTokenFailureStopsReview(t *testing.T) {
	srv, c, _ := setup(t, githubtest.Options{})
	srv.Refuse(githubtest.Refusal{Endpoint: githubtest.EndpointAccessTokens, Status: 401, Message: "Integration not found"})
	err := c.Review(context.Background(), githubtest.DefaultInstallationID, srv.CallbackURL("o", "r", 1), approve)
	if failure.ClassOf(err) != failure.Unauthorized ||
		!strings.Contains(err.Error(), "installation 45678901: access token: POST ") ||
		!strings.Contains(err.Error(), "401: Integration not found") {
		t.Errorf("Review = %v", err)
	}
	if n := len(requestsTo(srv, githubtest.EndpointReview)); n != 0 {
		t.Errorf("%d review requests, want none without a token", n)
	}
}

func TestReviewInvalidArguments(t *testing.T) {
	srv, c, _ := setup(t, githubtest.Options{})
	good := srv.CallbackURL("o", "r", 1)
	tests := []struct {
		name         string
		installation int64
		callback     string
		review       githubapp.Review
		want         string
	}{
		{"no installation", 0, good, approve, "installation.id: must be a positive number"},
		{"no environment", 1, good, githubapp.Review{State: githubapp.StateApproved}, "environment_name: required"},
		{"long environment", 1, good, githubapp.Review{EnvironmentName: strings.Repeat("e", 256), State: githubapp.StateApproved},
			"environment_name: must be UTF-8 of at most 255 bytes"},
		{"bad state", 1, good, githubapp.Review{EnvironmentName: "production", State: "pending"},
			`state: must be "approved" or "rejected"`},
		{"no callback", 1, "", approve, "deployment_callback_url: required"},
		{"everything", -1, "", githubapp.Review{},
			"installation.id: must be a positive number; deployment_callback_url: required; environment_name: required; state: must be"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := c.Review(context.Background(), tt.installation, tt.callback, tt.review)
			if failure.ClassOf(err) != failure.Invalid || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Review = %v (class %s), want invalid: %s", err, failure.ClassOf(err), tt.want)
			}
		})
	}
	if n := len(srv.Requests()); n != 0 {
		t.Errorf("%d requests sent, want none", n)
	}
}

// The installation token goes to the configured API only: a callback URL
// elsewhere is refused before anything is sent, a token fetched included.
func TestReviewRefusesCallbackElsewhere(t *testing.T) {
	var elsewhere atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		elsewhere.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer other.Close()
	srv, c, _ := setup(t, githubtest.Options{})
	const path = "/repos/o/r/actions/runs/1/deployment_protection_rule"
	for _, callback := range []string{
		other.URL + path,
		"https://api.github.com" + path,
		strings.Replace(srv.URL, "http://", "https://", 1) + path,
		strings.Replace(srv.URL, "127.0.0.1", "localhost", 1) + path,
		"http://user:pass@" + strings.TrimPrefix(srv.URL, "http://") + path,
		"//" + strings.TrimPrefix(srv.URL, "http://") + path,
		path,
	} {
		err := c.Review(context.Background(), githubtest.DefaultInstallationID, callback, approve)
		var fe *failure.FieldError
		if !errors.As(err, &fe) || fe.Field != "deployment_callback_url" || failure.ClassOf(err) != failure.Invalid {
			t.Errorf("callback %s: %v; want invalid deployment_callback_url", callback, err)
		}
		if strings.Contains(err.Error(), "pass") {
			t.Errorf("callback %s: error %q quotes the user info", callback, err)
		}
	}
	if n := elsewhere.Load(); n != 0 {
		t.Errorf("%d requests went elsewhere", n)
	}
	if n := len(srv.Requests()); n != 0 {
		t.Errorf("%d requests to the API, want none (no token fetched)", n)
	}
}

func TestCheckCallbackURL(t *testing.T) {
	newClient := func(api string) *githubapp.Client {
		c, err := githubapp.New(githubapp.Config{AppID: 1, PrivateKey: githubtest.Key(), APIURL: api})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	dotcom := newClient("")
	ghes := newClient("https://ghe.example.com/api/v3/")
	const rule = "/repos/octo-org/octo-repo/actions/runs/1234/deployment_protection_rule"
	tests := []struct {
		client   *githubapp.Client
		callback string
		ok       bool
	}{
		{dotcom, "https://api.github.com" + rule, true},
		{dotcom, "https://API.GitHub.com:443" + rule, true},
		{dotcom, "HTTPS://api.github.com" + rule, true},
		{dotcom, "http://api.github.com" + rule, false},
		{dotcom, "https://api.github.com:8443" + rule, false},
		{dotcom, "https://api.github.com.evil.example" + rule, false},
		{dotcom, "https://github.com" + rule, false},
		{dotcom, "https://api.github.com" + rule + "?x=1", false},
		{dotcom, "https://api.github.com" + rule + "#x", false},
		{dotcom, "https://api.github.com/repos/octo-org/octo-repo/issues/1/comments", false},
		{dotcom, "https://api.github.com/repos/octo-org/../actions/runs/1234/deployment_protection_rule", false},
		{dotcom, "https://api.github.com/repos/octo-org/octo-repo/actions/runs/12a4/deployment_protection_rule", false},
		{dotcom, "https://api.github.com/repos/octo-org/octo-repo/actions/runs//deployment_protection_rule", false},
		{dotcom, "https://api.github.com/api/v3" + rule, false},
		{dotcom, "https://api.github.com" + rule + "/", false},
		{dotcom, "https://api.github.com/repos/octo%2Forg/octo-repo/actions/runs/1234/deployment_protection_rule", false},
		{ghes, "https://ghe.example.com/api/v3" + rule, true},
		{ghes, "https://ghe.example.com" + rule, false},
		{ghes, "https://ghe.example.com/api/v3x" + rule, false},
		{ghes, "https://ghe.example.com/other/api/v3" + rule, false},
		{ghes, "https://api.github.com" + rule, false},
	}
	for _, tt := range tests {
		err := tt.client.CheckCallbackURL(tt.callback)
		if (err == nil) != tt.ok {
			t.Errorf("%s with API %s: %v, want ok %v", tt.callback, tt.client.APIURL(), err, tt.ok)
		}
		if err != nil && failure.ClassOf(err) != failure.Invalid {
			t.Errorf("%s: class %s, want invalid", tt.callback, failure.ClassOf(err))
		}
	}
}

// GitHub Enterprise Server: the API and the callback are under /api/v3.
func TestReviewEnterpriseServerPrefix(t *testing.T) {
	srv, c, _ := setup(t, githubtest.Options{PathPrefix: "/api/v3"})
	if !strings.HasSuffix(c.APIURL(), "/api/v3") {
		t.Fatalf("API URL %s", c.APIURL())
	}
	if err := c.Review(context.Background(), githubtest.DefaultInstallationID, srv.CallbackURL("o", "r", 5), approve); err != nil {
		t.Fatalf("Review: %v", err)
	}
	for _, r := range srv.Requests() {
		if !strings.HasPrefix(r.Path, "/api/v3/") {
			t.Errorf("request to %s, outside /api/v3", r.Path)
		}
	}
	if len(srv.Reviews()) != 1 {
		t.Errorf("reviews = %+v", srv.Reviews())
	}
}

// A redirect is not followed: the token would go with it.
func TestReviewDoesNotFollowRedirects(t *testing.T) {
	var elsewhere atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		elsewhere.Add(1)
	}))
	defer other.Close()
	api := githubtest.New(githubtest.Options{})
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/deployment_protection_rule") {
			http.Redirect(w, r, other.URL+r.URL.Path, http.StatusTemporaryRedirect)
			return
		}
		api.ServeHTTP(w, r)
	}))
	defer front.Close()
	c, err := githubapp.New(githubapp.Config{AppID: api.AppID(), PrivateKey: githubtest.Key(), APIURL: front.URL,
		HTTPClient: front.Client()})
	if err != nil {
		t.Fatal(err)
	}
	err = c.Review(context.Background(), githubtest.DefaultInstallationID,
		front.URL+"/repos/o/r/actions/runs/1/deployment_protection_rule", approve)
	if failure.ClassOf(err) != failure.Rejected || !strings.Contains(err.Error(), ": 307") {
		t.Errorf("Review = %v, want the 307 as a rejected error", err)
	}
	if elsewhere.Load() != 0 {
		t.Error("the redirect was followed")
	}
}
