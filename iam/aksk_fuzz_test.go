package iam_test

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/restorepoint/restorepoint/iam"
)

// FuzzCanonicalisation feeds arbitrary paths, queries and header values to
// the canonicalisation and the signer: nothing may panic, the canonical URI
// always ends with "/" and holds only unreserved bytes, "/" and escapes, and
// a request Sign accepted verifies with the same pieces. CanonicalURI and
// CanonicalHeaders give what their definitions, written out plainly below
// (segment by segment; every value of every header), give.
func FuzzCanonicalisation(f *testing.F) {
	f.Add("/v1/77b6a44cba5143ab91d13ab9a8ff44fd/vpcs", "limit=2&marker=13551d6b", "application/json", []byte(nil))
	f.Add("/path", "key=value", "", []byte("{\"Name\":\"test\",\"Id\":1}\n"))
	f.Add("", "", "", []byte{})
	f.Add("/a%2Fb/%zz/ü", "a=%g1&&b&=c&+=+", " x \t", []byte{0})
	f.Add("//", "a=1;b=2", "a\nb", []byte("x"))
	f.Fuzz(func(t *testing.T, path, query, contentType string, body []byte) {
		uri, err := iam.CanonicalURI(path)
		if want, wantErr := plainCanonicalURI(path); (err == nil) != (wantErr == nil) || uri != want {
			t.Fatalf("CanonicalURI(%q) = %q, %v; by definition %q, %v", path, uri, err, want, wantErr)
		}
		h := http.Header{"Content-Type": {contentType, path}, "X-Sdk-Date": {query}}
		signed := []string{"content-type", "host", "x-sdk-date", "X-Project-Id"}
		if got, want := iam.CanonicalHeaders(h, "h.example.com", signed), plainCanonicalHeaders(h, "h.example.com", signed); got != want {
			t.Fatalf("CanonicalHeaders = %q; by definition %q", got, want)
		}
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

// plainCanonicalURI is CanonicalURI's definition, segment by segment.
func plainCanonicalURI(escapedPath string) (string, error) {
	segments := strings.Split(escapedPath, "/")
	for i, seg := range segments {
		raw, err := url.PathUnescape(seg)
		if err != nil {
			return "", err
		}
		segments[i] = iam.Escape(raw)
	}
	uri := strings.Join(segments, "/")
	if !strings.HasSuffix(uri, "/") {
		uri += "/"
	}
	return uri, nil
}

// plainCanonicalHeaders is CanonicalHeaders' definition: for each signed
// header, its values trimmed and sorted, a line each.
func plainCanonicalHeaders(header http.Header, host string, signedHeaders []string) string {
	var b strings.Builder
	for _, name := range signedHeaders {
		name = strings.ToLower(name)
		values := []string{host}
		if name != "host" {
			values = slices.Clone(header.Values(name))
			if len(values) == 0 {
				values = []string{""}
			}
			for i := range values {
				values[i] = strings.TrimSpace(values[i])
			}
			slices.Sort(values)
		}
		for _, v := range values {
			b.WriteString(name + ":" + v + "\n")
		}
	}
	return b.String()
}
