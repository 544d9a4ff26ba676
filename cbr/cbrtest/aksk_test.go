package cbrtest

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/restorepoint/restorepoint/iam"
)

var (
	demoKeys      = iam.Keys{AccessKey: DemoAccessKey, SecretKey: DemoSecretKey}
	temporaryKeys = iam.Keys{AccessKey: DemoTemporaryAccessKey, SecretKey: DemoTemporarySecretKey, SecurityToken: DemoSecurityToken}
)

// signedCall sends a request signed by keys at time at over loopback;
// change, if not nil, alters the signed request before it is sent.
func signedCall(t *testing.T, s *Server, method, path, body string, keys iam.Keys, at time.Time, change func(*http.Request)) answer {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, s.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json;charset=UTF-8")
	req.Header.Set(iam.HeaderProjectID, DefaultProjectID)
	if err := keys.Sign(req, []byte(body), at); err != nil {
		t.Fatal(err)
	}
	if change != nil {
		change(req)
	}
	resp, err := s.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return answer{status: resp.StatusCode, header: resp.Header, body: b}
}

// resign replaces the Authorization of req by a correct signature of keys
// over signedHeaders, so that only the choice of signed headers is wrong.
func resign(t *testing.T, req *http.Request, body string, keys iam.Keys, signedHeaders ...string) {
	t.Helper()
	canonical, err := iam.CanonicalRequest(req, signedHeaders, []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	sig := iam.Signature(keys.SecretKey, iam.StringToSign(canonical, req.Header.Get(iam.HeaderSdkDate)))
	req.Header.Set("Authorization", iam.Authorization{AccessKey: keys.AccessKey, SignedHeaders: signedHeaders, Signature: sig}.String())
}

func TestSignedRequestsAccepted(t *testing.T) {
	clk := newClock()
	s := start(t, Options{Now: clk.Now})

	a := signedCall(t, s, http.MethodPost, checkpointsPath, pageRequest, demoKeys, clk.Now(), nil)
	cp := checkpointOf(t, a)
	reqs := s.Requests()
	if got := reqs[len(reqs)-1]; got.AccessKey != DemoAccessKey || got.HasToken {
		t.Errorf("recorded AccessKey %q, HasToken %v", got.AccessKey, got.HasToken)
	}

	// A GET with a query, by temporary keys, within the allowed skew.
	for _, at := range []time.Time{clk.Now().Add(-MaxClockSkew + time.Second), clk.Now().Add(MaxClockSkew - time.Second)} {
		a = signedCall(t, s, http.MethodGet, checkpointsPath+"/"+cp.ID+"?b=2&a=x+y&a=%2F", "", temporaryKeys, at, nil)
		if a.status != http.StatusOK {
			t.Errorf("signed GET at %v: status %d, body %s", at, a.status, a.body)
		}
	}
	if s.CountCreates() != 1 {
		t.Errorf("CountCreates = %d", s.CountCreates())
	}
}

func TestSignedRequestsRefused(t *testing.T) {
	clk := newClock()
	s := start(t, Options{Now: clk.Now})
	now := clk.Now()
	body := pageRequest

	tests := []struct {
		name    string
		keys    iam.Keys
		at      time.Time
		change  func(*http.Request)
		wantMsg string
	}{
		{"wrong secret key", iam.Keys{AccessKey: DemoAccessKey, SecretKey: "not-the-secret"}, now, nil,
			"verify aksk signature fail"},
		{"unknown access key", iam.Keys{AccessKey: "UNKNOWNACCESSKEY0001", SecretKey: DemoSecretKey}, now, nil,
			"the access key is unknown"},
		{"body changed after signing", demoKeys, now, func(r *http.Request) {
			r.Body = io.NopCloser(strings.NewReader(strings.Replace(body, "{", "{ ", 1)))
			r.ContentLength++
		}, "verify aksk signature fail"},
		{"path changed after signing", demoKeys, now, func(r *http.Request) {
			r.URL.Path = "/prefix" + r.URL.Path // still routed: any prefix before /v3 is accepted
		}, "verify aksk signature fail"},
		{"signed header changed after signing", demoKeys, now, func(r *http.Request) {
			r.Header.Set("Content-Type", "application/json")
		}, "verify aksk signature fail"},
		{"date more than 15 minutes behind", demoKeys, now.Add(-MaxClockSkew - time.Second), nil,
			"is more than 15m0s off the server's time 20190510T075912Z"},
		{"date more than 15 minutes ahead", demoKeys, now.Add(MaxClockSkew + time.Second), nil,
			"is more than 15m0s off"},
		{"date malformed", demoKeys, now, func(r *http.Request) {
			r.Header.Set(iam.HeaderSdkDate, "2019-05-10T07:59:12Z")
			resign(t, r, body, demoKeys, "content-type", "host", "x-sdk-date")
		}, `X-Sdk-Date "2019-05-10T07:59:12Z" is not a UTC time like 20060102T150405Z`},
		{"date missing", demoKeys, now, func(r *http.Request) {
			r.Header.Del(iam.HeaderSdkDate)
		}, "the X-Sdk-Date header is missing"},
		{"date sent but not signed", demoKeys, now, func(r *http.Request) {
			resign(t, r, body, demoKeys, "content-type", "host")
		}, "the X-Sdk-Date header is sent but not signed (SignedHeaders=content-type;host)"},
		{"security token sent but not signed", temporaryKeys, now, func(r *http.Request) {
			resign(t, r, body, temporaryKeys, "host", "x-sdk-date")
		}, "the X-Security-Token header is sent but not signed"},
		{"temporary keys without security token", temporaryKeys, now, func(r *http.Request) {
			r.Header.Del(iam.HeaderSecurityToken)
			resign(t, r, body, temporaryKeys, "host", "x-sdk-date")
		}, "temporary access keys need the X-Security-Token header"},
		{"wrong security token", iam.Keys{AccessKey: DemoTemporaryAccessKey, SecretKey: DemoTemporarySecretKey, SecurityToken: "old-token"}, now, nil,
			"the security token is invalid or expired"},
		{"security token with permanent keys", iam.Keys{AccessKey: DemoAccessKey, SecretKey: DemoSecretKey, SecurityToken: DemoSecurityToken}, now, nil,
			"an X-Security-Token is sent with permanent access keys"},
		{"malformed authorization", demoKeys, now, func(r *http.Request) {
			r.Header.Set("Authorization", iam.SigningAlgorithm+" Access="+DemoAccessKey+", Signature=00")
		}, "SignedHeaders missing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := signedCall(t, s, http.MethodPost, checkpointsPath, body, tt.keys, tt.at, tt.change)
			if a.status != http.StatusUnauthorized {
				t.Fatalf("status %d, want 401; body %s", a.status, a.body)
			}
			code, msg := errorOf(t, a.body)
			if code != "keystone:401" || !strings.Contains(msg, tt.wantMsg) {
				t.Errorf("error %s %q, want keystone:401 saying %q", code, msg, tt.wantMsg)
			}
			for _, secret := range []string{DemoSecretKey, DemoTemporarySecretKey, DemoSecurityToken} {
				if strings.Contains(string(a.body), secret) {
					t.Errorf("answer shows a secret: %s", a.body)
				}
			}
		})
	}
	if n := s.CountCreates(); n != 0 {
		t.Errorf("CountCreates = %d after refused requests", n)
	}
}

