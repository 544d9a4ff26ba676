package iam

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"time"
)

// AK/SK request signing: the SDK-HMAC-SHA256 algorithm of the Open Telekom
// Cloud / Huawei Cloud API request signing guide.
const (
	// SigningAlgorithm names the algorithm in the Authorization header and
	// the string to sign.
	SigningAlgorithm = "SDK-HMAC-SHA256"
	// SdkDateLayout is the time layout of the X-Sdk-Date header (always UTC).
	SdkDateLayout = "20060102T150405Z"
	// HeaderSdkDate carries the signing time; it must be signed.
	HeaderSdkDate = "X-Sdk-Date"
	// HeaderSecurityToken carries the security token of temporary keys; when
	// sent, it must be signed.
	HeaderSecurityToken = "X-Security-Token"
	// HeaderProjectID names the project a request is for; signed when sent.
	HeaderProjectID = "X-Project-Id"
)

// signableHeaders are the request headers Sign signs when they are present,
// besides host (always signed): their lower-case names, as signed, and their
// keys in an http.Header. Others (User-Agent, Accept, …) are left unsigned,
// so that a proxy or transport adding or changing them does not break the
// signature.
var signableHeaders = []struct{ name, key string }{
	{"content-type", "Content-Type"},
	{"x-project-id", HeaderProjectID},
	{"x-sdk-date", HeaderSdkDate},
	{"x-security-token", HeaderSecurityToken},
}

// headerKey is the http.Header key of the lower-case header name.
func headerKey(name string) string {
	for _, h := range signableHeaders {
		if h.name == name {
			return h.key
		}
	}
	return http.CanonicalHeaderKey(name)
}

// maxAccessKey bounds the length of an access key; real ones have 20
// characters.
const maxAccessKey = 128

// Keys are an access key pair (AK/SK), permanent or temporary. Temporary
// keys come with a SecurityToken. The secret key and the security token are
// [Secret]s and never print; Keys also prints itself without them.
type Keys struct {
	// AccessKey (AK) identifies the key pair; it is not secret.
	AccessKey string
	// SecretKey (SK) signs requests.
	SecretKey Secret
	// SecurityToken is set for temporary keys; it is sent in the
	// X-Security-Token header and signed.
	SecurityToken Secret
}

// Temporary reports whether the keys are temporary (have a security token).
func (k Keys) Temporary() bool { return k.SecurityToken != "" }

// Validate reports what is wrong with the keys: an empty or malformed access
// key (letters and digits only), an empty secret key, control characters in
// the secret key or security token. Messages never show a secret.
func (k Keys) Validate() error {
	var problems []string
	switch {
	case k.AccessKey == "":
		problems = append(problems, "the access key is empty")
	case len(k.AccessKey) > maxAccessKey || strings.ContainsFunc(k.AccessKey, notAlphanumeric):
		// The value is not shown: a secret key pasted into the access
		// key's place must not end up in a log.
		problems = append(problems, fmt.Sprintf(
			"the access key is malformed (%d characters; want at most %d letters and digits)",
			len(k.AccessKey), maxAccessKey))
	}
	switch {
	case k.SecretKey == "":
		problems = append(problems, "the secret key is empty")
	case strings.ContainsFunc(k.SecretKey.Reveal(), isControl):
		problems = append(problems, "the secret key contains control characters")
	}
	if strings.ContainsFunc(k.SecurityToken.Reveal(), isControl) {
		problems = append(problems, "the security token contains control characters")
	}
	if len(problems) == 0 {
		return nil
	}
	return &wrapError{msg: "iam: " + strings.Join(problems, "; "), err: ErrInvalidKeys}
}

// ErrInvalidKeys is wrapped by the errors of [Keys.Validate] and
// [Keys.Sign] for unusable keys.
var ErrInvalidKeys = errors.New("iam: invalid access keys")

// Format prints the access key and whether there is a secret key and a
// security token, never their values.
func (k Keys) Format(f fmt.State, _ rune) {
	_, _ = fmt.Fprintf(f, "iam.Keys{AccessKey: %q, SecretKey: %s, SecurityToken: %s}",
		k.AccessKey, presence(k.SecretKey), presence(k.SecurityToken))
}

