package iam_test

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/restorepoint/restorepoint/iam"
)

// The published vectors the signer is held to (issue 10).
const (
	guideSK            = "MFyfvK41ba2giqM7Uio6PznpdUKGpownRZlmVmHc"
	guideURL           = "https://service.region.example.com/v1/77b6a44cba5143ab91d13ab9a8ff44fd/vpcs?limit=2&marker=13551d6b-755d-4757-b956-536f674975c0"
	guideDate          = "20191115T033655Z"
	guideCanonicalHash = "b25362e603ee30f4f25e7858e8a7160fd36e803bb2dfe206278659d71a9bcd7a"
	guideSignature     = "7be6668032f70418fcc22abc52071e57aff61b84a1d2381bb430d6870f4f6ebe"

	sdkAK         = "AccessKey"
	sdkSK         = "SecretKey"
	sdkDate       = "20060102T150405Z"
	sdkGetSig     = "5a2ce64c865e0e6046321c6f3d5a77ba8413eeaf355c3166c03d58d02ac79624"
	sdkPostSig    = "cecc2af119b18ab70b4d094c0750f3b42c02f254903179a0fc2cc72fc9db4f59"
	sdkPostBody   = "{\"Name\":\"test\",\"Id\":1}\n"
	sdkGetURL     = "https://example.huaweicloud.com/path?limit=1"
	sdkPostURL    = "https://example.huaweicloud.com/path?key=value"
	sdkAuthPrefix = "SDK-HMAC-SHA256 Access=AccessKey, SignedHeaders=x-sdk-date, Signature="
)

func TestSigningGuideVector(t *testing.T) {
	req := httptest.NewRequest(http.MethodGet, guideURL, nil)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Sdk-Date", guideDate)
	signed := []string{"content-type", "host", "x-sdk-date"}

	canonical, err := iam.CanonicalRequest(req, signed, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := "GET\n/v1/77b6a44cba5143ab91d13ab9a8ff44fd/vpcs/\n" +
		"limit=2&marker=13551d6b-755d-4757-b956-536f674975c0\n" +
		"content-type:application/json\nhost:service.region.example.com\nx-sdk-date:20191115T033655Z\n\n" +
		"content-type;host;x-sdk-date\n" +
		"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	if canonical != want {
		t.Errorf("canonical request\n got %q\nwant %q", canonical, want)
	}
	if sum := sha256.Sum256([]byte(canonical)); hex.EncodeToString(sum[:]) != guideCanonicalHash {
		t.Errorf("SHA-256 of the canonical request = %x, want %s", sum, guideCanonicalHash)
	}
	sts := iam.StringToSign(canonical, guideDate)
	if want := "SDK-HMAC-SHA256\n" + guideDate + "\n" + guideCanonicalHash; sts != want {
		t.Errorf("string to sign = %q, want %q", sts, want)
	}
	if got := iam.Signature(guideSK, sts); got != guideSignature {
		t.Errorf("signature = %s, want %s", got, guideSignature)
	}

	// Sign itself, at the vector's time, signs the same three headers.
	req = httptest.NewRequest(http.MethodGet, guideURL, nil)
	req.Header.Set("Content-Type", "application/json")
	keys := iam.Keys{AccessKey: "QTWAOYTTINDUT2QVKYUC", SecretKey: guideSK}
	if err := keys.Sign(req, nil, mustDate(t, guideDate)); err != nil {
		t.Fatal(err)
	}
	wantAuth := "SDK-HMAC-SHA256 Access=QTWAOYTTINDUT2QVKYUC, SignedHeaders=content-type;host;x-sdk-date, Signature=" + guideSignature
	if got := req.Header.Get("Authorization"); got != wantAuth {
		t.Errorf("Authorization = %q, want %q", got, wantAuth)
	}
	if got := req.Header.Get("X-Sdk-Date"); got != guideDate {
		t.Errorf("X-Sdk-Date = %q, want %q", got, guideDate)
	}
}

