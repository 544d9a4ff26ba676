package iam_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/restorepoint/restorepoint/iam"
)

const (
	sessionToken = "session-token-value"
	secretName   = "restorepoint/credentials"
	secretARN    = "arn:aws:secretsmanager:eu-central-1:123456789012:secret:" + secretName + "-AbCdEf"
)

// extension is a stand-in for the AWS Parameters and Secrets Lambda
// Extension: GET /secretsmanager/get?secretId=<name or ARN> with the session
// token header, answering GetSecretValue's JSON.
type extension struct {
	mu       sync.Mutex
	secret   string // SecretString
	failures []int  // statuses answered before the secret, one per request
	requests atomic.Int32
}

func (x *extension) set(secret string) {
	x.mu.Lock()
	x.secret = secret
	x.mu.Unlock()
}

func (x *extension) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	x.requests.Add(1)
	if r.Method != http.MethodGet || r.URL.Path != "/secretsmanager/get" {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	if r.Header.Get("X-Aws-Parameters-Secrets-Token") != sessionToken {
		http.Error(w, "missing or invalid X-Aws-Parameters-Secrets-Token", http.StatusUnauthorized)
		return
	}
	x.mu.Lock()
	var status int
	if len(x.failures) > 0 {
		status, x.failures = x.failures[0], x.failures[1:]
	}
	secret := x.secret
	x.mu.Unlock()
	if status != 0 {
		http.Error(w, "extension not ready", status)
		return
	}
	if id := r.URL.Query().Get("secretId"); id != secretName && id != secretARN {
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, `{"__type":"ResourceNotFoundException","message":"Secrets Manager can't find the specified secret."}`)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"ARN": secretARN, "Name": secretName, "VersionId": "a1b2c3d4-5678-90ab-cdef-EXAMPLE11111",
		"SecretString": secret, "VersionStages": []string{"AWSCURRENT"}, "CreatedDate": "2024-01-01T00:00:00.000Z",
	})
}

