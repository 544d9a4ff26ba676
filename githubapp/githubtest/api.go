// Package githubtest is a stand-in of the GitHub REST API for the parts a
// GitHub App with a custom deployment protection rule uses, for tests; it is
// never linked into the deployed binary.
//
// An [API] is an [http.Handler] that holds an app's id, its installations and
// its public key, and answers as GitHub does:
//
//   - POST /app/installations/{installation_id}/access_tokens with
//     "Authorization: Bearer <app JWT>" verifies the JWT: an RS256 signature
//     by the app's key, iss the app id (a string), iat not in the future, exp
//     in the future and at most ten minutes after iat. It answers
//     201 {"token":"ghs_…","expires_at":…,"permissions":…,"repository_selection":"all"}
//     with a token that lives [Options.TokenLifetime]; an unknown
//     installation is 404, a refused JWT 401.
//   - POST /repos/{owner}/{repo}/actions/runs/{run_id}/deployment_protection_rule
//     (the deployment_callback_url of the webhook) with
//     "Authorization: Bearer <installation token>" (or "token …") records the
//     review {"environment_name","state","comment"} ([API.Reviews]) and
//     answers 204. An unknown, expired or revoked token is 401 "Bad
//     credentials"; a missing environment_name or a state other than
//     "approved" or "rejected" 422.
//   - Every request needs a User-Agent (else 403, as GitHub does); an
//     X-GitHub-Api-Version other than 2022-11-28 is 400; any other path 404.
//     Errors are GitHub's JSON {"message":…,"documentation_url":…}.
//
// With [Options.PathPrefix] "/api/v3" it serves those paths under the
// prefix, as GitHub Enterprise Server does. [API.Refuse] makes it answer
// errors (5xx, 401, 422, 429 …) a number of times before it works again;
// every request is recorded ([API.Requests]).
//
// [NewServer] starts it on a loopback port; [Key] is an RSA key for the app,
// and [DeploymentProtectionRuleWebhook] builds the signed webhook delivery
// that starts a review.
package githubtest

import (
	"cmp"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Defaults of an API.
const (
	// DefaultAppID is the app id when Options.AppID is zero.
	DefaultAppID = 1234567
	// DefaultInstallationID is the one installation when
	// Options.Installations is empty.
	DefaultInstallationID = 45678901
	// DefaultTokenLifetime is the lifetime of installation tokens when
	// Options.TokenLifetime is zero: an hour, as on GitHub.
	DefaultTokenLifetime = time.Hour
	// MaxJWTLifetime is the longest life GitHub allows an app JWT.
	MaxJWTLifetime = 10 * time.Minute
	// APIVersion is the X-GitHub-Api-Version the stand-in accepts.
	APIVersion = "2022-11-28"
	// MaxBodyBytes is the largest request body read; larger bodies get 413.
	MaxBodyBytes = 1 << 20
	// documentationURL goes into every error answer.
	documentationURL = "https://docs.github.com/rest"
)

// Endpoint names an endpoint of the stand-in, for Refuse and Request.
type Endpoint string

// The endpoints.
const (
	EndpointAccessTokens Endpoint = "access_tokens"
	EndpointReview       Endpoint = "deployment_protection_rule"
)

// Options configure an API.
type Options struct {
	// AppID is the app's id, the iss its JWTs must carry; 0 means
	// DefaultAppID.
	AppID int64
	// PublicKey verifies the app's JWTs; nil means Key()'s public key.
	PublicKey *rsa.PublicKey
	// Installations are the installation ids of the app; empty means
	// DefaultInstallationID alone.
	Installations []int64
	// TokenLifetime is how long installation tokens live; 0 means
	// DefaultTokenLifetime.
	TokenLifetime time.Duration
	// PathPrefix is served before every path: "" for github.com,
	// "/api/v3" for GitHub Enterprise Server.
	PathPrefix string
	// Now is the clock of JWT checks and token expiry; nil means time.Now.
	Now func() time.Time
}

// API is the stand-in; create it with New or NewServer. It is an
// http.Handler and safe for concurrent use.
type API struct {
	appID         int64
	issuer        string // appID as the JWTs' iss
	publicKey     *rsa.PublicKey
	installations map[int64]bool
	tokenLifetime time.Duration
	prefix        string
	now           func() time.Time

	mu       sync.Mutex
	tokens   map[string]issuedToken // by value
	issued   int
	refusals []*Refusal
	requests []Request
	reviews  []ReviewRecord
}

// issuedToken is an installation token handed out.
type issuedToken struct {
	installationID int64
	expiresAt      time.Time
}

// New returns an API configured by opts.
func New(opts Options) *API {
	a := &API{
		appID:         cmp.Or(opts.AppID, DefaultAppID),
		publicKey:     opts.PublicKey,
		installations: make(map[int64]bool),
		tokenLifetime: cmp.Or(opts.TokenLifetime, DefaultTokenLifetime),
		prefix:        strings.TrimRight(opts.PathPrefix, "/"),
		now:           opts.Now,
		tokens:        make(map[string]issuedToken),
	}
	a.issuer = strconv.FormatInt(a.appID, 10)
	if a.publicKey == nil {
		a.publicKey = &Key().PublicKey
	}
	if a.now == nil {
		a.now = time.Now
	}
	ids := opts.Installations
	if len(ids) == 0 {
		ids = []int64{DefaultInstallationID}
	}
	for _, id := range ids {
		a.installations[id] = true
	}
	return a
}

// AppID returns the app id the API expects as the JWTs' iss.
func (a *API) AppID() int64 { return a.appID }

// Refusal is an error answer the API gives instead of serving a request.
type Refusal struct {
	// Endpoint selects the requests refused; "" means any.
	Endpoint Endpoint
	// Status of the answer; 0 means 500.
	Status int
	// Message is the error body's message; "" means one fitting the status
	// ("Bad credentials" for 401, "Validation Failed" for 422, …).
	Message string
	// Header is added to the answer, such as Retry-After or
	// X-RateLimit-Remaining.
	Header http.Header
	// Times is how many matching requests are refused: 0 means 1, a
	// negative number every one until ClearRefusals.
	Times int
}

// Refuse adds r to the refusals. For each request the first matching one
// applies, in the order they were added, and uses up one of its Times; a
// refused request has no effect.
func (a *API) Refuse(r Refusal) {
	if r.Times == 0 {
		r.Times = 1
	}
	if r.Status == 0 {
		r.Status = http.StatusInternalServerError
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.refusals = append(a.refusals, &r)
}

// ClearRefusals removes every refusal not yet used up.
func (a *API) ClearRefusals() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.refusals = nil
}

// RevokeTokens invalidates every installation token issued so far, as
// GitHub does when an installation's permissions change; tokens issued
// afterwards work.
func (a *API) RevokeTokens() {
	a.mu.Lock()
	defer a.mu.Unlock()
	clear(a.tokens)
}

// TokensIssued returns how many installation tokens have been issued.
func (a *API) TokensIssued() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.issued
}