func TestHuaweiSDKVectors(t *testing.T) {
	for _, tc := range []struct {
		name, method, url, body, contentType, want string
	}{
		{"get", http.MethodGet, sdkGetURL, "", "", sdkGetSig},
		{"post", http.MethodPost, sdkPostURL, sdkPostBody, "application/json", sdkPostSig},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(tc.method, tc.url, strings.NewReader(tc.body))
			req.Header.Set("X-Sdk-Date", sdkDate)
			if tc.contentType != "" { // sent, but not signed, as the SDK does
				req.Header.Set("Content-Type", tc.contentType)
			}
			signed := []string{"x-sdk-date"}
			canonical, err := iam.CanonicalRequest(req, signed, []byte(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			sig := iam.Signature(sdkSK, iam.StringToSign(canonical, sdkDate))
			if sig != tc.want {
				t.Errorf("signature = %s, want %s", sig, tc.want)
			}
			auth := iam.Authorization{AccessKey: sdkAK, SignedHeaders: signed, Signature: sig}
			if got := auth.String(); got != sdkAuthPrefix+tc.want {
				t.Errorf("Authorization = %q, want %q", got, sdkAuthPrefix+tc.want)
			}
			parsed, err := iam.ParseAuthorization(sdkAuthPrefix + tc.want)
			if err != nil || fmt.Sprint(parsed) != fmt.Sprint(auth) {
				t.Errorf("ParseAuthorization = %+v, %v; want %+v", parsed, err, auth)
			}
		})
	}
}

