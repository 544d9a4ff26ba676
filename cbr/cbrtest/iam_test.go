package cbrtest

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestIssueToken(t *testing.T) {
	clk := newClock()
	s := start(t, Options{Now: clk.Now, TokenTTL: time.Hour})

	a := call(t, s, http.MethodPost, "/v3/auth/tokens", "", iamBody(DemoUser, DemoPassword, DemoDomain, DefaultProjectID))
	if a.status != http.StatusCreated {
		t.Fatalf("status %d, body %s", a.status, a.body)
	}
	token := a.header.Get("X-Subject-Token")
	if len(token) < 32 {
		t.Errorf("X-Subject-Token %q is too short to be random", token)
	}
	var body struct {
		Token struct {
			ExpiresAt string   `json:"expires_at"`
			IssuedAt  string   `json:"issued_at"`
			Methods   []string `json:"methods"`
			Project   struct{ ID, Name string }
			User      struct{ ID, Name string }
			Catalog   []struct {
				Type      string
				Endpoints []struct{ URL string }
			}
		}
	}
	if err := json.Unmarshal(a.body, &body); err != nil {
		t.Fatal(err)
	}
	tok := body.Token
	if tok.IssuedAt != "2019-05-10T07:59:12.733000Z" || tok.ExpiresAt != "2019-05-10T08:59:12.733000Z" {
		t.Errorf("issued_at %q, expires_at %q", tok.IssuedAt, tok.ExpiresAt)
	}
	if len(tok.Methods) != 1 || tok.Methods[0] != "password" || tok.Project.ID != DefaultProjectID ||
		tok.Project.Name != DefaultProjectName || tok.User.Name != DemoUser {
		t.Errorf("token body %+v", tok)
	}
	if len(tok.Catalog) != 1 || tok.Catalog[0].Type != "cbr" ||
		tok.Catalog[0].Endpoints[0].URL != s.URL+"/v3/"+DefaultProjectID {
		t.Errorf("catalog %+v, want the emulator as CBR endpoint", tok.Catalog)
	}

	// The token works for CBR until it expires.
	if a := call(t, s, http.MethodPost, checkpointsPath, token, pageRequest); a.status != http.StatusOK {
		t.Errorf("create with IAM token: status %d, body %s", a.status, a.body)
	}
	clk.Advance(time.Hour - time.Millisecond)
	if a := call(t, s, http.MethodGet, checkpointsPath+"/x", token, ""); a.status != http.StatusNotFound {
		t.Errorf("just before expiry: status %d, want 404 (authenticated)", a.status)
	}
	clk.Advance(time.Millisecond)
	if a := call(t, s, http.MethodPost, checkpointsPath, token, pageRequest); a.status != http.StatusUnauthorized {
		t.Errorf("after expiry: status %d, want 401", a.status)
	}
	if a := create(t, s, pageRequest); a.status != http.StatusOK {
		t.Errorf("static token after IAM token expiry: status %d", a.status)
	}
	if n := s.IAMTokenRequests(); n != 1 {
		t.Errorf("IAMTokenRequests = %d, want 1", n)
	}
}

func TestIssueTokenNoCatalogAndScopeByName(t *testing.T) {
	s := start(t, Options{})
	body := strings.Replace(iamBody(DemoUser, DemoPassword, DemoDomain, ""), `"id":""`, `"name":"`+DefaultProjectName+`"`, 1)
	a := call(t, s, http.MethodPost, "/iam/v3/auth/tokens?nocatalog=true", "", body)
	if a.status != http.StatusCreated {
		t.Fatalf("status %d, body %s", a.status, a.body)
	}
	if strings.Contains(string(a.body), "catalog") {
		t.Errorf("nocatalog=true answered a catalog: %s", a.body)
	}
}