// startExtension serves x on a loopback port and returns the port.
func startExtension(t *testing.T, x http.Handler) int {
	t.Helper()
	srv := httptest.NewServer(x)
	t.Cleanup(srv.Close)
	_, port, err := net.SplitHostPort(srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	p, _ := strconv.Atoi(port)
	return p
}

func newExtensionSource(t *testing.T, cfg iam.SecretsExtensionConfig) *iam.SecretsExtension {
	t.Helper()
	if cfg.SecretID == "" {
		cfg.SecretID = secretARN
	}
	if cfg.SessionToken == "" {
		cfg.SessionToken = sessionToken
	}
	if cfg.Backoff == 0 {
		cfg.Backoff = time.Millisecond
	}
	s, err := iam.NewSecretsExtension(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSecretsExtensionKinds(t *testing.T) {
	for _, tc := range []struct {
		name, secret string
		want         iam.Credentials
	}{
		{"keys", `{"access_key":"AK1","secret_key":"sk-value","webhook_secret":"hook-value"}`,
			iam.Credentials{Kind: iam.CredentialKeys, Keys: iam.Keys{AccessKey: "AK1", SecretKey: "sk-value"}, WebhookSecret: "hook-value"}},
		{"temporary keys", `{"access_key":"AK1","secret_key":"sk-value","security_token":"tok-value"}`,
			iam.Credentials{Kind: iam.CredentialKeys, Keys: iam.Keys{AccessKey: "AK1", SecretKey: "sk-value", SecurityToken: "tok-value"}}},
		{"password", `{"username":"u","password":"pw-value","domain_name":"d","extra":1}`,
			iam.Credentials{Kind: iam.CredentialPassword, Username: "u", Password: "pw-value", DomainName: "d"}},
		{"token", `{"token":"tok-value","webhook_secret":null}`,
			iam.Credentials{Kind: iam.CredentialToken, Token: "tok-value"}},
		{"keys win", `{"token":"tok-value","access_key":"AK1","secret_key":"sk-value"}`,
			iam.Credentials{Kind: iam.CredentialKeys, Keys: iam.Keys{AccessKey: "AK1", SecretKey: "sk-value"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x := &extension{secret: tc.secret}
			s := newExtensionSource(t, iam.SecretsExtensionConfig{Port: startExtension(t, x)})
			got, err := s.Credentials(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("Credentials() = %+v (%q %q %q)\nwant %+v", got, got.Keys.SecretKey.Reveal(), got.Password.Reveal(), got.Token.Reveal(), tc.want)
			}
			out := fmt.Sprintf("%v %+v %s %v", got, got, got, s)
			for _, secret := range []string{"sk-value", "pw-value", "tok-value", "hook-value", sessionToken} {
				if strings.Contains(out, secret) {
					t.Errorf("printing shows %s: %s", secret, out)
				}
			}
		})
	}
}

func TestSecretsExtensionUnusableSecrets(t *testing.T) {
	secretValues := []string{"sk-value", "pw-value", "tok-value", "AK/1"}
	for _, tc := range []struct{ name, secret, want string }{
		{"nothing", `{"webhook_secret":"x","security_token":"tok-value"}`,
			`iam: secret "` + secretARN + `": JSON has neither access_key/secret_key, username/password/domain_name nor token`},
		{"no secret key", `{"access_key":"AK1"}`, "JSON has access_key but no secret_key"},
		{"no access key", `{"secret_key":"sk-value"}`, "JSON has secret_key but no access_key"},
		{"password incomplete", `{"password":"pw-value"}`, "JSON has password but no username, domain_name"},
		{"malformed access key", `{"access_key":"AK/1","secret_key":"sk-value"}`, "the access key is malformed"},
		{"not a string", `{"access_key":"AK1","secret_key":7}`, "field secret_key is not a string"},
		{"not JSON", `sk-value`, "SecretString is not a JSON object"},
		{"JSON array", `["sk-value"]`, "SecretString is not a JSON object"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x := &extension{secret: tc.secret}
			s := newExtensionSource(t, iam.SecretsExtensionConfig{Port: startExtension(t, x)})
			_, err := s.Credentials(t.Context())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Credentials() error = %v, want %q", err, tc.want)
			}
			for _, v := range secretValues {
				if strings.Contains(err.Error(), v) {
					t.Errorf("error shows %q: %v", v, err)
				}
			}
			var se *iam.SecretError
			if !errors.As(err, &se) || se.Temporary() {
				t.Errorf("error %#v: want a permanent *SecretError", err)
			}
			if n := x.requests.Load(); n != 1 {
				t.Errorf("%d requests for a permanent problem, want 1", n)
			}
		})
	}
}

func TestSecretsExtensionCacheAndInvalidate(t *testing.T) {
	x := &extension{secret: `{"access_key":"AK1","secret_key":"sk-one"}`}
	s := newExtensionSource(t, iam.SecretsExtensionConfig{Port: startExtension(t, x)})
	ctx := t.Context()
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if k, err := s.Keys(ctx); err != nil || k.SecretKey != "sk-one" {
				t.Errorf("Keys() = %v, %v", k, err)
			}
		})
	}
	wg.Wait()
	if n := x.requests.Load(); n != 1 {
		t.Errorf("%d requests for concurrent callers, want 1", n)
	}

	x.set(`{"access_key":"AK2","secret_key":"sk-two"}`) // rotated
	if k, _ := s.Keys(ctx); k.AccessKey != "AK1" {
		t.Errorf("read again without Invalidate")
	}
	s.InvalidateKeys("AK1")
	if k, err := s.Keys(ctx); err != nil || k.AccessKey != "AK2" || k.SecretKey != "sk-two" {
		t.Errorf("after InvalidateKeys: Keys() = %v, %v", k, err)
	}
	if n := x.requests.Load(); n != 2 {
		t.Errorf("%d requests, want 2", n)
	}

	// Another kind than asked for.
	if _, err := s.Token(ctx); err == nil || !strings.Contains(err.Error(), "holds access keys, not a token") {
		t.Errorf("Token() on keys: %v", err)
	}
	x.set(`{"token":"tok-value"}`)
	s.Invalidate("")
	if tok, err := s.Token(ctx); err != nil || tok != "tok-value" {
		t.Errorf("Token() = %q, %v", tok, err)
	}
	if _, err := s.Keys(ctx); err == nil || !strings.Contains(err.Error(), "holds a token, not access keys") {
		t.Errorf("Keys() on a token: %v", err)
	}
}

