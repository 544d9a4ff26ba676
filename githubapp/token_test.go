package githubapp_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/restorepoint/restorepoint/failure"
	"github.com/restorepoint/restorepoint/githubapp"
	"github.com/restorepoint/restorepoint/githubapp/githubtest"
)

func TestAppJWTClaims(t *testing.T) {
	srv, c, clk := setup(t, githubtest.Options{})
	signed, err := c.AppJWT()
	if err != nil {
		t.Fatal(err)
	}
	var claims jwt.RegisteredClaims
	tok, err := jwt.ParseWithClaims(signed, &claims,
		func(*jwt.Token) (any, error) { return &githubtest.Key().PublicKey, nil },
		jwt.WithValidMethods([]string{"RS256"}), jwt.WithTimeFunc(clk.Now))
	if err != nil {
		t.Fatalf("parse app JWT: %v", err)
	}
	if tok.Header["alg"] != "RS256" || tok.Header["typ"] != "JWT" {
		t.Errorf("header = %v, want alg RS256, typ JWT", tok.Header)
	}
	now := clk.Now()
	if claims.Issuer != "1234567" {
		t.Errorf("iss = %q, want the app id as a string", claims.Issuer)
	}
	if !claims.IssuedAt.Equal(now.Add(-time.Minute)) {
		t.Errorf("iat = %v, want a minute before %v", claims.IssuedAt, now)
	}
	if !claims.ExpiresAt.Equal(now.Add(9 * time.Minute)) {
		t.Errorf("exp = %v, want nine minutes after %v", claims.ExpiresAt, now)
	}
	if life := claims.ExpiresAt.Sub(claims.IssuedAt.Time); life > githubtest.MaxJWTLifetime {
		t.Errorf("exp - iat = %v, GitHub allows at most %v", life, githubtest.MaxJWTLifetime)
	}
	// The numeric claims are integers, as GitHub wants them.
	payload, _ := jwt.NewParser().DecodeSegment(strings.Split(signed, ".")[1])
	if strings.Contains(string(payload), ".") {
		t.Errorf("claims %s: want integer times", payload)
	}

	// The stand-in verifies it as GitHub does: the token request succeeds.
	if _, err := c.InstallationToken(context.Background(), githubtest.DefaultInstallationID); err != nil {
		t.Fatalf("InstallationToken: %v", err)
	}
	req := requestsTo(srv, githubtest.EndpointAccessTokens)[0]
	if got := bearerOf(req); got != signed {
		t.Errorf("access token request sent %q, want the app JWT", got)
	}
	for h, want := range map[string]string{
		"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28",
		"User-Agent": githubapp.UserAgent,
	} {
		if got := req.Header.Get(h); got != want {
			t.Errorf("%s = %q, want %q", h, got, want)
		}
	}
	if req.Path != "/app/installations/45678901/access_tokens" || req.Method != http.MethodPost {
		t.Errorf("request %s %s", req.Method, req.Path)
	}
}

func TestInstallationTokenCachedUntilFiveMinutesBeforeExpiry(t *testing.T) {
	srv, c, clk := setup(t, githubtest.Options{})
	ctx := context.Background()
	first, err := c.InstallationToken(ctx, githubtest.DefaultInstallationID)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(first, "ghs_") {
		t.Errorf("token %q: want the stand-in's ghs_ token", first)
	}
	clk.Advance(54 * time.Minute) // 6 minutes left
	if got, err := c.InstallationToken(ctx, githubtest.DefaultInstallationID); err != nil || got != first {
		t.Fatalf("after 54 min: %q, %v; want the cached token", got, err)
	}
	if n := srv.TokensIssued(); n != 1 {
		t.Fatalf("tokens issued = %d, want 1", n)
	}
	clk.Advance(time.Minute + time.Second) // under 5 minutes left
	second, err := c.InstallationToken(ctx, githubtest.DefaultInstallationID)
	if err != nil {
		t.Fatal(err)
	}
	if second == first || srv.TokensIssued() != 2 {
		t.Errorf("after 55 min: token %q (first %q), %d issued; want a new one", second, first, srv.TokensIssued())
	}
}

