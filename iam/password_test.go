package iam_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/restorepoint/restorepoint/failure"
	"github.com/restorepoint/restorepoint/iam"
)

const (
	testUser     = "alice"
	testPassword = "Pa55-w0rd!secret"
	testDomain   = "OTC-EU-DE-0001"
	testProject  = "0123456789abcdef0123456789abcdef"
	// iamPrefix is where the fake IAM lives, so that requests to a wrong
	// path fail.
	iamPrefix = "/iam"
)

// clock is an adjustable time for Now.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// authBody is what IAM expects, decoded strictly.
type authBody struct {
	Auth struct {
		Identity struct {
			Methods  []string `json:"methods"`
			Password struct {
				User struct {
					Name     string `json:"name"`
					Password string `json:"password"`
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

// fakeIAM answers POST {prefix}/v3/auth/tokens like IAM does.
type fakeIAM struct {
	t        *testing.T
	clock    *clock
	lifetime time.Duration
	requests atomic.Int32
	// respond, if set, answers instead of the normal success.
	respond func(w http.ResponseWriter) bool
	// gate, if set, holds every request until it is closed.
	gate chan struct{}
	srv  *httptest.Server
}

func newFakeIAM(t *testing.T) *fakeIAM {
	f := &fakeIAM{t: t, clock: newClock(), lifetime: 24 * time.Hour}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeIAM) serve(w http.ResponseWriter, r *http.Request) {
	n := f.requests.Add(1)
	if f.gate != nil {
		<-f.gate
	}
	bad := func(format string, args ...any) {
		f.t.Errorf("fake IAM: "+format, args...)
		http.Error(w, "bad request", http.StatusBadRequest)
	}
	switch {
	case r.Method != http.MethodPost:
		bad("method %s, want POST", r.Method)
		return
	case r.URL.Path != iamPrefix+"/v3/auth/tokens":
		bad("path %s, want %s/v3/auth/tokens", r.URL.Path, iamPrefix)
		return
	case r.URL.RawQuery != "nocatalog=true":
		bad("query %q, want nocatalog=true", r.URL.RawQuery)
		return
	case !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json"):
		bad("Content-Type %q", r.Header.Get("Content-Type"))
		return
	}
	var body authBody
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		bad("body: %v", err)
		return
	}
	id := body.Auth.Identity
	if len(id.Methods) != 1 || id.Methods[0] != "password" || id.Password.User.Name != testUser ||
		id.Password.User.Domain.Name != testDomain || body.Auth.Scope.Project.ID != testProject {
		bad("body %+v", body)
		return
	}
	if f.respond != nil && f.respond(w) {
		return
	}
	if id.Password.User.Password != testPassword {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		io.WriteString(w, `{"error":{"code":401,"message":"The username or password is wrong.","title":"Unauthorized"}}`)
		return
	}
	now := f.clock.Now()
	w.Header().Set("X-Subject-Token", fmt.Sprintf("token-%d", n))
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	fmt.Fprintf(w, `{"token":{"methods":["password"],"issued_at":%q,"expires_at":%q,"user":{"name":%q}}}`,
		now.Format("2006-01-02T15:04:05.000000Z"), now.Add(f.lifetime).Format("2006-01-02T15:04:05.000000Z"), testUser)
}

// config returns a valid PasswordConfig for f.
func (f *fakeIAM) config() iam.PasswordConfig {
	return iam.PasswordConfig{
		Endpoint:   f.srv.URL + iamPrefix + "/v3",
		Username:   testUser,
		Password:   testPassword,
		DomainName: testDomain,
		ProjectID:  testProject,
		HTTPClient: f.srv.Client(),
		Now:        f.clock.Now,
	}
}

func (f *fakeIAM) source(cfg iam.PasswordConfig) *iam.Password {
	f.t.Helper()
	p, err := iam.NewPassword(cfg)
	if err != nil {
		f.t.Fatalf("NewPassword: %v", err)
	}
	return p
}

// wantToken calls p.Token and checks the token and the number of IAM
// requests so far.
func wantToken(t *testing.T, f *fakeIAM, p *iam.Password, want string, wantRequests int32) {
	t.Helper()
	got, err := p.Token(context.Background())
	if err != nil || got != want {
		t.Fatalf("Token() = %q, %v; want %q", got, err, want)
	}
	if n := f.requests.Load(); n != wantRequests {
		t.Fatalf("IAM got %d requests, want %d", n, wantRequests)
	}
}

func TestPasswordCachesToken(t *testing.T) {
	f := newFakeIAM(t)
	p := f.source(f.config())
	wantToken(t, f, p, "token-1", 1)
	wantToken(t, f, p, "token-1", 1)
	f.clock.Advance(20 * time.Hour)
	wantToken(t, f, p, "token-1", 1)
}

func TestPasswordEndpointForms(t *testing.T) {
	for _, suffix := range []string{"", "/", "/v3", "/v3/"} {
		t.Run(suffix, func(t *testing.T) {
			f := newFakeIAM(t)
			cfg := f.config()
			cfg.Endpoint = f.srv.URL + iamPrefix + suffix
			wantToken(t, f, f.source(cfg), "token-1", 1)
		})
	}
}

func TestPasswordRefreshesBeforeExpiry(t *testing.T) {
	tests := []struct {
		name          string
		lifetime      time.Duration
		refreshBefore time.Duration
		cachedUntil   time.Duration // still cached at this age
		refreshedAt   time.Duration // refreshed at this age
	}{
		{"24h token, default: a tenth of the lifetime", 24 * time.Hour, 0, 21*time.Hour + 35*time.Minute, 21*time.Hour + 37*time.Minute},
		{"30m token, default: at least 5 minutes", 30 * time.Minute, 0, 24 * time.Minute, 25*time.Minute + time.Second},
		{"4m token, default: at most half the lifetime", 4 * time.Minute, 0, 119 * time.Second, 2 * time.Minute},
		{"24h token, RefreshBefore 1h", 24 * time.Hour, time.Hour, 22*time.Hour + 59*time.Minute, 23 * time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeIAM(t)
			f.lifetime = tt.lifetime
			cfg := f.config()
			cfg.RefreshBefore = tt.refreshBefore
			p := f.source(cfg)
			wantToken(t, f, p, "token-1", 1)
			f.clock.Advance(tt.cachedUntil)
			wantToken(t, f, p, "token-1", 1)
			f.clock.Advance(tt.refreshedAt - tt.cachedUntil)
			wantToken(t, f, p, "token-2", 2)
			wantToken(t, f, p, "token-2", 2)
		})
	}
}

func TestPasswordConcurrentCallersShareOneRequest(t *testing.T) {
	f := newFakeIAM(t)
	f.gate = make(chan struct{})
	p := f.source(f.config())

	const callers = 100
	var wg sync.WaitGroup
	for range callers {
		wg.Go(func() {
			if got, err := p.Token(context.Background()); err != nil || got != "token-1" {
				t.Errorf("Token() = %q, %v; want token-1", got, err)
			}
		})
	}
	waitFor(t, func() bool { return f.requests.Load() > 0 })
	time.Sleep(10 * time.Millisecond) // let the other callers queue up
	close(f.gate)
	wg.Wait()
	if n := f.requests.Load(); n != 1 {
		t.Errorf("%d callers made %d IAM requests, want 1", callers, n)
	}
}

func TestPasswordCancelledCallerDoesNotDisturbOthers(t *testing.T) {
	f := newFakeIAM(t)
	f.gate = make(chan struct{})
	p := f.source(f.config())

	ctx, cancel := context.WithCancel(context.Background())
	impatient := make(chan error, 1)
	go func() {
		_, err := p.Token(ctx)
		impatient <- err
	}()
	waitFor(t, func() bool { return f.requests.Load() > 0 })
	patient := make(chan string, 1)
	go func() {
		got, err := p.Token(context.Background())
		if err != nil {
			t.Errorf("patient caller: %v", err)
		}
		patient <- got
	}()

	cancel()
	if err := <-impatient; !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled caller: error = %v, want context.Canceled", err)
	}
	close(f.gate)
	if got := <-patient; got != "token-1" {
		t.Errorf("patient caller got %q, want token-1", got)
	}
	wantToken(t, f, p, "token-1", 1)
}

func TestPasswordInvalidate(t *testing.T) {
	f := newFakeIAM(t)
	p := f.source(f.config())
	wantToken(t, f, p, "token-1", 1)
	p.Invalidate("some-older-token")
	wantToken(t, f, p, "token-1", 1)
	p.Invalidate("token-1")
	wantToken(t, f, p, "token-2", 2)
	p.Invalidate("token-1") // a late 401 for the replaced token
	wantToken(t, f, p, "token-2", 2)
}

func TestPasswordErrors(t *testing.T) {
	respond := func(status int, body string, header ...string) func(http.ResponseWriter) bool {
		return func(w http.ResponseWriter) bool {
			for i := 0; i+1 < len(header); i += 2 {
				w.Header().Set(header[i], header[i+1])
			}
			w.WriteHeader(status)
			io.WriteString(w, body)
			return true
		}
	}
	tests := []struct {
		name         string
		password     iam.Secret
		respond      func(http.ResponseWriter) bool
		closed       bool // IAM is unreachable
		want         string
		unauthorized bool
		temporary    bool
	}{{
		name:         "wrong password",
		password:     "wrong-" + testPassword,
		want:         `iam: authentication failed for user "alice" in domain "OTC-EU-DE-0001": the username or password is wrong (401)`,
		unauthorized: true,
	}, {
		name:      "503",
		respond:   respond(503, `{"error_code":"IAM.0002","error_msg":"System busy."}`),
		want:      `iam: get token for user "alice" in domain "OTC-EU-DE-0001": 503 Service Unavailable: System busy.`,
		temporary: true,
	}, {
		name:      "429 with a long text body",
		respond:   respond(429, strings.Repeat("slow down\n", 100)),
		want:      `429 Too Many Requests: slow down slow down`,
		temporary: true,
	}, {
		name:    "403 Keystone shape",
		respond: respond(403, `{"error":{"code":403,"message":"The user is locked.","title":"Forbidden"}}`),
		want:    `403 Forbidden: The user is locked.`,
	}, {
		name:      "body echoes the password",
		respond:   respond(500, `{"error_msg":"bad password `+testPassword+`"}`),
		want:      `500 Internal Server Error: bad password [redacted]`,
		temporary: true,
	}, {
		name:    "no X-Subject-Token",
		respond: respond(201, `{"token":{"expires_at":"2099-01-01T00:00:00Z"}}`),
		want:    `unusable answer (201 Created): no X-Subject-Token header`,
	}, {
		name:    "no expires_at",
		respond: respond(201, `{"token":{}}`, "X-Subject-Token", "tok"),
		want:    `unusable answer (201 Created): token body has no token.expires_at`,
	}, {
		name:    "expired token (clock skew)",
		respond: respond(201, `{"token":{"expires_at":"2001-01-01T00:00:00Z"}}`, "X-Subject-Token", "tok"),
		want:    `the token expires at 2001-01-01T00:00:00Z, less than 1m0s from now (clock skew?)`,
	}, {
		name:      "IAM unreachable",
		closed:    true,
		want:      `iam: get token for user "alice" in domain "OTC-EU-DE-0001": Post "http://`,
		temporary: true,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeIAM(t)
			f.respond = tt.respond
			cfg := f.config()
			if tt.password != "" {
				cfg.Password = tt.password
			}
			if tt.closed {
				f.srv.Close()
			}
			p := f.source(cfg)
			got, err := p.Token(context.Background())
			if err == nil {
				t.Fatalf("Token() = %q, want an error", got)
			}
			msg := err.Error()
			if !strings.Contains(msg, tt.want) {
				t.Errorf("error %q does not contain %q", msg, tt.want)
			}
			if strings.Contains(msg, testPassword) || strings.Contains(fmt.Sprintf("%+v", err), testPassword) {
				t.Errorf("error %q shows the password", msg)
			}
			var iamErr *iam.Error
			if !errors.As(err, &iamErr) {
				t.Fatalf("error %T is not an *iam.Error", err)
			}
			wantClass := failure.Unauthorized
			if tt.temporary {
				wantClass = failure.Unavailable
			}
			if got := failure.ClassOf(err); got != wantClass {
				t.Errorf("ClassOf = %q, want %q", got, wantClass)
			}
			if errors.Is(err, iam.ErrUnauthorized) != tt.unauthorized {
				t.Errorf("errors.Is(err, ErrUnauthorized) = %v, want %v", !tt.unauthorized, tt.unauthorized)
			}
			if len(msg) > 600 {
				t.Errorf("error is %d bytes long; IAM's message should be bounded", len(msg))
			}
		})
	}
}

func TestPasswordKeepsValidTokenWhileIAMIsDown(t *testing.T) {
	f := newFakeIAM(t)
	var down atomic.Bool
	f.respond = func(w http.ResponseWriter) bool {
		if down.Load() {
			http.Error(w, "maintenance", http.StatusServiceUnavailable)
		}
		return down.Load()
	}
	p := f.source(f.config())
	wantToken(t, f, p, "token-1", 1)

	down.Store(true)
	f.clock.Advance(22 * time.Hour) // in the refresh window, still valid
	wantToken(t, f, p, "token-1", 2)
	wantToken(t, f, p, "token-1", 2) // no new attempt right away
	f.clock.Advance(time.Minute)
	wantToken(t, f, p, "token-1", 3)

	f.clock.Advance(2 * time.Hour) // expired: the error comes through
	if _, err := p.Token(context.Background()); err == nil || !strings.Contains(err.Error(), "503") {
		t.Errorf("Token() after expiry while IAM is down: error = %v, want a 503", err)
	}

	down.Store(false)
	f.clock.Advance(time.Minute)
	wantToken(t, f, p, "token-5", 5)
}

func TestPasswordFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "password")
	if err := os.WriteFile(path, []byte(testPassword+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f := newFakeIAM(t)
	cfg := f.config()
	cfg.Password, cfg.PasswordFile = "", path
	wantToken(t, f, f.source(cfg), "token-1", 1)

	cfg.PasswordFile = filepath.Join(dir, "missing")
	_, err := f.source(cfg).Token(context.Background())
	if want := "iam: password file " + cfg.PasswordFile + ": no such file"; err == nil || err.Error() != want {
		t.Errorf("missing password file: error = %v, want %q", err, want)
	}
}

func TestNewPasswordValidates(t *testing.T) {
	tests := []struct {
		name string
		cfg  iam.PasswordConfig
		want string
	}{
		{"empty", iam.PasswordConfig{},
			"iam: invalid password config: missing Endpoint, Username, Password (or PasswordFile), DomainName, ProjectID"},
		{"bad endpoint and refresh", iam.PasswordConfig{
			Endpoint: "iam.eu-de.otc.t-systems.com", Username: "u", PasswordFile: "/p", DomainName: "d", RefreshBefore: -time.Second,
		}, `iam: invalid password config: missing ProjectID; Endpoint "iam.eu-de.otc.t-systems.com" is not an http(s) URL; RefreshBefore -1s is negative`},
		{"endpoint with query", iam.PasswordConfig{
			Endpoint: "https://iam.example/v3?x=1", Username: "u", Password: "p", DomainName: "d", ProjectID: "p",
		}, `iam: invalid password config: Endpoint "https://iam.example/v3?x=1" must not have user info, query or fragment`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := iam.NewPassword(tt.cfg)
			if err == nil || err.Error() != tt.want {
				t.Fatalf("NewPassword() = %v, %v; want error %q", p, err, tt.want)
			}
			var cerr *iam.ConfigError
			if !errors.As(err, &cerr) {
				t.Errorf("error %T is not a *ConfigError", err)
			}
		})
	}
}

func TestPasswordNeverPrintsSecrets(t *testing.T) {
	f := newFakeIAM(t)
	p := f.source(f.config())
	token, err := p.Token(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%d"} {
		got := fmt.Sprintf(verb, p)
		if strings.Contains(got, testPassword) || strings.Contains(got, token) {
			t.Errorf("Sprintf(%q, p) = %q: shows a secret", verb, got)
		}
		cfg := f.config()
		if got := fmt.Sprintf(verb, cfg); strings.Contains(got, testPassword) {
			t.Errorf("Sprintf(%q, cfg) = %q: shows the password", verb, got)
		}
	}
}

// waitFor polls cond for up to 5 seconds.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("timed out waiting")
		}
	}
}
