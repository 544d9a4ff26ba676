package cbrtest

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/restorepoint/restorepoint/iam"
)

// iamTimeLayout is how IAM writes expires_at and issued_at.
const iamTimeLayout = "2006-01-02T15:04:05.000000Z"

// issuedToken is an IAM token the emulator issued.
type issuedToken struct {
	project string
	expires time.Time
}

// authorize checks the credentials of r: the SDK-HMAC-SHA256 signature of
// a signed request (see verifySignature), else the X-Auth-Token against the
// static token and the issued IAM tokens; then the project of the token or
// keys against project. It answers 401 or 403 and reports false when the
// request may not go on.
func (e *Emulator) authorize(w http.ResponseWriter, r *http.Request, project string, body []byte) bool {
	if isSigned(r) {
		if msg := e.verifySignature(r, body); msg != "" {
			writeKeystoneError(w, http.StatusUnauthorized, msg)
			return false
		}
		if p := r.Header.Get(iam.HeaderProjectID); p != "" && p != project {
			writeError(w, http.StatusForbidden, CodeForbidden,
				"The project ID in the request URI does not match the X-Project-Id header.")
			return false
		}
		if project != e.projectID {
			writeError(w, http.StatusForbidden, CodeForbidden,
				"The project ID in the request URI is not a project of the access key's account.")
			return false
		}
		return true
	}
	e.mu.Lock()
	tokenProject, ok := e.tokenProject(r.Header.Get("X-Auth-Token"))
	e.mu.Unlock()
	if !ok {
		writeKeystoneError(w, http.StatusUnauthorized, msgUnauthorized)
		return false
	}
	if tokenProject != project {
		writeError(w, http.StatusForbidden, CodeForbidden,
			"The project ID in the request URI does not match the project of the token.")
		return false
	}
	return true
}

// tokenProject returns the project a valid token is scoped to. The caller
// holds e.mu.
func (e *Emulator) tokenProject(token string) (string, bool) {
	if token == "" {
		return "", false
	}
	if token == e.staticToken {
		return e.projectID, true
	}
	t, ok := e.tokens[token]
	if !ok {
		return "", false
	}
	if !e.now().Before(t.expires) {
		delete(e.tokens, token)
		return "", false
	}
	return t.project, true
}

// Request body of POST /v3/auth/tokens, with pointers where absence matters.
type (
	tokenRequest struct {
		Auth *tokenAuth `json:"auth"`
	}
	tokenAuth struct {
		Identity *tokenIdentity `json:"identity"`
		Scope    *tokenScope    `json:"scope"`
	}
	tokenIdentity struct {
		Methods  []string       `json:"methods"`
		Password *tokenPassword `json:"password"`
	}
	tokenPassword struct {
		User *tokenUserCredentials `json:"user"`
	}
	tokenUserCredentials struct {
		ID       string  `json:"id"`
		Name     string  `json:"name"`
		Password string  `json:"password"`
		Domain   *nameID `json:"domain"`
	}
	tokenScope struct {
		Project *nameID `json:"project"`
	}
	nameID struct {
		ID   string `json:"id,omitempty"`
		Name string `json:"name,omitempty"`
	}
)

// Response body of POST /v3/auth/tokens.
type (
	tokenResponse struct {
		Token tokenBody `json:"token"`
	}
	tokenBody struct {
		ExpiresAt string         `json:"expires_at"`
		IssuedAt  string         `json:"issued_at"`
		Methods   []string       `json:"methods"`
		Project   tokenScopeInfo `json:"project"`
		User      tokenUser      `json:"user"`
		Roles     []nameID       `json:"roles"`
		Catalog   []catalogEntry `json:"catalog,omitempty"`
	}
	tokenScopeInfo struct {
		ID     string `json:"id"`
		Name   string `json:"name"`
		Domain nameID `json:"domain"`
	}
	tokenUser struct {
		ID                string `json:"id"`
		Name              string `json:"name"`
		Domain            nameID `json:"domain"`
		PasswordExpiresAt string `json:"password_expires_at"`
	}
	catalogEntry struct {
		ID        string            `json:"id"`
		Name      string            `json:"name"`
		Type      string            `json:"type"`
		Endpoints []catalogEndpoint `json:"endpoints"`
	}
	catalogEndpoint struct {
		ID        string `json:"id"`
		Interface string `json:"interface"`
		Region    string `json:"region"`
		RegionID  string `json:"region_id"`
		URL       string `json:"url"`
	}
)

