package iam_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/restorepoint/restorepoint/iam"
)

// FuzzCanonicalisation feeds arbitrary paths, queries and header values to
// the canonicalisation and the signer: nothing may panic, the canonical URI
// always ends with "/" and holds only unreserved bytes, "/" and escapes, and
// a request Sign accepted verifies with the same pieces.
func FuzzCanonicalisation(f *testing.F) {
	f.Add("/v1/77b6a44cba5143ab91d13ab9a8ff44fd/vpcs", "limit=2&marker=13551d6b", "application/json", []byte(nil))
	f.Add("/path", "key=value", "", []byte("{\"Name\":\"test\",\"Id\":1}\n"))
	f.Add("", "", "", []byte{})
	f.Add("/a%2Fb/%zz/ü", "a=%g1&&b&=c&+=+", " x \t", []byte{0})
	f.Add("//", "a=1;b=2", "a\nb", []byte("x"))
	f.Fuzz(func(t *testing.T, path, query, contentType string, body []byte) {
		uri, err := iam.CanonicalURI(path)
		if err == nil {
			if !strings.HasSuffix(uri, "/") {
				t.Fatalf("CanonicalURI(%q) = %q: no trailing /", path, uri)
			}
			if i := strings.IndexFunc(uri, func(r rune) bool {
				return !strings.ContainsRune("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~/%", r)
			}); i >= 0 {
				t.Fatalf("CanonicalURI(%q) = %q: unescaped byte at %d", path, uri, i)
			}
		}
		if q, err := iam.CanonicalQuery(query); err == nil && query == "" && q != "" {
			t.Fatalf("CanonicalQuery(\"\") = %q", q)
		}
		_, _ = iam.ParseAuthorization(query)

		u := &url.URL{Scheme: "https", Host: "h.example.com", Path: path, RawQuery: query}
		req := &http.Request{Method: http.MethodPost, URL: u, Header: http.Header{}}
		req.Header["Content-Type"] = []string{contentType}
		keys := iam.Keys{AccessKey: "AK", SecretKey: "SK"}
		if err := keys.Sign(req, body, time.Unix(0, 0)); err != nil {
			if strings.Contains(err.Error(), "SK") && !strings.Contains(query+path, "SK") {
				t.Fatalf("error shows the secret key: %v", err)
			}
			return
		}
		auth, err := iam.ParseAuthorization(req.Header.Get("Authorization"))
		if err != nil {
			t.Fatalf("Sign wrote an unparsable Authorization: %v", err)
		}
		canonical, err := iam.CanonicalRequest(req, auth.SignedHeaders, body)
		if err != nil {
			t.Fatal(err)
		}
		if iam.Signature("SK", iam.StringToSign(canonical, req.Header.Get("X-Sdk-Date"))) != auth.Signature {
			t.Fatal("a signed request does not verify")
		}
	})
}