// Request is one request the API received.
type Request struct {
	// Endpoint is the endpoint the path names, "" for none.
	Endpoint Endpoint
	// Method and Path of the request; Host is its Host header.
	Method, Path, Host string
	// Header is a copy of the request headers, Authorization included.
	Header http.Header
	// Body is the request body (at most MaxBodyBytes+1 bytes).
	Body []byte
	// Status is the status answered.
	Status int
}

// Requests returns a copy of every request received, oldest first. A
// request is recorded before its answer is sent.
func (a *API) Requests() []Request {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := slices.Clone(a.requests)
	for i := range out {
		out[i].Header = out[i].Header.Clone()
		out[i].Body = slices.Clone(out[i].Body)
	}
	return out
}

// ReviewRecord is one review the API accepted.
type ReviewRecord struct {
	// Owner, Repo and RunID come from the callback URL's path.
	Owner, Repo string
	RunID       int64
	// InstallationID is the installation of the token the review came with.
	InstallationID int64
	// EnvironmentName, State and Comment are the body's fields.
	EnvironmentName, State, Comment string
}

// Reviews returns the reviews accepted so far, oldest first.
func (a *API) Reviews() []ReviewRecord {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.reviews)
}

// Server is an API on a loopback port; its URL is the API base URL
// (without the PathPrefix: use APIURL).
type Server struct {
	*httptest.Server
	*API
}

// NewServer starts an API configured by opts on a loopback port. Close it
// when done.
func NewServer(opts Options) *Server {
	a := New(opts)
	return &Server{Server: httptest.NewServer(a), API: a}
}

// APIURL returns the base URL a client is configured with: URL and the
// PathPrefix.
func (s *Server) APIURL() string { return s.URL + s.prefix }

// CallbackURL returns the deployment_callback_url of run runID of
// owner/repo on this server.
func (s *Server) CallbackURL(owner, repo string, runID int64) string {
	return fmt.Sprintf("%s/repos/%s/%s/actions/runs/%d/deployment_protection_rule", s.APIURL(), owner, repo, runID)
}

