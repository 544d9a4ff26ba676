package githubapp_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/restorepoint/restorepoint/githubapp"
	"github.com/restorepoint/restorepoint/githubapp/githubtest"
)

func pemOf(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

// keyInputs returns PEM inputs of every kind ParsePrivateKey meets, with the
// error each must give (nil for a usable key).
func keyInputs(t testing.TB) map[string]struct {
	data []byte
	want error
} {
	rsaKey := githubtest.Key()
	pkcs8RSA, err := x509.MarshalPKCS8PrivateKey(rsaKey)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecDER, _ := x509.MarshalECPrivateKey(ecKey)
	ecPKCS8, _ := x509.MarshalPKCS8PrivateKey(ecKey)
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	edPKCS8, _ := x509.MarshalPKCS8PrivateKey(edKey)
	pubDER, _ := x509.MarshalPKIXPublicKey(&rsaKey.PublicKey)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test"},
		NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
	certDER, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &ecKey.PublicKey, ecKey)
	if err != nil {
		t.Fatal(err)
	}
	pkcs1 := githubtest.KeyPEM()
	encrypted := strings.Replace(string(pkcs1), "-----\n", "-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,0123456789ABCDEF0123456789ABCDEF\n\n", 1)
	type input = struct {
		data []byte
		want error
	}
	return map[string]input{
		"PKCS#1 as GitHub issues it":      {pkcs1, nil},
		"PKCS#8 RSA":                      {pemOf("PRIVATE KEY", pkcs8RSA), nil},
		"with text before the block":      {append([]byte("GitHub App key, downloaded 2025-06-02\n"), pkcs1...), nil},
		"line breaks written as \\n":      {[]byte(strings.ReplaceAll(string(pkcs1), "\n", `\n`)), nil},
		"CRLF line breaks":                {[]byte(strings.ReplaceAll(string(pkcs1), "\n", "\r\n")), nil},
		"empty":                           {nil, githubapp.ErrNotPEM},
		"a file name":                     {[]byte("/etc/restorepoint/app.pem"), githubapp.ErrNotPEM},
		"base64 without PEM armour":       {[]byte("MIIEowIBAAKCAQEAx0000"), githubapp.ErrNotPEM},
		"public key":                      {pemOf("PUBLIC KEY", pubDER), githubapp.ErrNotPrivateKey},
		"certificate":                     {pemOf("CERTIFICATE", certDER), githubapp.ErrNotPrivateKey},
		"encrypted PKCS#1":                {[]byte(encrypted), githubapp.ErrNotPrivateKey},
		"encrypted PKCS#8":                {pemOf("ENCRYPTED PRIVATE KEY", pkcs8RSA), githubapp.ErrNotPrivateKey},
		"RSA PRIVATE KEY with bad DER":    {pemOf("RSA PRIVATE KEY", pkcs8RSA[:100]), githubapp.ErrNotPrivateKey},
		"PRIVATE KEY with bad DER":        {pemOf("PRIVATE KEY", []byte("not DER")), githubapp.ErrNotPrivateKey},
		"PKCS#8 under the PKCS#1 heading": {pemOf("RSA PRIVATE KEY", pkcs8RSA), githubapp.ErrNotPrivateKey},
		"EC PRIVATE KEY":                  {pemOf("EC PRIVATE KEY", ecDER), githubapp.ErrNotRSA},
		"PKCS#8 EC":                       {pemOf("PRIVATE KEY", ecPKCS8), githubapp.ErrNotRSA},
		"PKCS#8 Ed25519":                  {pemOf("PRIVATE KEY", edPKCS8), githubapp.ErrNotRSA},
	}
}

func TestParsePrivateKey(t *testing.T) {
	for name, in := range keyInputs(t) {
		t.Run(name, func(t *testing.T) {
			key, err := githubapp.ParsePrivateKey(in.data)
			if in.want == nil {
				if err != nil || !key.Equal(githubtest.Key()) {
					t.Fatalf("ParsePrivateKey = %v, want the key", err)
				}
				return
			}
			if !errors.Is(err, in.want) || key != nil {
				t.Fatalf("ParsePrivateKey = %v, want %v", err, in.want)
			}
			// What the lead reports: "GITHUB_APP_PRIVATE_KEY: " + err.
			if !strings.HasPrefix(err.Error(), in.want.Error()) {
				t.Errorf("error %q: want it to start with %q", err, in.want)
			}
			assertNoKeyMaterial(t, err.Error(), in.data)
		})
	}
}

// assertNoKeyMaterial fails when text holds any base64 line of the PEM
// input (or a piece of it of 12 characters or more).
func assertNoKeyMaterial(t testing.TB, text string, input []byte) {
	t.Helper()
	for line := range strings.Lines(strings.ReplaceAll(string(input), `\n`, "\n")) {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "-----") || strings.Contains(line, ":") {
			continue // armour and headers
		}
		for i := 0; i+12 <= len(line); i += 12 {
			if strings.Contains(text, line[i:i+12]) {
				t.Fatalf("%q holds key material %q", text, line[i:i+12])
			}
		}
	}
}