func TestInstallationTokensPerInstallation(t *testing.T) {
	srv, c, _ := setup(t, githubtest.Options{Installations: []int64{11, 22}})
	ctx := context.Background()
	a, err := c.InstallationToken(ctx, 11)
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.InstallationToken(ctx, 22)
	if err != nil {
		t.Fatal(err)
	}
	if a == b || srv.TokensIssued() != 2 {
		t.Errorf("tokens %q and %q, %d issued: want one per installation", a, b, srv.TokensIssued())
	}
	if again, _ := c.InstallationToken(ctx, 11); again != a {
		t.Errorf("installation 11 again: %q, want the cached %q", again, a)
	}
}

// A token that lives less than the refresh margin is used but not cached.
func TestShortLivedTokenNotCached(t *testing.T) {
	srv, c, _ := setup(t, githubtest.Options{TokenLifetime: 4 * time.Minute})
	for range 2 {
		if _, err := c.InstallationToken(context.Background(), githubtest.DefaultInstallationID); err != nil {
			t.Fatal(err)
		}
	}
	if n := srv.TokensIssued(); n != 2 {
		t.Errorf("tokens issued = %d, want 2", n)
	}
}

// gate holds access-token requests until released, and counts them; a
// request whose client gives up meanwhile is not served.
type gate struct {
	next    http.Handler
	arrived chan struct{} // a request is held
	gaveUp  chan struct{} // a held request's client went away
	release chan struct{}
	mu      sync.Mutex
	count   int
}

func (g *gate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasSuffix(r.URL.Path, "/access_tokens") {
		g.mu.Lock()
		g.count++
		g.mu.Unlock()
		g.arrived <- struct{}{}
		select {
		case <-g.release:
		case <-r.Context().Done():
			g.gaveUp <- struct{}{}
			return
		}
	}
	g.next.ServeHTTP(w, r)
}

func gatedClient(t *testing.T) (*githubtest.API, *gate, *githubapp.Client) {
	t.Helper()
	api := githubtest.New(githubtest.Options{})
	g := &gate{next: api, arrived: make(chan struct{}, 16), gaveUp: make(chan struct{}, 16), release: make(chan struct{})}
	hs := httptest.NewServer(g)
	t.Cleanup(hs.Close)
	c, err := githubapp.New(githubapp.Config{AppID: api.AppID(), PrivateKey: githubtest.Key(), APIURL: hs.URL,
		HTTPClient: hs.Client()})
	if err != nil {
		t.Fatal(err)
	}
	return api, g, c
}

func TestConcurrentCallersShareOneFetch(t *testing.T) {
	api, g, c := gatedClient(t)
	const callers = 8
	tokens := make([]string, callers)
	errs := make([]error, callers)
	var wg sync.WaitGroup
	for i := range callers {
		wg.Go(func() {
			tokens[i], errs[i] = c.InstallationToken(context.Background(), githubtest.DefaultInstallationID)
		})
	}
	<-g.arrived                       // one fetch is under way...
	time.Sleep(50 * time.Millisecond) // ...and the other callers wait for it
	close(g.release)
	wg.Wait()
	for i := range callers {
		if errs[i] != nil || tokens[i] != tokens[0] {
			t.Errorf("caller %d: %q, %v; want %q", i, tokens[i], errs[i], tokens[0])
		}
	}
	if g.count != 1 || api.TokensIssued() != 1 {
		t.Errorf("%d token requests, %d issued; want 1", g.count, api.TokensIssued())
	}
}

