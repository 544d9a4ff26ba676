// Package iamtest holds stand-ins for the services iam reads credentials
// from, for tests and dev tools; it is never linked into the deployed
// bootstrap.
package iamtest

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
)

// Extension is a stand-in for the AWS Parameters and Secrets Lambda
// Extension: it answers GET /secretsmanager/get?secretId=<name or ARN>
// carrying the X-Aws-Parameters-Secrets-Token header with GetSecretValue's
// JSON, a missing or wrong session token with 401, an unknown secret with
// 400 ResourceNotFoundException, as the extension does.
type Extension struct {
	// SessionToken is the AWS_SESSION_TOKEN the extension wants.
	SessionToken string
	// SecretName and SecretARN identify the one secret it holds.
	SecretName, SecretARN string

	mu       sync.Mutex
	secret   string // SecretString
	failures []int  // statuses answered before the secret, one per request
	requests atomic.Int32
}

// NewExtension returns an extension holding secretString under name (and
// an ARN made from it) for sessionToken.
func NewExtension(sessionToken, name, secretString string) *Extension {
	return &Extension{
		SessionToken: sessionToken,
		SecretName:   name,
		SecretARN:    "arn:aws:secretsmanager:eu-central-1:123456789012:secret:" + name + "-AbCdEf",
		secret:       secretString,
	}
}

// Set replaces the SecretString, as a rotation does.
func (x *Extension) Set(secretString string) {
	x.mu.Lock()
	x.secret = secretString
	x.mu.Unlock()
}

// Fail makes the next requests answer these statuses, one each, before
// the secret is served again (a cold-start burst answers 400).
func (x *Extension) Fail(statuses ...int) {
	x.mu.Lock()
	x.failures = append(x.failures, statuses...)
	x.mu.Unlock()
}

// Requests returns how many requests the extension received.
func (x *Extension) Requests() int { return int(x.requests.Load()) }

// ServeHTTP answers as the extension does.
func (x *Extension) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	x.requests.Add(1)
	if r.Method != http.MethodGet || r.URL.Path != "/secretsmanager/get" {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	if r.Header.Get("X-Aws-Parameters-Secrets-Token") != x.SessionToken {
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
	if id := r.URL.Query().Get("secretId"); id != x.SecretName && id != x.SecretARN {
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, `{"__type":"ResourceNotFoundException","message":"Secrets Manager can't find the specified secret."}`)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"ARN": x.SecretARN, "Name": x.SecretName, "VersionId": "a1b2c3d4-5678-90ab-cdef-EXAMPLE11111",
		"SecretString": secret, "VersionStages": []string{"AWSCURRENT"}, "CreatedDate": "2024-01-01T00:00:00.000Z",
	})
}

// Start serves x on a loopback port, as the extension listens on
// localhost, and returns the port and a function that stops it.
func (x *Extension) Start() (port int, stop func()) {
	srv := httptest.NewServer(x)
	_, p, _ := net.SplitHostPort(srv.Listener.Addr().String())
	port, _ = strconv.Atoi(p)
	return port, srv.Close
}