func TestCheckAPIURL(t *testing.T) {
	for _, ok := range []string{"https://api.github.com", "https://ghe.example.com/api/v3", "https://ghe.example.com/api/v3/", "http://127.0.0.1:8080"} {
		if err := githubapp.CheckAPIURL(ok); err != nil {
			t.Errorf("CheckAPIURL(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"", "api.github.com", "/api/v3", "ftp://api.github.com", "https://", "https://api.github.com?x=1",
		"https://api.github.com#frag", "https://user:s3cret@api.github.com", "https://api.github.com/%zz", "https://api.github.com/?"} {
		err := githubapp.CheckAPIURL(bad)
		if err == nil {
			t.Errorf("CheckAPIURL(%q) = nil, want an error", bad)
			continue
		}
		if strings.Contains(err.Error(), "s3cret") || strings.Contains(err.Error(), "\n") {
			t.Errorf("CheckAPIURL(%q) = %q: quotes the password or spans lines", bad, err)
		}
	}
}

func TestNewChecksConfig(t *testing.T) {
	key := githubtest.Key()
	tests := []struct {
		name string
		cfg  githubapp.Config
		want string
	}{
		{"no app id", githubapp.Config{PrivateKey: key}, "app id 0: want a positive number"},
		{"no key", githubapp.Config{AppID: 1}, "no private key"},
		{"bad API URL", githubapp.Config{AppID: 1, PrivateKey: key, APIURL: "api.github.com"}, "want an absolute http or https URL"},
		{"bad attempts", githubapp.Config{AppID: 1, PrivateKey: key, MaxAttempts: -1}, "max attempts -1"},
		{"bad backoff", githubapp.Config{AppID: 1, PrivateKey: key, BackoffBase: time.Second, BackoffMax: time.Millisecond}, "backoff"},
	}
	for _, tt := range tests {
		c, err := githubapp.New(tt.cfg)
		if err == nil || c != nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: New = %v, want an error containing %q", tt.name, err, tt.want)
		}
	}
	c, err := githubapp.New(githubapp.Config{AppID: 1, PrivateKey: key})
	if err != nil || c.APIURL() != githubapp.DefaultAPIURL {
		t.Errorf("New with defaults = %v, %v", c, err)
	}
}

func TestConfigAndClientNeverShowKey(t *testing.T) {
	key := githubtest.Key()
	cfg := githubapp.Config{AppID: 1234567, PrivateKey: key, APIURL: "https://ghe.example.com/api/v3"}
	c, err := githubapp.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.AppJWT(); err != nil {
		t.Fatal(err)
	}
	js, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	secrets := []string{key.N.String()[:20], key.D.String()[:20], key.Primes[0].String()[:20]}
	outputs := []string{string(js)}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x"} {
		outputs = append(outputs, fmt.Sprintf(verb, cfg), fmt.Sprintf(verb, &cfg), fmt.Sprintf(verb, c))
	}
	for _, out := range outputs {
		for _, s := range secrets {
			if strings.Contains(out, s) {
				t.Fatalf("%s shows the key", out)
			}
		}
		assertNoKeyMaterial(t, out, githubtest.KeyPEM())
	}
	if want := "githubapp.Config{AppID: 1234567, APIURL: https://ghe.example.com/api/v3, PrivateKey: [redacted] (2048-bit RSA)}"; cfg.String() != want {
		t.Errorf("String() = %s, want %s", cfg, want)
	}
}

// echoServer answers with an error that quotes the request's Authorization
// header, as a misbehaving proxy might: in GitHub's JSON for the token
// endpoint (unless api serves it), as plain text for the review.
func echoServer(t *testing.T, api http.Handler) *httptest.Server {
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth := r.Header.Get("Authorization")
		switch {
		case strings.HasSuffix(r.URL.Path, "/access_tokens"):
			if api != nil {
				api.ServeHTTP(w, r)
				return
			}
			w.WriteHeader(http.StatusUnauthorized)
			_ = json.NewEncoder(w).Encode(map[string]any{"message": "refused " + auth,
				"errors": []any{map[string]string{"message": "credential " + auth}}})
		default:
			w.WriteHeader(http.StatusBadGateway)
			_, _ = io.WriteString(w, "upstream refused\n"+auth+"\n")
		}
	}))
	t.Cleanup(s.Close)
	return s
}

func TestNoSecretInErrors(t *testing.T) {
	// The token endpoint echoes the JWT.
	s := echoServer(t, nil)
	c, err := githubapp.New(githubapp.Config{AppID: 1, PrivateKey: githubtest.Key(), APIURL: s.URL, HTTPClient: s.Client(),
		MaxAttempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.InstallationToken(context.Background(), 5)
	if err == nil || strings.Contains(err.Error(), "eyJ") || !strings.Contains(err.Error(), "refused Bearer [redacted]") {
		t.Errorf("token error %q: want the JWT redacted", err)
	}
	assertNoKeyMaterial(t, err.Error(), githubtest.KeyPEM())

	// The review endpoint echoes the installation token.
	api := githubtest.New(githubtest.Options{AppID: 1})
	s = echoServer(t, api)
	c, err = githubapp.New(githubapp.Config{AppID: 1, PrivateKey: githubtest.Key(), APIURL: s.URL, HTTPClient: s.Client(),
		MaxAttempts: 2, BackoffBase: time.Millisecond, BackoffMax: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := c.InstallationToken(context.Background(), githubtest.DefaultInstallationID)
	if err != nil {
		t.Fatal(err)
	}
	err = c.Review(context.Background(), githubtest.DefaultInstallationID,
		s.URL+"/repos/o/r/actions/runs/1/deployment_protection_rule", approve)
	if err == nil || strings.Contains(err.Error(), tok) || strings.Contains(err.Error(), "ghs_") ||
		!strings.Contains(err.Error(), "502: upstream refused Bearer [redacted]") {
		t.Errorf("review error %q: want the token redacted", err)
	}
}