// When the caller whose request is under way gives up, a caller waiting for
// it asks for itself instead of failing with the other's cancellation.
func TestWaiterOutlivesCancelledFetch(t *testing.T) {
	api, g, c := gatedClient(t)
	leaderCtx, cancel := context.WithCancel(context.Background())
	leaderErr := make(chan error, 1)
	go func() {
		_, err := c.InstallationToken(leaderCtx, githubtest.DefaultInstallationID)
		leaderErr <- err
	}()
	<-g.arrived
	waiter := make(chan error, 1)
	go func() {
		_, err := c.InstallationToken(context.Background(), githubtest.DefaultInstallationID)
		waiter <- err
	}()
	time.Sleep(50 * time.Millisecond) // the waiter joins the fetch under way
	cancel()
	if err := <-leaderErr; !errors.Is(err, context.Canceled) {
		t.Errorf("leader: %v, want context.Canceled", err)
	}
	<-g.gaveUp // the leader's request is abandoned unanswered
	select {
	case <-g.arrived: // the waiter's own request
	case err := <-waiter:
		t.Fatalf("waiter gave up with the leader: %v", err)
	}
	close(g.release)
	if err := <-waiter; err != nil {
		t.Errorf("waiter: %v, want a token", err)
	}
	if api.TokensIssued() != 1 {
		t.Errorf("%d tokens issued, want 1 (the cancelled request is not served)", api.TokensIssued())
	}
}

func TestInstallationTokenFailures(t *testing.T) {
	tests := []struct {
		name     string
		id       int64
		refuse   *githubtest.Refusal
		class    failure.Class
		requests int
		text     string
	}{
		{"unknown installation", 999, nil, failure.Rejected, 1, "404: Not Found"},
		{"not a valid id", 0, nil, failure.Invalid, 0, "installation.id: must be a positive number"},
		{"JWT refused", githubtest.DefaultInstallationID,
			&githubtest.Refusal{Status: 401, Message: "A JSON web token could not be decoded"},
			failure.Unauthorized, 1, "401: A JSON web token could not be decoded"},
		{"unavailable three times", githubtest.DefaultInstallationID,
			&githubtest.Refusal{Status: 502, Times: 3}, failure.Unavailable, 3, "502: Bad Gateway"},
		{"throttled three times", githubtest.DefaultInstallationID,
			&githubtest.Refusal{Status: 429, Times: 3, Header: http.Header{"Retry-After": {"0"}}},
			failure.Throttled, 3, "429: API rate limit exceeded"},
		{"primary rate limit (403)", githubtest.DefaultInstallationID,
			&githubtest.Refusal{Status: 403, Times: -1, Header: http.Header{"X-Ratelimit-Remaining": {"0"}}},
			failure.Throttled, 3, "403: API rate limit exceeded"},
		{"forbidden", githubtest.DefaultInstallationID,
			&githubtest.Refusal{Status: 403, Message: "This installation has been suspended"},
			failure.Rejected, 1, "403: This installation has been suspended"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, c, _ := setup(t, githubtest.Options{})
			if tt.refuse != nil {
				srv.Refuse(*tt.refuse)
			}
			tok, err := c.InstallationToken(context.Background(), tt.id)
			if err == nil || tok != "" {
				t.Fatalf("InstallationToken = %q, %v; want an error", tok, err)
			}
			if got := failure.ClassOf(err); got != tt.class {
				t.Errorf("class = %s, want %s (%v)", got, tt.class, err)
			}
			if !strings.Contains(err.Error(), tt.text) || strings.Contains(err.Error(), "\n") {
				t.Errorf("error %q: want one line containing %q", err, tt.text)
			}
			if n := len(requestsTo(srv, githubtest.EndpointAccessTokens)) + len(requestsTo(srv, "")); n != tt.requests {
				t.Errorf("%d requests, want %d", n, tt.requests)
			}
		})
	}
}

func TestInstallationTokenRetriedThenIssued(t *testing.T) {
	srv, c, _ := setup(t, githubtest.Options{})
	srv.Refuse(githubtest.Refusal{Endpoint: githubtest.EndpointAccessTokens, Status: 500, Times: 2})
	if _, err := c.InstallationToken(context.Background(), githubtest.DefaultInstallationID); err != nil {
		t.Fatalf("InstallationToken: %v", err)
	}
	reqs := requestsTo(srv, githubtest.EndpointAccessTokens)
	if len(reqs) != 3 || reqs[2].Status != http.StatusCreated {
		t.Errorf("%d requests: want 2 refused and 1 answered 201", len(reqs))
	}
	if bearerOf(reqs[0]) == "" {
		t.Error("no JWT sent")
	}
}
