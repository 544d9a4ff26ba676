package githubtest_test

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/restorepoint/restorepoint/githubapp/githubtest"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func start(t *testing.T, opts githubtest.Options) (*githubtest.Server, *clock) {
	t.Helper()
	clk := &clock{t: time.Date(2025, 6, 2, 9, 30, 0, 0, time.UTC)}
	opts.Now = clk.Now
	srv := githubtest.NewServer(opts)
	t.Cleanup(srv.Close)
	return srv, clk
}

// answer is a status, the headers and the body with GitHub's error message.
type answer struct {
	status  int
	header  http.Header
	message string
	body    map[string]any
}

// post sends a request with GitHub's headers (change may alter them).
func post(t *testing.T, srv *githubtest.Server, path, auth, body string, change func(*http.Request)) answer {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, srv.APIURL()+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "application/vnd.github+json")
	req.Header.Set("X-GitHub-Api-Version", "2022-11-28")
	req.Header.Set("User-Agent", "test")
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	if change != nil {
		change(req)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode, header: resp.Header}
	if len(data) > 0 {
		if err := json.Unmarshal(data, &a.body); err != nil {
			t.Fatalf("answer %d %q is not JSON: %v", resp.StatusCode, data, err)
		}
		a.message, _ = a.body["message"].(string)
		if a.status >= 400 && a.body["documentation_url"] == nil {
			t.Errorf("error answer %s without documentation_url", data)
		}
	}
	return a
}

// sign signs claims with key and method.
func sign(t *testing.T, method jwt.SigningMethod, claims jwt.Claims, key any) string {
	t.Helper()
	s, err := jwt.NewWithClaims(method, claims).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

const tokensPath = "/app/installations/45678901/access_tokens"

func TestAccessTokenVerifiesJWT(t *testing.T) {
	srv, clk := start(t, githubtest.Options{})
	now := clk.Now()
	at := func(d time.Duration) *jwt.NumericDate { return jwt.NewNumericDate(now.Add(d)) }
	good := jwt.RegisteredClaims{Issuer: "1234567", IssuedAt: at(-time.Minute), ExpiresAt: at(9 * time.Minute)}
	otherKey, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	with := func(change func(*jwt.RegisteredClaims)) jwt.RegisteredClaims {
		c := good
		change(&c)
		return c
	}
	rs256 := func(c jwt.Claims) string { return sign(t, jwt.SigningMethodRS256, c, githubtest.Key()) }
	tests := []struct {
		name    string
		auth    string
		status  int
		message string
	}{
		{"good", "Bearer " + rs256(good), 201, ""},
		{"lifetime exactly ten minutes", "Bearer " + rs256(with(func(c *jwt.RegisteredClaims) { c.ExpiresAt = at(9 * time.Minute) })), 201, ""},
		{"no Authorization", "", 401, "A JSON web token could not be decoded"},
		{"not a JWT", "Bearer ghs_notajwt", 401, "A JSON web token could not be decoded"},
		{"token scheme", "token " + rs256(good), 401, "A JSON web token could not be decoded"},
		{"another key", "Bearer " + sign(t, jwt.SigningMethodRS256, good, otherKey), 401, "A JSON web token could not be decoded"},
		{"HS256", "Bearer " + sign(t, jwt.SigningMethodHS256, good, []byte("secret")), 401, "A JSON web token could not be decoded"},
		{"RS512", "Bearer " + sign(t, jwt.SigningMethodRS512, good, githubtest.Key()), 401, "A JSON web token could not be decoded"},
		{"another app", "Bearer " + rs256(with(func(c *jwt.RegisteredClaims) { c.Issuer = "7654321" })), 401, "Integration not found"},
		{"no iss", "Bearer " + rs256(with(func(c *jwt.RegisteredClaims) { c.Issuer = "" })), 401, "A JSON web token could not be decoded"},
		{"expired", "Bearer " + rs256(with(func(c *jwt.RegisteredClaims) { c.IssuedAt, c.ExpiresAt = at(-11*time.Minute), at(-time.Minute) })), 401, "'Expiration time' claim ('exp') must be a numeric value"},
		{"no exp", "Bearer " + rs256(with(func(c *jwt.RegisteredClaims) { c.ExpiresAt = nil })), 401, "'Expiration time' claim ('exp') must be a numeric value"},
		{"no iat", "Bearer " + rs256(with(func(c *jwt.RegisteredClaims) { c.IssuedAt = nil })), 401, "'Issued at' claim ('iat') must be an Integer"},
		{"iat in the future", "Bearer " + rs256(with(func(c *jwt.RegisteredClaims) { c.IssuedAt = at(time.Minute) })), 401, "'Issued at' claim ('iat') must be an Integer representing a time in the past"},
		{"lives longer than ten minutes", "Bearer " + rs256(with(func(c *jwt.RegisteredClaims) { c.IssuedAt, c.ExpiresAt = at(-5*time.Minute), at(6*time.Minute) })), 401, "too far in the future"},
		{"exp eleven minutes after iat", "Bearer " + rs256(with(func(c *jwt.RegisteredClaims) { c.IssuedAt, c.ExpiresAt = at(0), at(11*time.Minute) })), 401, "too far in the future"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := post(t, srv, tokensPath, tt.auth, "", nil)
			if a.status != tt.status || !strings.Contains(a.message, tt.message) {
				t.Errorf("answer %d %q, want %d %q", a.status, a.message, tt.status, tt.message)
			}
		})
	}
}

