package events

import (
	"bufio"
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// Webhook senders, as Sender names them.
const (
	SenderGitHub = "github"
	SenderGitLab = "gitlab"
	SenderFlux   = "flux"
)

// Webhook header names read by the sender decoders and signature checks.
const (
	HeaderGitHubEvent       = "X-GitHub-Event"
	HeaderGitHubDelivery    = "X-GitHub-Delivery"
	HeaderGitHubHookID      = "X-GitHub-Hook-ID"
	HeaderGitHubSignature   = "X-Hub-Signature-256"
	HeaderGitLabEvent       = "X-Gitlab-Event"
	HeaderGitLabToken       = "X-Gitlab-Token"
	HeaderGitLabEventUUID   = "X-Gitlab-Event-UUID"
	HeaderIdempotencyKey    = "Idempotency-Key"
	HeaderFluxSignature     = "X-Signature"
	HeaderFluxComponent     = "Gotk-Component"
	maxIdempotencyKeyLength = 256
)

// ErrSignature matches (with errors.Is) every error of VerifyGitHubSignature,
// VerifyGitLabToken and VerifyFluxSignature: the request is not from the
// holder of the secret (the caller answers 401 and reads nothing of the body).
var ErrSignature = errors.New("events: webhook signature or token missing or wrong")

// Sender returns which webhook sender the headers come from: SenderGitHub
// (X-GitHub-Event), SenderGitLab (X-Gitlab-Event), SenderFlux (Gotk-Component
// or X-Signature), or "" for none of them.
func Sender(h http.Header) string {
	switch {
	case h.Get(HeaderGitHubEvent) != "":
		return SenderGitHub
	case h.Get(HeaderGitLabEvent) != "":
		return SenderGitLab
	case h.Get(HeaderFluxComponent) != "" || h.Get(HeaderFluxSignature) != "":
		return SenderFlux
	}
	return ""
}

// DecodeWebhook decodes a request of the sender Sender names with that
// sender's decoder (DecodeGitHub, DecodeGitLab, DecodeFlux). ok is false when
// the headers name no known sender; then t and err are zero.
func DecodeWebhook(h http.Header, body []byte) (t Trigger, ok bool, err error) {
	switch Sender(h) {
	case SenderGitHub:
		t, err = DecodeGitHub(h, body)
	case SenderGitLab:
		t, err = DecodeGitLab(h, body)
	case SenderFlux:
		t, err = DecodeFlux(h, body)
	default:
		return Trigger{}, false, nil
	}
	return t, true, err
}

// BodyID returns "sha256:" and the hex SHA-256 of body: the idempotency key
// of last resort, for a payload that carries no id of its own.
func BodyID(body []byte) string {
	sum := sha256.Sum256(body)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// SignGitHub returns the X-Hub-Signature-256 value of body under secret:
// "sha256=" and the hex HMAC-SHA256. Flux's generic-hmac X-Signature is the same.
func SignGitHub(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// VerifyGitHubSignature checks X-Hub-Signature-256 ("sha256=<hex HMAC-SHA256
// of the raw body>") against secret, in constant time. Errors match ErrSignature.
func VerifyGitHubSignature(h http.Header, body []byte, secret string) error {
	return verifyHMAC(h, HeaderGitHubSignature, body, secret, false)
}

// VerifyFluxSignature checks the X-Signature of Flux's generic-hmac provider
// ("<hash>=<hex HMAC of the raw body>", hash sha256, sha384 or sha512)
// against secret, in constant time. Errors match ErrSignature.
func VerifyFluxSignature(h http.Header, body []byte, secret string) error {
	return verifyHMAC(h, HeaderFluxSignature, body, secret, true)
}

func verifyHMAC(h http.Header, header string, body []byte, secret string, anySHA2 bool) error {
	if secret == "" {
		return fmt.Errorf("%w: no secret configured", ErrSignature)
	}
	v := strings.TrimSpace(h.Get(header))
	if v == "" {
		return fmt.Errorf("%w: %s missing", ErrSignature, header)
	}
	algo, sig, _ := strings.Cut(v, "=")
	var newHash func() hash.Hash
	switch strings.ToLower(algo) {
	case "sha256":
		newHash = sha256.New
	case "sha384":
		newHash = sha512.New384
	case "sha512":
		newHash = sha512.New
	}
	if newHash == nil || (!anySHA2 && !strings.EqualFold(algo, "sha256")) {
		return fmt.Errorf("%w: %s must be sha256=<hex HMAC of the body>", ErrSignature, header)
	}
	got, err := hex.DecodeString(sig)
	if err != nil {
		return fmt.Errorf("%w: %s is not hex", ErrSignature, header)
	}
	m := hmac.New(newHash, []byte(secret))
	m.Write(body)
	if !hmac.Equal(got, m.Sum(nil)) {
		return fmt.Errorf("%w: %s does not match the body", ErrSignature, header)
	}
	return nil
}

// VerifyGitLabToken checks that X-Gitlab-Token equals secret, in constant
// time. Errors match ErrSignature.
func VerifyGitLabToken(h http.Header, secret string) error {
	if secret == "" {
		return fmt.Errorf("%w: no secret configured", ErrSignature)
	}
	token := h.Get(HeaderGitLabToken)
	if token == "" {
		return fmt.Errorf("%w: %s missing", ErrSignature, HeaderGitLabToken)
	}
	if subtle.ConstantTimeCompare([]byte(token), []byte(secret)) != 1 {
		return fmt.Errorf("%w: %s does not match", ErrSignature, HeaderGitLabToken)
	}
	return nil
}

// ReadRequest reads an HTTP/1.1 request as it goes over the wire, as in a
// file for `restorepoint explain --request`: the request line, the headers,
// a blank line and the body. Lines may end in CRLF or LF. The body is
// Content-Length bytes when that header is given (fewer is an error), else
// everything after the blank line, byte for byte (signatures are over the
// exact body). req.Body reads the same bytes as body.
func ReadRequest(r io.Reader) (req *http.Request, body []byte, err error) {
	all, err := io.ReadAll(r)
	if err != nil {
		return nil, nil, err
	}
	head, rest, ok := cutHead(all)
	if !ok {
		return nil, nil, errors.New("request: no blank line after the headers")
	}
	req, err = http.ReadRequest(bufio.NewReader(bytes.NewReader(head)))
	if err != nil {
		return nil, nil, fmt.Errorf("request: %w", err)
	}
	if len(req.TransferEncoding) > 0 || req.Header.Get("Transfer-Encoding") != "" {
		return nil, nil, errors.New("request: Transfer-Encoding is not supported; give the body as it is")
	}
	body = rest
	if cl := req.Header.Get("Content-Length"); cl != "" {
		n, err := strconv.Atoi(cl)
		if err != nil || n < 0 {
			return nil, nil, errors.New("request: Content-Length must be a number")
		}
		if n > len(rest) {
			return nil, nil, fmt.Errorf("request: Content-Length is %d but the body has %d bytes", n, len(rest))
		}
		body = rest[:n]
	}
	req.ContentLength = int64(len(body))
	req.Body = io.NopCloser(bytes.NewReader(body))
	return req, body, nil
}

// cutHead splits a request at the first blank line: head ends with the
// blank line (normalised to CRLF CRLF for http.ReadRequest), rest is what follows.
func cutHead(b []byte) (head, rest []byte, ok bool) {
	crlf := bytes.Index(b, []byte("\r\n\r\n"))
	lf := bytes.Index(b, []byte("\n\n"))
	switch {
	case crlf >= 0 && (lf < 0 || crlf < lf):
		return b[:crlf+4], b[crlf+4:], true
	case lf >= 0:
		h := bytes.ReplaceAll(b[:lf+1], []byte("\r\n"), []byte("\n"))
		h = bytes.ReplaceAll(h, []byte("\n"), []byte("\r\n"))
		return append(h, '\r', '\n'), b[lf+2:], true
	}
	return nil, nil, false
}

// jsonID returns the text of an integer id at key: a JSON integer (GitHub's
// and GitLab's ids) or a string of digits. Absent or null is "".
func (o object) jsonID(key string) (string, error) {
	v := o.raw(key)
	if v == nil {
		return "", nil
	}
	s := string(v)
	if v[0] == '"' {
		var err error
		if s, err = o.string(key); err != nil {
			return "", err
		}
	}
	if s == "" || len(s) > 20 || strings.Trim(s, "0123456789") != "" {
		return "", fieldErr(o.at(key), "must be an integer id")
	}
	return s, nil
}

// requiredID is jsonID for an id that must be there.
func (o object) requiredID(key string) (string, error) {
	s, err := o.jsonID(key)
	if err == nil && s == "" {
		err = fieldErr(o.at(key), "required, an integer id")
	}
	return s, err
}

// requiredString returns the string member key, which must not be blank.
func (o object) requiredString(key string) (string, error) {
	s, err := o.string(key)
	if err == nil && strings.TrimSpace(s) == "" {
		err = fieldErr(o.at(key), "required, a non-blank string")
	}
	return s, err
}

// member returns the object member key, parsed; ok is false when it is
// absent or null.
func (o object) member(key string) (sub object, ok bool, err error) {
	raw := o.raw(key)
	if raw == nil {
		return object{}, false, nil
	}
	sub, err = parseObject(raw, o.at(key))
	return sub, err == nil, err
}

// requiredMember returns the object member key, which must be there.
func (o object) requiredMember(key string) (object, error) {
	sub, ok, err := o.member(key)
	if err == nil && !ok {
		err = fieldErr(o.at(key), "required, a JSON object")
	}
	return sub, err
}

// headerText returns a header value fit for a Ref: at most 256 bytes of
// valid UTF-8 without control characters, else "".
func headerText(h http.Header, name string) string {
	v := strings.TrimSpace(h.Get(name))
	if len(v) > maxIdempotencyKeyLength || !printable(v) {
		return ""
	}
	return v
}

func printable(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f || r == '\uFFFD' {
			return false
		}
	}
	return true
}