// String is like Format, for callers that use the Stringer interface.
func (k Keys) String() string { return fmt.Sprint(k) }

// presence shows "[redacted]" for a set secret and "[none]" for an empty one.
func presence(s Secret) string {
	if s == "" {
		return "[none]"
	}
	return redacted
}

// Sign signs req for the keys at time now: it sets X-Sdk-Date (now in UTC),
// X-Security-Token for temporary keys (and removes one left from an earlier
// signing otherwise) and Authorization. body must be exactly the body req
// will send (nil for none); Sign does not read req.Body.
//
// Signed are host, x-sdk-date and, when present on req, content-type,
// x-project-id and x-security-token. Set X-Project-Id and Content-Type before
// signing. Sign again for every attempt: a retry needs a fresh date.
//
// Errors name what is wrong (unusable keys, an unparsable URL) and never
// contain the secret key or security token.
func (k Keys) Sign(req *http.Request, body []byte, now time.Time) error {
	if err := k.Validate(); err != nil {
		return err
	}
	if req.URL == nil {
		return errors.New("iam: sign: the request has no URL")
	}
	if req.Header == nil {
		req.Header = make(http.Header)
	}
	date := now.UTC().Format(SdkDateLayout)
	req.Header.Del("Authorization")
	req.Header.Set(HeaderSdkDate, date)
	if k.SecurityToken != "" {
		req.Header.Set(HeaderSecurityToken, k.SecurityToken.Reveal())
	} else {
		req.Header.Del(HeaderSecurityToken)
	}
	signed := make([]string, 1, 1+len(signableHeaders))
	signed[0] = "host"
	for _, h := range signableHeaders {
		if _, ok := req.Header[h.key]; ok {
			signed = append(signed, h.name)
		}
	}
	slices.Sort(signed)
	canonical, err := CanonicalRequest(req, signed, body)
	if err != nil {
		return fmt.Errorf("iam: sign: %w", err)
	}
	signature := Signature(k.SecretKey, StringToSign(canonical, date))
	req.Header.Set("Authorization", Authorization{
		AccessKey:     k.AccessKey,
		SignedHeaders: signed,
		Signature:     signature,
	}.String())
	return nil
}

// Authorization is the value of an SDK-HMAC-SHA256 Authorization header:
//
//	SDK-HMAC-SHA256 Access=<AK>, SignedHeaders=<h1;h2;…>, Signature=<hex>
type Authorization struct {
	// AccessKey is the Access= part.
	AccessKey string
	// SignedHeaders are the lower-case names of the signed headers, sorted.
	SignedHeaders []string
	// Signature is the lower-case hex HMAC-SHA256.
	Signature string
}

// String returns the header value.
func (a Authorization) String() string {
	return SigningAlgorithm + " Access=" + a.AccessKey +
		", SignedHeaders=" + strings.Join(a.SignedHeaders, ";") +
		", Signature=" + a.Signature
}

// ParseAuthorization parses an SDK-HMAC-SHA256 Authorization header value.
// The three parts may come in any order; each must be present exactly once
// and non-empty. Signed header names are lower-cased.
func ParseAuthorization(value string) (Authorization, error) {
	rest, ok := strings.CutPrefix(strings.TrimSpace(value), SigningAlgorithm+" ")
	if !ok {
		return Authorization{}, fmt.Errorf("iam: authorization header: want the %s scheme", SigningAlgorithm)
	}
	var a Authorization
	seen := map[string]bool{}
	for part := range strings.SplitSeq(rest, ",") {
		name, val, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok || val == "" {
			return Authorization{}, fmt.Errorf("iam: authorization header: malformed part %q", shorten(part))
		}
		if seen[name] {
			return Authorization{}, fmt.Errorf("iam: authorization header: %s given twice", name)
		}
		seen[name] = true
		switch name {
		case "Access":
			a.AccessKey = val
		case "SignedHeaders":
			for h := range strings.SplitSeq(val, ";") {
				if h == "" {
					return Authorization{}, errors.New("iam: authorization header: empty name in SignedHeaders")
				}
				a.SignedHeaders = append(a.SignedHeaders, strings.ToLower(h))
			}
		case "Signature":
			a.Signature = val
		default:
			return Authorization{}, fmt.Errorf("iam: authorization header: unknown part %q", shorten(name))
		}
	}
	for _, name := range []string{"Access", "SignedHeaders", "Signature"} {
		if !seen[name] {
			return Authorization{}, fmt.Errorf("iam: authorization header: %s missing", name)
		}
	}
	return a, nil
}