func mustDate(t *testing.T, s string) time.Time {
	t.Helper()
	d, err := time.Parse(iam.SdkDateLayout, s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestSignHeaders(t *testing.T) {
	now := time.Date(2024, 3, 1, 12, 30, 45, 0, time.FixedZone("CET", 3600))
	req := httptest.NewRequest(http.MethodPost, "https://cbr.eu-de.otc.t-systems.com/v3/p1/checkpoints", nil)
	req.Header.Set("Content-Type", "application/json;charset=UTF-8")
	req.Header.Set("X-Project-Id", "p1")
	req.Header.Set("User-Agent", "restorepoint")
	req.Header.Set("Authorization", "stale")
	keys := iam.Keys{AccessKey: "AK1", SecretKey: "sk-secret", SecurityToken: "token-secret"}
	body := []byte(`{"checkpoint":{}}`)
	if err := keys.Sign(req, body, now); err != nil {
		t.Fatal(err)
	}
	if got := req.Header.Get("X-Sdk-Date"); got != "20240301T113045Z" {
		t.Errorf("X-Sdk-Date = %q, want the UTC time", got)
	}
	if got := req.Header.Get("X-Security-Token"); got != "token-secret" {
		t.Errorf("X-Security-Token = %q", got)
	}
	auth, err := iam.ParseAuthorization(req.Header.Get("Authorization"))
	if err != nil {
		t.Fatal(err)
	}
	want := "content-type;host;x-project-id;x-sdk-date;x-security-token"
	if got := strings.Join(auth.SignedHeaders, ";"); got != want {
		t.Errorf("SignedHeaders = %s, want %s", got, want)
	}
	canonical, err := iam.CanonicalRequest(req, auth.SignedHeaders, body)
	if err != nil {
		t.Fatal(err)
	}
	if sig := iam.Signature(keys.SecretKey, iam.StringToSign(canonical, "20240301T113045Z")); sig != auth.Signature {
		t.Errorf("signature does not verify")
	}

	// Signing again with permanent keys removes the old token and date.
	later := now.Add(time.Minute)
	if err := (iam.Keys{AccessKey: "AK1", SecretKey: "sk"}).Sign(req, body, later); err != nil {
		t.Fatal(err)
	}
	if _, ok := req.Header["X-Security-Token"]; ok {
		t.Error("X-Security-Token left over from temporary keys")
	}
	if got := req.Header.Values("X-Sdk-Date"); len(got) != 1 || got[0] != "20240301T113145Z" {
		t.Errorf("X-Sdk-Date = %q after re-signing", got)
	}
	if got := req.Header.Values("Authorization"); len(got) != 1 || strings.Contains(got[0], "x-security-token") {
		t.Errorf("Authorization = %q after re-signing", got)
	}
}

func TestCanonicalURIAndQuery(t *testing.T) {
	for _, tc := range []struct{ path, want string }{
		{"", "/"},
		{"/", "/"},
		{"/v3/p/checkpoints", "/v3/p/checkpoints/"},
		{"/a/b/", "/a/b/"},
		{"/a%20b/c+d/%7Ee~/%2F", "/a%20b/c%2Bd/~e~/%2F/"},
		{"/ü", "/%C3%BC/"},
	} {
		got, err := iam.CanonicalURI(tc.path)
		if err != nil || got != tc.want {
			t.Errorf("CanonicalURI(%q) = %q, %v; want %q", tc.path, got, err, tc.want)
		}
	}
	if _, err := iam.CanonicalURI("/%zz"); err == nil {
		t.Error("CanonicalURI accepted an invalid escape")
	}
	for _, tc := range []struct{ query, want string }{
		{"", ""},
		{"b=2&a=1", "a=1&b=2"},
		{"a=2&a=1&a=10", "a=1&a=10&a=2"},
		{"flag&x=", "flag=&x="},
		{"q=a+b&r=%2Ftmp%2F123&s=%E4%B8%80+(%26%3D%3F!%23%25.*)", "q=a%20b&r=%2Ftmp%2F123&s=%E4%B8%80%20%28%26%3D%3F%21%23%25.%2A%29"},
		{"&&a=1&", "a=1"},
	} {
		got, err := iam.CanonicalQuery(tc.query)
		if err != nil || got != tc.want {
			t.Errorf("CanonicalQuery(%q) = %q, %v; want %q", tc.query, got, err, tc.want)
		}
	}
	if _, err := iam.CanonicalQuery("a=%g1"); err == nil {
		t.Error("CanonicalQuery accepted an invalid escape")
	}
}

func TestCanonicalHeadersMultipleValues(t *testing.T) {
	h := http.Header{}
	h.Add("X-B", " 2 ")
	h.Add("X-B", "1")
	got := iam.CanonicalHeaders(h, "example.com", []string{"host", "x-a", "x-b"})
	if want := "host:example.com\nx-a:\nx-b:1\nx-b:2\n"; got != want {
		t.Errorf("CanonicalHeaders = %q, want %q", got, want)
	}
}

func TestParseAuthorizationErrors(t *testing.T) {
	for _, v := range []string{
		"",
		"Bearer x",
		"SDK-HMAC-SHA256 Access=AK, SignedHeaders=host",
		"SDK-HMAC-SHA256 Access=AK, Access=AK, SignedHeaders=host, Signature=00",
		"SDK-HMAC-SHA256 Access=AK, SignedHeaders=host;;x, Signature=00",
		"SDK-HMAC-SHA256 Access=, SignedHeaders=host, Signature=00",
		"SDK-HMAC-SHA256 Access=AK, SignedHeaders=host, Signature=00, Extra=1",
	} {
		if a, err := iam.ParseAuthorization(v); err == nil {
			t.Errorf("ParseAuthorization(%q) = %+v, want an error", v, a)
		}
	}
}

func TestKeysValidate(t *testing.T) {
	const sk = "very-secret-key"
	for _, tc := range []struct {
		keys iam.Keys
		want string
	}{
		{iam.Keys{AccessKey: "AK", SecretKey: sk}, ""},
		{iam.Keys{}, "the access key is empty; the secret key is empty"},
		{iam.Keys{AccessKey: sk, SecretKey: sk}, "the access key is malformed (15 characters"},
		{iam.Keys{AccessKey: "AK", SecretKey: sk + "\n2"}, "the secret key contains control characters"},
		{iam.Keys{AccessKey: "AK", SecretKey: sk, SecurityToken: "a\x00"}, "the security token contains control characters"},
	} {
		err := tc.keys.Validate()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("Validate(%v) = %v", tc.keys, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("Validate(%v) = %v, want %q", tc.keys, err, tc.want)
		case err != nil && strings.Contains(err.Error(), sk):
			t.Errorf("error shows the secret: %v", err)
		case err != nil && !errors.Is(err, iam.ErrInvalidKeys):
			t.Errorf("error %v does not wrap ErrInvalidKeys", err)
		}
		req := httptest.NewRequest(http.MethodGet, "https://h/", nil)
		if err := tc.keys.Sign(req, nil, time.Now()); (err == nil) != (tc.want == "") {
			t.Errorf("Sign(%v) = %v", tc.keys, err)
		}
	}
}

func TestKeysNeverPrintSecrets(t *testing.T) {
	keys := iam.Keys{AccessKey: "AK1", SecretKey: "sk-value", SecurityToken: "tok-value"}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x"} {
		out := fmt.Sprintf(verb, keys) + fmt.Sprintf(verb, &keys) + fmt.Sprintf(verb, []iam.Keys{keys})
		if strings.Contains(out, "sk-value") || strings.Contains(out, "tok-value") ||
			strings.Contains(out, hex.EncodeToString([]byte("sk-value"))) {
			t.Errorf("%s shows a secret: %s", verb, out)
		}
	}
	if got := keys.String(); got != `iam.Keys{AccessKey: "AK1", SecretKey: [redacted], SecurityToken: [redacted]}` {
		t.Errorf("String() = %s", got)
	}
}