// ServeHTTP answers one request.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxBodyBytes+1))
	if err != nil {
		http.Error(w, "read body", http.StatusBadRequest)
		return
	}
	path, _ := strings.CutPrefix(r.URL.Path, a.prefix)
	if a.prefix != "" && path == r.URL.Path {
		path = "" // outside the prefix: no endpoint
	}
	endpoint, params := route(r.Method, path)
	rec := Request{Endpoint: endpoint, Method: r.Method, Path: r.URL.Path, Host: r.Host,
		Header: r.Header.Clone(), Body: body}
	status, answer, header := a.serve(r, endpoint, params, body)
	rec.Status = status

	a.mu.Lock()
	a.requests = append(a.requests, rec)
	a.mu.Unlock()

	for k, vs := range header {
		w.Header()[k] = vs
	}
	if answer == nil {
		w.WriteHeader(status)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(answer)
}

// route finds the endpoint of a path (after the prefix) and its parameters:
// the installation id, or owner, repo and run id.
func route(method, path string) (Endpoint, []string) {
	s := strings.Split(strings.TrimPrefix(path, "/"), "/")
	switch {
	case method != http.MethodPost:
		return "", nil
	case len(s) == 4 && s[0] == "app" && s[1] == "installations" && s[3] == "access_tokens":
		return EndpointAccessTokens, s[2:3]
	case len(s) == 7 && s[0] == "repos" && s[3] == "actions" && s[4] == "runs" && s[6] == "deployment_protection_rule":
		return EndpointReview, []string{s[1], s[2], s[5]}
	}
	return "", nil
}

// errorAnswer is GitHub's error body.
type errorAnswer struct {
	Message          string `json:"message"`
	DocumentationURL string `json:"documentation_url"`
	Status           string `json:"status"`
}

func failed(status int, msg string) (int, any, http.Header) {
	return status, errorAnswer{Message: msg, DocumentationURL: documentationURL, Status: strconv.Itoa(status)}, nil
}

// serve computes the answer: status, body (nil for none) and extra headers.
func (a *API) serve(r *http.Request, endpoint Endpoint, params []string, body []byte) (int, any, http.Header) {
	if refusal := a.takeRefusal(endpoint); refusal != nil {
		status, answer, _ := failed(refusal.Status, cmp.Or(refusal.Message, defaultMessage(refusal.Status)))
		return status, answer, refusal.Header
	}
	switch v := r.Header.Get("X-GitHub-Api-Version"); {
	case r.Header.Get("User-Agent") == "":
		return failed(http.StatusForbidden, "Request forbidden by administrative rules. Please make sure your request has a User-Agent header.")
	case v != "" && v != APIVersion:
		return failed(http.StatusBadRequest, fmt.Sprintf("Unsupported 'X-GitHub-Api-Version' provided: %.40q", v))
	case len(body) > MaxBodyBytes:
		return failed(http.StatusRequestEntityTooLarge, "Request body too large")
	}
	switch endpoint {
	case EndpointAccessTokens:
		return a.accessToken(r, params[0])
	case EndpointReview:
		return a.review(r, params, body)
	}
	return failed(http.StatusNotFound, "Not Found")
}

// defaultMessage is the message of a refusal that sets none.
func defaultMessage(status int) string {
	switch status {
	case http.StatusUnauthorized:
		return "Bad credentials"
	case http.StatusUnprocessableEntity:
		return "Validation Failed"
	case http.StatusTooManyRequests, http.StatusForbidden:
		return "API rate limit exceeded"
	}
	return http.StatusText(status)
}

// takeRefusal returns the first refusal matching endpoint and uses it up
// once, or nil.
func (a *API) takeRefusal(endpoint Endpoint) *Refusal {
	a.mu.Lock()
	defer a.mu.Unlock()
	for i, f := range a.refusals {
		if f.Endpoint != "" && f.Endpoint != endpoint {
			continue
		}
		if f.Times > 0 {
			f.Times--
			if f.Times == 0 {
				a.refusals = slices.Delete(a.refusals, i, i+1)
			}
		}
		return f
	}
	return nil
}

// bearer returns the credential of an "Authorization: Bearer …" header (or
// "token …" when token is true), or "".
func bearer(r *http.Request, token bool) string {
	scheme, cred, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !(strings.EqualFold(scheme, "Bearer") || token && strings.EqualFold(scheme, "token")) {
		return ""
	}
	return strings.TrimSpace(cred)
}