// shorten bounds a quoted piece of untrusted input in an error.
func shorten(s string) string {
	const max = 64
	if len(s) > max {
		return s[:max] + "…"
	}
	return s
}

// CanonicalRequest returns the canonical request of req over signedHeaders
// (lower-case names; their order is kept) and body:
//
//	METHOD \n canonical URI \n canonical query \n canonical headers \n signed headers \n hex(SHA-256(body))
//
// The path is taken from req.URL.EscapedPath(), the query from
// req.URL.RawQuery, the host from req.Host, else req.URL.Host. A server
// verifying a signature calls it with the request as it arrived.
func CanonicalRequest(req *http.Request, signedHeaders []string, body []byte) (string, error) {
	if req.URL == nil {
		return "", errors.New("the request has no URL")
	}
	uri, err := CanonicalURI(req.URL.EscapedPath())
	if err != nil {
		return "", err
	}
	query, err := CanonicalQuery(req.URL.RawQuery)
	if err != nil {
		return "", err
	}
	host := req.Host
	if host == "" {
		host = req.URL.Host
	}
	headers := CanonicalHeaders(req.Header, host, signedHeaders)
	var b strings.Builder
	b.Grow(len(req.Method) + len(uri) + len(query) + len(headers) + 16*len(signedHeaders) + 2*sha256.Size + 5)
	b.WriteString(req.Method)
	b.WriteByte('\n')
	b.WriteString(uri)
	b.WriteByte('\n')
	b.WriteString(query)
	b.WriteByte('\n')
	b.WriteString(headers)
	b.WriteByte('\n')
	for i, name := range signedHeaders {
		if i > 0 {
			b.WriteByte(';')
		}
		b.WriteString(name)
	}
	b.WriteByte('\n')
	writeHexSHA256(&b, body)
	return b.String(), nil
}

// writeHexSHA256 writes hex(SHA-256(data)) to b.
func writeHexSHA256(b *strings.Builder, data []byte) {
	sum := sha256.Sum256(data)
	var h [2 * sha256.Size]byte
	hex.Encode(h[:], sum[:])
	b.Write(h[:])
}

// CanonicalURI returns the canonical form of an escaped URL path: each
// segment decoded, then percent-encoded with [Escape], and a "/" appended
// when the path does not end with one ("" gives "/"). The "/" is for the
// signature only; the request goes out without it.
func CanonicalURI(escapedPath string) (string, error) {
	if plainPath(escapedPath) {
		// Every segment decodes and escapes to itself.
		if strings.HasSuffix(escapedPath, "/") {
			return escapedPath, nil
		}
		return escapedPath + "/", nil
	}
	segments := strings.Split(escapedPath, "/")
	for i, seg := range segments {
		raw, err := url.PathUnescape(seg)
		if err != nil {
			return "", fmt.Errorf("path segment %d: invalid percent-encoding", i)
		}
		segments[i] = Escape(raw)
	}
	uri := strings.Join(segments, "/")
	if !strings.HasSuffix(uri, "/") {
		uri += "/"
	}
	return uri, nil
}

// plainPath reports whether p holds only unreserved bytes and "/".
func plainPath(p string) bool {
	for i := 0; i < len(p); i++ {
		if c := p[i]; c != '/' && !unreserved(c) {
			return false
		}
	}
	return true
}