func TestIssueTokenErrors(t *testing.T) {
	s := start(t, Options{})
	tests := []struct {
		name       string
		body       string
		wantStatus int
		wantInMsg  string
	}{
		{"wrong password", iamBody(DemoUser, "guess-"+DemoPassword, DemoDomain, DefaultProjectID), 401, msgWrongPassword},
		{"empty password", iamBody(DemoUser, "", DemoDomain, DefaultProjectID), 401, msgWrongPassword},
		{"wrong user", iamBody("admin", DemoPassword, DemoDomain, DefaultProjectID), 401, msgWrongPassword},
		{"wrong domain", iamBody(DemoUser, DemoPassword, "other-domain", DefaultProjectID), 401, msgWrongPassword},
		{"other project", iamBody(DemoUser, DemoPassword, DemoDomain, "0123456789abcdef0123456789abcdef"), 401, "no access"},
		{"no scope", `{"auth":{"identity":{"methods":["password"],"password":{"user":{"name":"demo","password":"demo-password","domain":{"name":"demo-domain"}}}}}}`, 400, "scope"},
		{"no domain", `{"auth":{"identity":{"methods":["password"],"password":{"user":{"name":"demo","password":"demo-password"}}}}}`, 400, "domain"},
		{"no user", `{"auth":{"identity":{"methods":["password"],"password":{}}}}`, 400, "user"},
		{"assume_role", `{"auth":{"identity":{"methods":["assume_role"]}}}`, 400, "password"},
		{"no identity", `{"auth":{}}`, 400, "identity"},
		{"no auth", `{}`, 400, "auth"},
		{"not JSON", `auth=demo`, 400, "not valid JSON"},
		{"too large", strings.Repeat(" ", MaxBodyBytes+1), 413, "exceeds"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := call(t, s, http.MethodPost, "/v3/auth/tokens", "", tt.body)
			if a.status != tt.wantStatus {
				t.Fatalf("status %d, want %d; body %s", a.status, tt.wantStatus, a.body)
			}
			code, msg := errorOf(t, a.body)
			if want := "keystone:" + strconv.Itoa(tt.wantStatus); code != want {
				t.Errorf("code %q, want %q", code, want)
			}
			if !strings.Contains(msg, tt.wantInMsg) {
				t.Errorf("message %q does not contain %q", msg, tt.wantInMsg)
			}
			if strings.Contains(string(a.body), DemoPassword) {
				t.Errorf("answer echoes the password: %s", a.body)
			}
			if a.header.Get("X-Subject-Token") != "" {
				t.Error("error answer carries a token")
			}
		})
	}
	if got, want := s.IAMTokenRequests(), len(tests); got != want {
		t.Errorf("IAMTokenRequests = %d, want %d", got, want)
	}
}

func TestIAMDown(t *testing.T) {
	s := start(t, Options{})
	s.SetIAMDown(true)
	a := call(t, s, http.MethodPost, "/v3/auth/tokens", "", iamBody(DemoUser, DemoPassword, DemoDomain, DefaultProjectID))
	if code, _ := errorOf(t, a.body); a.status != http.StatusServiceUnavailable || code != "keystone:503" {
		t.Errorf("IAM down: status %d, code %s", a.status, code)
	}
	if a := create(t, s, pageRequest); a.status != http.StatusOK {
		t.Errorf("CBR while IAM is down: status %d", a.status)
	}
	s.SetIAMDown(false)
	issue(t, s)
	if n := s.IAMTokenRequests(); n != 2 {
		t.Errorf("IAMTokenRequests = %d, want 2", n)
	}
}

func TestRevokeTokens(t *testing.T) {
	s := start(t, Options{AvailableAfter: -1})
	old := issue(t, s)
	for _, token := range []string{DefaultToken, old} {
		if a := call(t, s, http.MethodPost, checkpointsPath, token, pageRequest); a.status != http.StatusOK {
			t.Fatalf("before revocation: token %q: status %d", token, a.status)
		}
	}

	s.RevokeTokens()
	for _, token := range []string{DefaultToken, old} {
		a := call(t, s, http.MethodPost, checkpointsPath, token, pageRequest)
		if code, _ := errorOf(t, a.body); a.status != http.StatusUnauthorized || code != "keystone:401" {
			t.Errorf("after revocation: token %q: status %d, code %s", token, a.status, code)
		}
	}

	// The 401 -> new token -> retry path works.
	fresh := issue(t, s)
	if a := call(t, s, http.MethodPost, checkpointsPath, fresh, pageRequest); a.status != http.StatusOK {
		t.Errorf("new IAM token after revocation: status %d", a.status)
	}
	if a := create(t, s, pageRequest); a.status != http.StatusUnauthorized {
		t.Errorf("static token after revocation and a new IAM token: status %d, want 401", a.status)
	}
	s.SetToken(DefaultToken)
	if a := create(t, s, pageRequest); a.status != http.StatusOK {
		t.Errorf("static token after SetToken: status %d", a.status)
	}
}
