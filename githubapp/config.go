package githubapp

import (
	"bytes"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/restorepoint/restorepoint/otc"
)

// DefaultAPIURL is the API of github.com. GitHub Enterprise Server serves
// its API at https://HOST/api/v3.
const DefaultAPIURL = "https://api.github.com"

// Defaults of a Config's retry policy.
const (
	DefaultMaxAttempts = 3
	DefaultBackoffBase = 500 * time.Millisecond
	DefaultBackoffMax  = 5 * time.Second
)

// Config is what a [Client] needs. Its String and Format never show the
// private key, and it encodes to JSON without it.
type Config struct {
	// AppID is the GitHub App's numeric id (the app's settings page: "App
	// ID"); it is the iss claim of the app's JWTs.
	AppID int64
	// PrivateKey is the app's private key; read it with [ParsePrivateKey].
	PrivateKey *rsa.PrivateKey `json:"-"`
	// APIURL is the REST API base URL; "" means [DefaultAPIURL]. GitHub
	// Enterprise Server: https://HOST/api/v3. See [CheckAPIURL].
	APIURL string
	// HTTPClient sends the requests; nil means one with a 30 second timeout.
	// Redirects are never followed (an answer 3xx is an error), so that a
	// token is not carried to another URL, unless the client sets its own
	// CheckRedirect.
	HTTPClient *http.Client `json:"-"`
	// Now is the clock of JWT claims and token expiry; nil means time.Now.
	// Waits between attempts always use real time.
	Now func() time.Time `json:"-"`
	// MaxAttempts is how many attempts one call may make in total; 0 means
	// DefaultMaxAttempts.
	MaxAttempts int
	// BackoffBase and BackoffMax bound the wait before retry n: drawn
	// uniformly from [0, min(BackoffMax, BackoffBase*2^(n-1))). Zero means
	// DefaultBackoffBase and DefaultBackoffMax.
	BackoffBase, BackoffMax time.Duration
}

// String describes the configuration without its private key:
// "githubapp.Config{AppID: 123, APIURL: https://api.github.com, PrivateKey: [redacted] (2048-bit RSA)}".
func (c Config) String() string {
	key := "none"
	if c.PrivateKey != nil && c.PrivateKey.N != nil {
		key = fmt.Sprintf("%s (%d-bit RSA)", otc.Redacted, c.PrivateKey.N.BitLen())
	}
	api := c.APIURL
	if api == "" {
		api = DefaultAPIURL
	}
	return fmt.Sprintf("githubapp.Config{AppID: %d, APIURL: %s, PrivateKey: %s}", c.AppID, api, key)
}

// Format prints String for every verb (%v, %+v, %#v, %s, ...), so that no
// way of printing a Config shows the private key.
func (c Config) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(c.String())) }

// Errors of ParsePrivateKey, for errors.Is. Their texts never quote the key.
var (
	// ErrNotPEM: the input holds no PEM block ("-----BEGIN ...-----").
	ErrNotPEM = errors.New("not a PEM-encoded private key")
	// ErrNotPrivateKey: the PEM block is something other than an unencrypted
	// private key (a certificate, a public key, an encrypted key, bad DER).
	ErrNotPrivateKey = errors.New("not a private key")
	// ErrNotRSA: the PEM block is a private key of another algorithm (EC,
	// Ed25519, ...).
	ErrNotRSA = errors.New("not an RSA private key")
)

// ParsePrivateKey reads a GitHub App private key: the first PEM block of
// data, a PKCS#1 "RSA PRIVATE KEY" (what GitHub issues) or a PKCS#8
// "PRIVATE KEY" holding an RSA key. Text before the block is ignored. A key
// pasted into an environment variable with its line breaks written as the
// two characters \n (and no real line break) is accepted too.
//
// Errors wrap [ErrNotPEM], [ErrNotPrivateKey] or [ErrNotRSA] and say no more
// than the PEM block's type and the key's algorithm: never key material.
func ParsePrivateKey(data []byte) (*rsa.PrivateKey, error) {
	if !bytes.ContainsAny(data, "\r\n") && bytes.Contains(data, []byte(`\n`)) {
		data = bytes.ReplaceAll(data, []byte(`\n`), []byte("\n"))
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, ErrNotPEM
	}
	if _, encrypted := block.Headers["Proc-Type"]; encrypted {
		return nil, fmt.Errorf("%w: the PEM block is encrypted; give the key as GitHub issued it", ErrNotPrivateKey)
	}
	switch block.Type {
	case "RSA PRIVATE KEY":
		key, err := x509.ParsePKCS1PrivateKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%w: the RSA PRIVATE KEY block is not a valid PKCS#1 key", ErrNotPrivateKey)
		}
		return key, nil
	case "PRIVATE KEY":
		key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%w: the PRIVATE KEY block is not a valid PKCS#8 key", ErrNotPrivateKey)
		}
		rsaKey, ok := key.(*rsa.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("%w: the PKCS#8 key is %s", ErrNotRSA, keyAlgorithm(key))
		}
		return rsaKey, nil
	case "EC PRIVATE KEY", "DSA PRIVATE KEY":
		return nil, fmt.Errorf("%w: the PEM block is %q", ErrNotRSA, block.Type)
	case "ENCRYPTED PRIVATE KEY":
		return nil, fmt.Errorf("%w: the PEM block is encrypted; give the key as GitHub issued it", ErrNotPrivateKey)
	}
	return nil, fmt.Errorf("%w: the PEM block is %q", ErrNotPrivateKey, clip(block.Type, 40))
}

// keyAlgorithm names the algorithm of a PKCS#8 key that is not RSA.
func keyAlgorithm(key any) string {
	switch key.(type) {
	case *ecdsa.PrivateKey, *ecdh.PrivateKey:
		return "an EC key"
	case ed25519.PrivateKey:
		return "an Ed25519 key"
	}
	return "of another algorithm"
}

// CheckAPIURL reports whether s is a usable API base URL: an absolute http
// or https URL with a host, optionally a path (GitHub Enterprise Server:
// /api/v3), and no user info, query or fragment.
func CheckAPIURL(s string) error {
	_, err := parseAPIURL(s)
	return err
}

// parseAPIURL checks an API base URL and returns it without a trailing slash.
func parseAPIURL(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return nil, errors.New("API URL: not a URL")
	case u.User != nil: // before anything quotes s: it may hold a password
		return nil, errors.New("API URL: must not contain user info")
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Errorf("API URL %q: want an absolute http or https URL", otc.OneLine(s))
	case u.Host == "":
		return nil, fmt.Errorf("API URL %q: no host", otc.OneLine(s))
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		return nil, fmt.Errorf("API URL %q: must not have a query or fragment", otc.OneLine(s))
	}
	u.Path, u.RawPath = strings.TrimRight(u.Path, "/"), strings.TrimRight(u.RawPath, "/")
	return u, nil
}