// CanonicalQuery returns the canonical form of a raw query string: its
// key=value pairs decoded (a "+" is a space), sorted by key, then by value,
// each key and value encoded with [Escape], joined with "&". A key without
// "=" has an empty value; empty pairs are dropped; "" gives "".
func CanonicalQuery(rawQuery string) (string, error) {
	if rawQuery == "" {
		return "", nil
	}
	type pair struct{ key, value string }
	var pairs []pair
	for part := range strings.SplitSeq(rawQuery, "&") {
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		key, err := url.QueryUnescape(k)
		if err != nil {
			return "", errors.New("query: invalid percent-encoding in a key")
		}
		value, err := url.QueryUnescape(v)
		if err != nil {
			return "", fmt.Errorf("query: invalid percent-encoding in the value of %q", shorten(key))
		}
		pairs = append(pairs, pair{key, value})
	}
	sort.Slice(pairs, func(i, j int) bool {
		a, b := pairs[i], pairs[j]
		return a.key < b.key || a.key == b.key && a.value < b.value
	})
	parts := make([]string, len(pairs))
	for i, p := range pairs {
		parts[i] = Escape(p.key) + "=" + Escape(p.value)
	}
	return strings.Join(parts, "&"), nil
}

// CanonicalHeaders returns "name:value\n" for each of signedHeaders in
// their order, the name lower-case and the value trimmed; a header with
// several values gives one line per value, sorted. The host header's value
// is host (Go keeps it out of http.Header). A signed header that is absent
// gives "name:\n".
func CanonicalHeaders(header http.Header, host string, signedHeaders []string) string {
	var b strings.Builder
	b.Grow(64 * len(signedHeaders))
	line := func(name, value string) {
		b.WriteString(name)
		b.WriteByte(':')
		b.WriteString(value)
		b.WriteByte('\n')
	}
	for _, name := range signedHeaders {
		name = strings.ToLower(name)
		if name == "host" {
			line(name, host)
			continue
		}
		switch values := header[headerKey(name)]; len(values) {
		case 0:
			line(name, "")
		case 1:
			line(name, strings.TrimSpace(values[0]))
		default:
			trimmed := make([]string, len(values))
			for i, v := range values {
				trimmed[i] = strings.TrimSpace(v)
			}
			slices.Sort(trimmed)
			for _, v := range trimmed {
				line(name, v)
			}
		}
	}
	return b.String()
}

// StringToSign returns "SDK-HMAC-SHA256\n" + sdkDate + "\n" +
// hex(SHA-256(canonicalRequest)).
func StringToSign(canonicalRequest, sdkDate string) string {
	var b strings.Builder
	b.Grow(len(SigningAlgorithm) + len(sdkDate) + 2 + 2*sha256.Size)
	b.WriteString(SigningAlgorithm)
	b.WriteByte('\n')
	b.WriteString(sdkDate)
	b.WriteByte('\n')
	writeHexSHA256(&b, []byte(canonicalRequest))
	return b.String()
}

// Signature returns hex(HMAC-SHA256(key = secretKey, stringToSign)).
func Signature(secretKey Secret, stringToSign string) string {
	mac := hmac.New(sha256.New, []byte(secretKey.Reveal()))
	mac.Write([]byte(stringToSign))
	var sum [sha256.Size]byte
	return hex.EncodeToString(mac.Sum(sum[:0]))
}

// Escape percent-encodes every byte of s but the unreserved A-Z a-z 0-9
// - _ . ~, with upper-case hex digits (a space is "%20").
func Escape(s string) string {
	n := 0
	for i := 0; i < len(s); i++ {
		if !unreserved(s[i]) {
			n++
		}
	}
	if n == 0 {
		return s
	}
	const hexDigits = "0123456789ABCDEF"
	b := make([]byte, 0, len(s)+2*n)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if unreserved(c) {
			b = append(b, c)
		} else {
			b = append(b, '%', hexDigits[c>>4], hexDigits[c&15])
		}
	}
	return string(b)
}

// unreserved reports the bytes Escape keeps.
func unreserved(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' ||
		c == '-' || c == '_' || c == '.' || c == '~'
}

// notAlphanumeric reports runes other than ASCII letters and digits.
func notAlphanumeric(r rune) bool {
	return !('A' <= r && r <= 'Z' || 'a' <= r && r <= 'z' || '0' <= r && r <= '9')
}