func TestSignedRequestProjects(t *testing.T) {
	s := start(t, Options{})
	a := signedCall(t, s, http.MethodPost, checkpointsPath, pageRequest, demoKeys, time.Now(), func(r *http.Request) {
		r.Header.Set(iam.HeaderProjectID, "another")
		resign(t, r, pageRequest, demoKeys, "content-type", "host", "x-project-id", "x-sdk-date")
	})
	if code, _ := errorOf(t, a.body); a.status != http.StatusForbidden || code != CodeForbidden {
		t.Errorf("X-Project-Id other than the path: status %d, body %s", a.status, a.body)
	}
	a = signedCall(t, s, http.MethodPost, "/v3/another/checkpoints", pageRequest, demoKeys, time.Now(), func(r *http.Request) {
		r.Header.Del(iam.HeaderProjectID)
		resign(t, r, pageRequest, demoKeys, "content-type", "host", "x-sdk-date")
	})
	if code, _ := errorOf(t, a.body); a.status != http.StatusForbidden || code != CodeForbidden {
		t.Errorf("path project of another account: status %d, body %s", a.status, a.body)
	}
}

func TestSetAccessKeyRotation(t *testing.T) {
	s := start(t, Options{})
	newKeys := iam.Keys{AccessKey: "ROTATEDACCESSKEY0001", SecretKey: "rotated-secret"}
	s.SetAccessKey(newKeys.AccessKey, newKeys.SecretKey.Reveal())
	if a := signedCall(t, s, http.MethodPost, checkpointsPath, pageRequest, demoKeys, time.Now(), nil); a.status != http.StatusUnauthorized {
		t.Errorf("old keys after rotation: status %d", a.status)
	}
	if a := signedCall(t, s, http.MethodPost, checkpointsPath, pageRequest, newKeys, time.Now(), nil); a.status != http.StatusOK {
		t.Errorf("new keys: status %d, body %s", a.status, a.body)
	}
	s.Reset()
	if a := signedCall(t, s, http.MethodPost, checkpointsPath, pageRequest, demoKeys, time.Now(), nil); a.status != http.StatusOK {
		t.Errorf("demo keys after Reset: status %d, body %s", a.status, a.body)
	}
	// Tokens still work alongside keys.
	if a := create(t, s, pageRequest); a.status != http.StatusOK {
		t.Errorf("token after keys: status %d", a.status)
	}
}

// FuzzSignedRequest sends arbitrary Authorization and X-Sdk-Date headers,
// path suffixes and queries: the emulator must never panic, and a refusal
// of the credentials is a 401 in the Keystone shape.
func FuzzSignedRequest(f *testing.F) {
	f.Add("SDK-HMAC-SHA256 Access="+DemoAccessKey+", SignedHeaders=host;x-sdk-date, Signature=00", "20190510T075912Z", "", "a=1&b")
	f.Add("SDK-HMAC-SHA256 ", "", "/%zz", "%g")
	f.Add("SDK-HMAC-SHA256 Access=A,SignedHeaders=;,Signature=", "x", "/../", "=&=")
	f.Fuzz(func(t *testing.T, authorization, date, suffix, query string) {
		clk := newClock()
		e := New(Options{Now: clk.Now})
		req := httptest.NewRequest(http.MethodPost, checkpointsPath, strings.NewReader(pageRequest))
		req.URL = &url.URL{Path: checkpointsPath + suffix, RawQuery: query}
		req.Header.Set("Authorization", authorization)
		req.Header.Set(iam.HeaderSdkDate, date)
		w := httptest.NewRecorder()
		e.ServeHTTP(w, req)
		if w.Code == http.StatusUnauthorized {
			var body keystoneError
			if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || body.Error.Code != 401 || body.Error.Message == "" {
				t.Fatalf("401 with body %s", w.Body)
			}
		}
	})
}