// accessToken serves POST /app/installations/{installation_id}/access_tokens.
func (a *API) accessToken(r *http.Request, idText string) (int, any, http.Header) {
	if msg := a.verifyJWT(bearer(r, false)); msg != "" {
		return failed(http.StatusUnauthorized, msg)
	}
	id, err := strconv.ParseInt(idText, 10, 64)
	if err != nil || !a.installations[id] {
		return failed(http.StatusNotFound, "Not Found")
	}
	token, err := newToken()
	if err != nil {
		return failed(http.StatusInternalServerError, "token: "+err.Error())
	}
	expiresAt := a.now().Add(a.tokenLifetime).UTC().Truncate(time.Second)
	a.mu.Lock()
	a.tokens[token] = issuedToken{installationID: id, expiresAt: expiresAt}
	a.issued++
	a.mu.Unlock()
	return http.StatusCreated, map[string]any{
		"token":                token,
		"expires_at":           expiresAt.Format(time.RFC3339),
		"permissions":          map[string]string{"actions": "read", "deployments": "write", "metadata": "read"},
		"repository_selection": "all",
	}, nil
}

// verifyJWT checks an app JWT as GitHub does and returns "" when it is good,
// else GitHub's message for what is wrong with it.
func (a *API) verifyJWT(token string) string {
	const undecodable = "A JSON web token could not be decoded"
	if token == "" {
		return undecodable
	}
	now := a.now()
	var claims jwt.RegisteredClaims
	_, err := jwt.ParseWithClaims(token, &claims,
		func(*jwt.Token) (any, error) { return a.publicKey, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodRS256.Alg()}),
		jwt.WithTimeFunc(func() time.Time { return now }),
		jwt.WithIssuedAt(),
		jwt.WithExpirationRequired(),
		jwt.WithIssuer(a.issuer),
	)
	switch {
	case errors.Is(err, jwt.ErrTokenExpired), errors.Is(err, jwt.ErrTokenRequiredClaimMissing) && claims.ExpiresAt == nil:
		return "'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires"
	case errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return "'Issued at' claim ('iat') must be an Integer representing a time in the past"
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return "Integration not found"
	case err != nil:
		return undecodable
	case claims.IssuedAt == nil:
		return "'Issued at' claim ('iat') must be an Integer representing the time that the assertion was issued"
	case claims.ExpiresAt.Sub(claims.IssuedAt.Time) > MaxJWTLifetime: // and iat is not after now: exp is at most 10 minutes ahead
		return "'Expiration time' claim ('exp') is too far in the future"
	}
	return ""
}

// newToken returns a new installation token: "ghs_" and 36 letters and
// digits, as GitHub's look.
func newToken() (string, error) {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 36)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return "ghs_" + string(b), nil
}

// reviewBody is the body of a review; pointers tell absent from empty.
type reviewBody struct {
	EnvironmentName *string `json:"environment_name"`
	State           *string `json:"state"`
	Comment         *string `json:"comment"`
}

// review serves POST /repos/{owner}/{repo}/actions/runs/{run_id}/deployment_protection_rule.
func (a *API) review(r *http.Request, params []string, body []byte) (int, any, http.Header) {
	token := bearer(r, true)
	a.mu.Lock()
	issued, ok := a.tokens[token]
	a.mu.Unlock()
	if token == "" || !ok || !a.now().Before(issued.expiresAt) {
		return failed(http.StatusUnauthorized, "Bad credentials")
	}
	runID, err := strconv.ParseInt(params[2], 10, 64)
	if err != nil || runID <= 0 || params[0] == "" || params[1] == "" {
		return failed(http.StatusNotFound, "Not Found")
	}
	var rb reviewBody
	switch {
	case json.Unmarshal(body, &rb) != nil:
		return failed(http.StatusBadRequest, "Problems parsing JSON")
	case rb.EnvironmentName == nil || *rb.EnvironmentName == "":
		return failed(http.StatusUnprocessableEntity, `Invalid request. "environment_name" wasn't supplied.`)
	case rb.State == nil:
		return failed(http.StatusUnprocessableEntity, `Invalid request. "state" wasn't supplied.`)
	case *rb.State != "approved" && *rb.State != "rejected":
		return failed(http.StatusUnprocessableEntity, fmt.Sprintf("Invalid request. %.40q is not a member of the state enum.", *rb.State))
	}
	rec := ReviewRecord{Owner: params[0], Repo: params[1], RunID: runID, InstallationID: issued.installationID,
		EnvironmentName: *rb.EnvironmentName, State: *rb.State}
	if rb.Comment != nil {
		rec.Comment = *rb.Comment
	}
	a.mu.Lock()
	a.reviews = append(a.reviews, rec)
	a.mu.Unlock()
	return http.StatusNoContent, nil, nil
}