func TestSecretsExtensionMaxAge(t *testing.T) {
	x := &extension{secret: `{"token":"one"}`}
	now := time.Unix(1700000000, 0)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	s := newExtensionSource(t, iam.SecretsExtensionConfig{Port: startExtension(t, x), MaxAge: time.Minute, Now: clock})
	if tok, _ := s.Token(t.Context()); tok != "one" {
		t.Fatal(tok)
	}
	x.set(`{"token":"two"}`)
	mu.Lock()
	now = now.Add(time.Minute)
	mu.Unlock()
	if tok, _ := s.Token(t.Context()); tok != "two" {
		t.Errorf("after MaxAge Token() = %q", tok)
	}
}

func TestSecretsExtensionRetries(t *testing.T) {
	t.Run("cold start 400 and 5xx", func(t *testing.T) {
		x := &extension{secret: `{"token":"tok-value"}`, failures: []int{400, 503, 500}}
		s := newExtensionSource(t, iam.SecretsExtensionConfig{Port: startExtension(t, x)})
		if tok, err := s.Token(t.Context()); err != nil || tok != "tok-value" {
			t.Fatalf("Token() = %q, %v", tok, err)
		}
		if n := x.requests.Load(); n != 4 {
			t.Errorf("%d requests, want 4", n)
		}
	})
	t.Run("gives up after Attempts", func(t *testing.T) {
		x := &extension{secret: `{"token":"tok-value"}`, failures: []int{500, 500, 500, 500}}
		s := newExtensionSource(t, iam.SecretsExtensionConfig{Port: startExtension(t, x), Attempts: 3})
		_, err := s.Token(t.Context())
		var se *iam.SecretError
		if !errors.As(err, &se) || !se.Temporary() || se.StatusCode != 500 || se.Attempts != 3 ||
			!strings.Contains(err.Error(), "the Parameters and Secrets extension answered 500 Internal Server Error: extension not ready (after 3 attempts)") {
			t.Fatalf("Token() error = %v", err)
		}
	})
	t.Run("connection refused", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		s := newExtensionSource(t, iam.SecretsExtensionConfig{Port: port, Attempts: 2})
		_, err = s.Credentials(t.Context())
		var se *iam.SecretError
		if !errors.As(err, &se) || !se.Temporary() || se.Attempts != 2 ||
			!strings.Contains(err.Error(), "the Parameters and Secrets extension cannot be reached") {
			t.Fatalf("Credentials() error = %v", err)
		}
	})
	t.Run("bounded by the context", func(t *testing.T) {
		x := &extension{secret: `{"token":"tok-value"}`, failures: []int{503, 503, 503, 503}}
		s := newExtensionSource(t, iam.SecretsExtensionConfig{Port: startExtension(t, x), Backoff: time.Hour})
		ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
		defer cancel()
		start := time.Now()
		if _, err := s.Credentials(ctx); err == nil {
			t.Fatal("no error")
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("took %v despite the context", d)
		}
	})
	t.Run("permanent refusals are not retried", func(t *testing.T) {
		for _, tc := range []struct {
			id, token, want string
		}{
			{"unknown-secret", sessionToken, "answered 400 Bad Request: {\"__type\":\"ResourceNotFoundException\""},
			{secretName, "wrong-session", "answered 401 Unauthorized"},
		} {
			x := &extension{secret: `{"token":"tok-value"}`}
			s := newExtensionSource(t, iam.SecretsExtensionConfig{Port: startExtension(t, x), SecretID: tc.id, SessionToken: iam.Secret(tc.token)})
			_, err := s.Credentials(t.Context())
			var se *iam.SecretError
			if !errors.As(err, &se) || se.Temporary() || !strings.Contains(err.Error(), tc.want) || x.requests.Load() != 1 {
				t.Errorf("secret %s: error = %v after %d requests", tc.id, err, x.requests.Load())
			}
			if strings.Contains(err.Error(), "wrong-session") {
				t.Errorf("error shows the session token: %v", err)
			}
		}
	})
}

func TestNewSecretsExtensionProblems(t *testing.T) {
	_, err := iam.NewSecretsExtension(iam.SecretsExtensionConfig{Port: 70000})
	want := "iam: invalid secrets extension config: no secret id; no session token (the extension wants the function's AWS_SESSION_TOKEN); port 70000 is out of range"
	if err == nil || err.Error() != want {
		t.Errorf("error = %v\nwant %s", err, want)
	}
}
