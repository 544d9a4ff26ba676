package cbrtest

import (
	"crypto/hmac"
	"crypto/subtle"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/restorepoint/restorepoint/iam"
)

// Access keys the CBR endpoints accept besides tokens: requests signed with
// the SDK-HMAC-SHA256 algorithm (see [iam.Keys.Sign]).
const (
	// DemoAccessKey and DemoSecretKey are the permanent key pair (AK/SK) of
	// the emulated account; SetAccessKey replaces them.
	DemoAccessKey = "DEMOACCESSKEY0000001"
	DemoSecretKey = "demo-secret-key"
	// DemoTemporaryAccessKey and DemoTemporarySecretKey are a temporary key
	// pair: requests signed with them must send and sign X-Security-Token
	// with DemoSecurityToken.
	DemoTemporaryAccessKey = "DEMOTEMPORARYAK00001"
	DemoTemporarySecretKey = "demo-temporary-secret-key"
	DemoSecurityToken      = "demo-security-token"

	// MaxClockSkew is how far X-Sdk-Date may be off the emulator's clock,
	// either way, as on the real API gateway.
	MaxClockSkew = 15 * time.Minute
)

// Messages of the 401 answers to signed requests. The first is the real
// gateway's; the others say more than it does, for a developer's sake.
const (
	msgSignatureMismatch = "Incorrect IAM authentication information: verify aksk signature fail (the signature does not match the request: method, path, query, signed headers or body differ from what was signed, or the secret key is wrong)"
	msgUnknownAccessKey  = "Incorrect IAM authentication information: the access key is unknown"
)

// signingKey is an access key the emulator knows.
type signingKey struct {
	secret        string
	securityToken string // "" for permanent keys
}

// SetAccessKey makes accessKey and secretKey the permanent key pair the CBR
// endpoints accept instead of the current one, as a key rotation does; ""
// for accessKey disables it. Reset restores DemoAccessKey. The temporary
// pair is not affected.
func (e *Emulator) SetAccessKey(accessKey, secretKey string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.accessKey, e.secretKey = accessKey, secretKey
}

// lookupKey returns the key with accessKey. The caller holds e.mu.
func (e *Emulator) lookupKey(accessKey string) (signingKey, bool) {
	switch {
	case accessKey == "":
		return signingKey{}, false
	case accessKey == e.accessKey:
		return signingKey{secret: e.secretKey}, true
	case accessKey == DemoTemporaryAccessKey:
		return signingKey{secret: DemoTemporarySecretKey, securityToken: DemoSecurityToken}, true
	}
	return signingKey{}, false
}

// isSigned reports whether r carries an SDK-HMAC-SHA256 Authorization header.
func isSigned(r *http.Request) bool {
	return strings.HasPrefix(r.Header.Get("Authorization"), iam.SigningAlgorithm)
}

// verifySignature checks the SDK-HMAC-SHA256 signature of r over exactly
// what arrived: method, escaped path, raw query, the headers it names as
// signed (host from the request line) and body. It returns the message of
// the 401 to answer, or "" when the signature is good. It also rejects a
// request that sends X-Sdk-Date or X-Security-Token without signing it and
// a date more than MaxClockSkew off the emulator's clock.
func (e *Emulator) verifySignature(r *http.Request, body []byte) string {
	auth, err := iam.ParseAuthorization(r.Header.Get("Authorization"))
	if err != nil {
		return "Incorrect IAM authentication information: " + strings.TrimPrefix(err.Error(), "iam: ")
	}
	date := r.Header.Get(iam.HeaderSdkDate)
	if _, sent := r.Header[http.CanonicalHeaderKey(iam.HeaderSdkDate)]; !sent {
		return "Incorrect IAM authentication information: the X-Sdk-Date header is missing"
	}
	for _, name := range []string{iam.HeaderSdkDate, iam.HeaderSecurityToken} {
		if _, sent := r.Header[http.CanonicalHeaderKey(name)]; sent && !slices.Contains(auth.SignedHeaders, strings.ToLower(name)) {
			return fmt.Sprintf("Incorrect IAM authentication information: the %s header is sent but not signed (SignedHeaders=%s)",
				name, strings.Join(auth.SignedHeaders, ";"))
		}
	}
	signedAt, err := time.Parse(iam.SdkDateLayout, date)
	if err != nil {
		return fmt.Sprintf("Incorrect IAM authentication information: X-Sdk-Date %q is not a UTC time like %s",
			shortHeader(date), iam.SdkDateLayout)
	}

	e.mu.Lock()
	now := e.now()
	key, known := e.lookupKey(auth.AccessKey)
	e.mu.Unlock()

	if skew := now.Sub(signedAt); skew > MaxClockSkew || skew < -MaxClockSkew {
		return fmt.Sprintf("Incorrect IAM authentication information: X-Sdk-Date %s is more than %v off the server's time %s",
			date, MaxClockSkew, now.UTC().Format(iam.SdkDateLayout))
	}
	if !known {
		return msgUnknownAccessKey
	}
	token, sentToken := r.Header[http.CanonicalHeaderKey(iam.HeaderSecurityToken)]
	switch {
	case key.securityToken == "" && sentToken:
		return "Incorrect IAM authentication information: an X-Security-Token is sent with permanent access keys"
	case key.securityToken != "" && !sentToken:
		return "Incorrect IAM authentication information: temporary access keys need the X-Security-Token header"
	case key.securityToken != "" &&
		(len(token) != 1 || subtle.ConstantTimeCompare([]byte(token[0]), []byte(key.securityToken)) != 1):
		return "Incorrect IAM authentication information: the security token is invalid or expired"
	}
	canonical, err := iam.CanonicalRequest(r, auth.SignedHeaders, body)
	if err != nil {
		return "Incorrect IAM authentication information: " + err.Error()
	}
	want := iam.Signature(iam.Secret(key.secret), iam.StringToSign(canonical, date))
	if !hmac.Equal([]byte(want), []byte(auth.Signature)) {
		return msgSignatureMismatch
	}
	return ""
}

// shortHeader bounds a header value quoted in a message.
func shortHeader(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}