func TestAccessTokenAnswer(t *testing.T) {
	srv, clk := start(t, githubtest.Options{TokenLifetime: 30 * time.Minute, Installations: []int64{5, 6}})
	jwtFor := func() string {
		now := clk.Now()
		return "Bearer " + sign(t, jwt.SigningMethodRS256, jwt.RegisteredClaims{Issuer: "1234567",
			IssuedAt: jwt.NewNumericDate(now.Add(-time.Minute)), ExpiresAt: jwt.NewNumericDate(now.Add(9 * time.Minute))},
			githubtest.Key())
	}
	a := post(t, srv, "/app/installations/5/access_tokens", jwtFor(), "", nil)
	if a.status != 201 {
		t.Fatalf("answer %d %q", a.status, a.message)
	}
	tok, _ := a.body["token"].(string)
	if len(tok) != 40 || !strings.HasPrefix(tok, "ghs_") {
		t.Errorf("token %q: want ghs_ and 36 characters", tok)
	}
	if got, want := a.body["expires_at"], "2025-06-02T10:00:00Z"; got != want {
		t.Errorf("expires_at = %v, want %s", got, want)
	}
	if a.body["permissions"] == nil || a.body["repository_selection"] != "all" {
		t.Errorf("answer %v: want permissions and repository_selection", a.body)
	}
	if a := post(t, srv, "/app/installations/7/access_tokens", jwtFor(), "", nil); a.status != 404 || a.message != "Not Found" {
		t.Errorf("unknown installation: %d %q", a.status, a.message)
	}
	if a := post(t, srv, "/app/installations/x/access_tokens", jwtFor(), "", nil); a.status != 404 {
		t.Errorf("installation x: %d %q", a.status, a.message)
	}
	if n := srv.TokensIssued(); n != 1 {
		t.Errorf("TokensIssued = %d, want 1", n)
	}
}

// review posts a review to run 7 of o/r.
func review(t *testing.T, srv *githubtest.Server, auth, body string) answer {
	t.Helper()
	return post(t, srv, "/repos/o/r/actions/runs/7/deployment_protection_rule", auth, body, nil)
}

// token gets an installation token of the default installation.
func token(t *testing.T, srv *githubtest.Server, clk *clock) string {
	t.Helper()
	now := clk.Now()
	a := post(t, srv, tokensPath, "Bearer "+sign(t, jwt.SigningMethodRS256, jwt.RegisteredClaims{Issuer: "1234567",
		IssuedAt: jwt.NewNumericDate(now.Add(-time.Minute)), ExpiresAt: jwt.NewNumericDate(now.Add(9 * time.Minute))},
		githubtest.Key()), "", nil)
	tok, ok := a.body["token"].(string)
	if a.status != 201 || !ok {
		t.Fatalf("token: %d %q", a.status, a.message)
	}
	return tok
}

func TestReviewEndpoint(t *testing.T) {
	srv, clk := start(t, githubtest.Options{})
	tok := token(t, srv, clk)
	const body = `{"environment_name":"production","state":"approved","comment":"ok"}`
	tests := []struct {
		name, auth, body string
		status           int
		message          string
	}{
		{"no token", "", body, 401, "Bad credentials"},
		{"unknown token", "Bearer ghs_unknown", body, 401, "Bad credentials"},
		{"an app JWT", "Bearer eyJhbGciOiJSUzI1NiJ9.e30.c2ln", body, 401, "Bad credentials"},
		{"not JSON", "Bearer " + tok, `environment_name=production`, 400, "Problems parsing JSON"},
		{"no environment", "Bearer " + tok, `{"state":"approved"}`, 422, `"environment_name" wasn't supplied`},
		{"no state", "Bearer " + tok, `{"environment_name":"production"}`, 422, `"state" wasn't supplied`},
		{"bad state", "Bearer " + tok, `{"environment_name":"production","state":"pending"}`, 422, "is not a member of the state enum"},
		{"approved", "Bearer " + tok, body, 204, ""},
		{"rejected, token scheme, no comment", "token " + tok, `{"environment_name":"staging","state":"rejected"}`, 204, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := review(t, srv, tt.auth, tt.body)
			if a.status != tt.status || !strings.Contains(a.message, tt.message) {
				t.Errorf("answer %d %q, want %d %q", a.status, a.message, tt.status, tt.message)
			}
		})
	}
	want := []githubtest.ReviewRecord{
		{Owner: "o", Repo: "r", RunID: 7, InstallationID: githubtest.DefaultInstallationID,
			EnvironmentName: "production", State: "approved", Comment: "ok"},
		{Owner: "o", Repo: "r", RunID: 7, InstallationID: githubtest.DefaultInstallationID,
			EnvironmentName: "staging", State: "rejected"},
	}
	if got := srv.Reviews(); len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("Reviews = %+v, want %+v", got, want)
	}

	// Tokens expire after an hour, and can be revoked.
	clk.Advance(time.Hour)
	if a := review(t, srv, "Bearer "+tok, body); a.status != 401 {
		t.Errorf("expired token: %d", a.status)
	}
	tok = token(t, srv, clk)
	srv.RevokeTokens()
	if a := review(t, srv, "Bearer "+tok, body); a.status != 401 {
		t.Errorf("revoked token: %d", a.status)
	}
}