// issueToken answers POST /v3/auth/tokens: a password-method token for
// DemoUser in DemoDomain, scoped to the emulator's project by id or name.
func (e *Emulator) issueToken(w http.ResponseWriter, r *http.Request, body []byte) {
	e.mu.Lock()
	down := e.iamDown
	e.mu.Unlock()
	if down {
		writeKeystoneError(w, http.StatusServiceUnavailable, "The service is currently unavailable.")
		return
	}
	if len(body) > MaxBodyBytes {
		writeKeystoneError(w, http.StatusRequestEntityTooLarge,
			fmt.Sprintf("The request body exceeds %d bytes.", MaxBodyBytes))
		return
	}
	var req tokenRequest
	if err := json.Unmarshal(body, &req); err != nil {
		writeKeystoneError(w, http.StatusBadRequest, "The request body is not valid JSON: "+err.Error())
		return
	}
	user, msg := passwordUser(req)
	if msg != "" {
		writeKeystoneError(w, http.StatusBadRequest, msg)
		return
	}
	if !validCredentials(user) {
		writeKeystoneError(w, http.StatusUnauthorized, msgWrongPassword)
		return
	}
	scope := req.Auth.Scope
	if scope == nil || scope.Project == nil || (scope.Project.ID == "" && scope.Project.Name == "") {
		writeKeystoneError(w, http.StatusBadRequest,
			"Expecting to find scope.project.id or scope.project.name: the emulator issues project-scoped tokens only.")
		return
	}
	if p := scope.Project; p.ID != "" && p.ID != e.projectID || p.ID == "" && p.Name != DefaultProjectName {
		writeKeystoneError(w, http.StatusUnauthorized, "The user has no access to the requested project.")
		return
	}

	token := "MII" + rand.Text() + rand.Text()
	e.mu.Lock()
	issued := e.now().UTC()
	expires := issued.Add(e.tokenTTL)
	e.tokens[token] = issuedToken{project: e.projectID, expires: expires}
	e.mu.Unlock()

	domain := nameID{ID: DemoDomainID, Name: DemoDomain}
	resp := tokenResponse{Token: tokenBody{
		ExpiresAt: expires.Format(iamTimeLayout),
		IssuedAt:  issued.Format(iamTimeLayout),
		Methods:   []string{"password"},
		Project:   tokenScopeInfo{ID: e.projectID, Name: DefaultProjectName, Domain: domain},
		User:      tokenUser{ID: DemoUserID, Name: DemoUser, Domain: domain},
		Roles:     []nameID{{ID: "0c2d4e6f8a1b3c5d7e9f0a2b4c6d8e0f", Name: "te_admin"}},
	}}
	if r.URL.Query().Get("nocatalog") != "true" {
		resp.Token.Catalog = e.catalog(r)
	}
	w.Header().Set("X-Subject-Token", token)
	writeJSON(w, http.StatusCreated, resp)
}

// passwordUser returns the user credentials of a password token request, or
// the message saying what is missing.
func passwordUser(req tokenRequest) (*tokenUserCredentials, string) {
	switch {
	case req.Auth == nil:
		return nil, "Expecting to find auth in request body."
	case req.Auth.Identity == nil:
		return nil, "Expecting to find identity in auth."
	case !slices.Contains(req.Auth.Identity.Methods, "password"):
		return nil, "The emulator supports only the password authentication method: identity.methods must contain \"password\"."
	case req.Auth.Identity.Password == nil || req.Auth.Identity.Password.User == nil:
		return nil, "Expecting to find user in password."
	}
	user := req.Auth.Identity.Password.User
	switch {
	case user.ID == "" && user.Name == "":
		return nil, "Expecting to find id or name in user."
	case user.ID == "" && (user.Domain == nil || user.Domain.ID == "" && user.Domain.Name == ""):
		return nil, "Expecting to find domain in user."
	}
	return user, ""
}

// validCredentials reports whether user is DemoUser with DemoPassword.
func validCredentials(user *tokenUserCredentials) bool {
	if user.ID != "" && user.ID != DemoUserID || user.ID == "" && user.Name != DemoUser {
		return false
	}
	if d := user.Domain; d != nil && (d.ID != "" && d.ID != DemoDomainID || d.ID == "" && d.Name != DemoDomain) {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(user.Password), []byte(DemoPassword)) == 1
}

// catalog returns the service catalog of a token: the CBR endpoint, which is
// the emulator itself.
func (e *Emulator) catalog(r *http.Request) []catalogEntry {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	base := scheme + "://" + r.Host + strings.TrimSuffix(r.URL.Path, "/v3/auth/tokens")
	return []catalogEntry{{
		ID: "1a3c5e7f9b2d4f6a8c0e1a3c5e7f9b2d", Name: "cbr", Type: "cbr",
		Endpoints: []catalogEndpoint{{
			ID: "2b4d6f8a0c1e3a5c7e9b1d3f5a7c9e0b", Interface: "public",
			Region: DefaultProjectName, RegionID: DefaultProjectName,
			URL: base + "/v3/" + e.projectID,
		}},
	}}
}

// redactPassword returns an IAM token request body with every string under
// a "password" key (matched without case, like encoding/json matches) replaced
// by "[redacted]", or body itself when it holds none or is not JSON.
func redactPassword(body []byte) []byte {
	var doc any
	if json.Unmarshal(body, &doc) != nil || !redact(doc) {
		return body
	}
	b, err := json.Marshal(doc)
	if err != nil {
		return body
	}
	return b
}

// redact replaces the password strings in a decoded JSON value and reports
// whether it found any.
func redact(v any) bool {
	found := false
	switch v := v.(type) {
	case map[string]any:
		for k, child := range v {
			if _, isString := child.(string); isString && strings.EqualFold(k, "password") {
				v[k] = "[redacted]"
				found = true
			} else if redact(child) {
				found = true
			}
		}
	case []any:
		for _, child := range v {
			if redact(child) {
				found = true
			}
		}
	}
	return found
}