func TestCommonChecks(t *testing.T) {
	srv, clk := start(t, githubtest.Options{})
	tok := token(t, srv, clk)
	const body = `{"environment_name":"production","state":"approved"}`
	if a := post(t, srv, "/repos/o/r/actions/runs/7/deployment_protection_rule", "Bearer "+tok, body,
		func(r *http.Request) { r.Header.Set("User-Agent", "") }); a.status != 403 || !strings.Contains(a.message, "User-Agent") {
		t.Errorf("no User-Agent: %d %q", a.status, a.message)
	}
	if a := post(t, srv, "/repos/o/r/actions/runs/7/deployment_protection_rule", "Bearer "+tok, body,
		func(r *http.Request) { r.Header.Set("X-GitHub-Api-Version", "1999-01-01") }); a.status != 400 {
		t.Errorf("unsupported API version: %d %q", a.status, a.message)
	}
	if a := post(t, srv, "/repos/o/r/actions/runs/7/deployment_protection_rule", "Bearer "+tok, body,
		func(r *http.Request) { r.Header.Del("X-GitHub-Api-Version") }); a.status != 204 {
		t.Errorf("no API version (GitHub's default applies): %d %q", a.status, a.message)
	}
	for _, path := range []string{"/repos/o/r/actions/runs/7", "/app", "/repos/o/r/actions/runs/x/deployment_protection_rule"} {
		if a := post(t, srv, path, "Bearer "+tok, body, nil); a.status != 404 {
			t.Errorf("POST %s: %d, want 404", path, a.status)
		}
	}
	if a := post(t, srv, tokensPath, "", "", func(r *http.Request) { r.Method = http.MethodGet }); a.status != 404 {
		t.Errorf("GET access_tokens: %d, want 404", a.status)
	}
	reqs := srv.Requests()
	if len(reqs) == 0 || reqs[0].Endpoint != githubtest.EndpointAccessTokens || reqs[0].Status != 201 ||
		reqs[1].Header.Get("Authorization") != "Bearer "+tok || string(reqs[1].Body) != body {
		t.Errorf("requests not recorded as sent: %+v", reqs[:2])
	}
}

func TestPathPrefix(t *testing.T) {
	srv, clk := start(t, githubtest.Options{PathPrefix: "/api/v3"})
	tok := token(t, srv, clk) // under the prefix
	body := `{"environment_name":"production","state":"approved"}`
	if a := review(t, srv, "Bearer "+tok, body); a.status != 204 {
		t.Errorf("review under /api/v3: %d %q", a.status, a.message)
	}
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/repos/o/r/actions/runs/7/deployment_protection_rule", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Errorf("review outside /api/v3: %d, want 404", resp.StatusCode)
	}
	if got := srv.CallbackURL("o", "r", 7); got != srv.URL+"/api/v3/repos/o/r/actions/runs/7/deployment_protection_rule" {
		t.Errorf("CallbackURL = %s", got)
	}
}

func TestRefusals(t *testing.T) {
	srv, clk := start(t, githubtest.Options{})
	tok := token(t, srv, clk)
	body := `{"environment_name":"production","state":"approved"}`
	srv.Refuse(githubtest.Refusal{Endpoint: githubtest.EndpointReview, Status: 502, Times: 2})
	srv.Refuse(githubtest.Refusal{Endpoint: githubtest.EndpointAccessTokens, Status: 401, Times: -1})
	srv.Refuse(githubtest.Refusal{Status: 429, Header: http.Header{"Retry-After": {"7"}}})
	var got []int
	for range 4 {
		a := review(t, srv, "Bearer "+tok, body)
		got = append(got, a.status)
		if a.status == 429 && a.header.Get("Retry-After") != "7" {
			t.Errorf("429 without the refusal's Retry-After: %v", a.header)
		}
	}
	if want := []int{502, 502, 429, 204}; !slices.Equal(got, want) {
		t.Errorf("review statuses %v, want %v", got, want)
	}
	for range 2 {
		if a := post(t, srv, tokensPath, "", "", nil); a.status != 401 || a.message != "Bad credentials" {
			t.Errorf("refused token request: %d %q", a.status, a.message)
		}
	}
	srv.ClearRefusals()
	if a := post(t, srv, tokensPath, "", "", nil); a.message != "A JSON web token could not be decoded" {
		t.Errorf("after ClearRefusals the JWT is checked again: %d %q", a.status, a.message)
	}
	if len(srv.Reviews()) != 1 {
		t.Errorf("reviews %+v: a refused request has no effect", srv.Reviews())
	}
}
