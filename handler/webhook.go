package handler

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"net/http"
	"strings"

	"github.com/restorepoint/restorepoint/events"
)

// Webhook authentication: the one place that decides whether an HTTP request
// comes from the holder of the webhook secret. Nothing of a request's body is
// decoded before it passes.
//
//   - A webhook of a known sender (events.Sender) carries its sender's proof
//     of the secret: GitHub's X-Hub-Signature-256, GitLab's X-Gitlab-Token,
//     Flux's X-Signature (generic-hmac provider) or, for Flux's generic
//     provider, Authorization: Bearer. It always needs the secret.
//   - Any other request carries Authorization: Bearer <secret> or an
//     X-Hub-Signature-256 HMAC of its body. Without a secret it is refused,
//     unless authentication is off (WEBHOOK_AUTH=none): then it passes
//     unchecked.
//
// Every comparison is in constant time. The errors say what was wrong for
// the log, and never hold the secret; the sender is told only
// errUnauthenticated's text.

// HeaderSignature is the header of a body's HMAC, as GitHub sends it.
const HeaderSignature = events.HeaderGitHubSignature

// errUnauthenticated is the fixed answer to a request that did not
// authenticate: what exactly was wrong goes to the log only.
var errUnauthenticated = errors.New("unauthorized: send the webhook secret as Authorization: Bearer <secret> " +
	"or sign the body (X-Hub-Signature-256: sha256=<hex HMAC-SHA256>)")

// Sign returns "sha256=" and the hex HMAC-SHA256 of body keyed with secret:
// GitHub's X-Hub-Signature-256, and Flux's generic-hmac X-Signature.
func Sign(secret string, body []byte) string {
	return "sha256=" + hex.EncodeToString(mac(sha256.New, secret, body))
}

func mac(h func() hash.Hash, secret string, body []byte) []byte {
	m := hmac.New(h, []byte(secret))
	m.Write(body)
	return m.Sum(nil)
}

// authenticate checks that r, with body, comes from the holder of secret;
// open lets requests of no known sender pass without (WEBHOOK_AUTH=none).
func authenticate(secret string, open bool, r *http.Request, sender string, body []byte) error {
	h := r.Header
	switch sender {
	case "":
		if open {
			return nil
		}
		if secret == "" {
			return errors.New("no webhook secret is configured (WEBHOOK_SECRET), and WEBHOOK_AUTH is not none")
		}
		if h.Get("Authorization") != "" {
			return bearer(h, secret)
		}
		if h.Get(HeaderSignature) != "" {
			return signature(h, HeaderSignature, body, secret, false)
		}
		return errors.New("no credentials: neither Authorization: Bearer nor " + HeaderSignature)
	case events.SenderGitHub, events.SenderGitLab, events.SenderFlux:
		if secret == "" {
			return fmt.Errorf("a %s webhook needs WEBHOOK_SECRET: set it here and as the webhook's secret", sender)
		}
	}
	switch sender {
	case events.SenderGitHub:
		return signature(h, events.HeaderGitHubSignature, body, secret, false)
	case events.SenderGitLab:
		token := h.Get(events.HeaderGitLabToken)
		if token == "" {
			return errors.New(events.HeaderGitLabToken + " missing")
		}
		if subtle.ConstantTimeCompare([]byte(token), []byte(secret)) != 1 {
			return errors.New(events.HeaderGitLabToken + " does not match")
		}
		return nil
	case events.SenderFlux:
		if h.Get(events.HeaderFluxSignature) != "" {
			return signature(h, events.HeaderFluxSignature, body, secret, true)
		}
		if h.Get("Authorization") != "" {
			return bearer(h, secret)
		}
		return errors.New("Flux: use the generic-hmac provider (" + events.HeaderFluxSignature + ") or send Authorization: Bearer <secret>")
	}
	return fmt.Errorf("unknown sender %q", sender)
}

// BearerAuthorized reports whether h carries Authorization: Bearer secret,
// compared in constant time. An empty secret authorizes nothing. GET
// /readyz's details and GET /metrics (METRICS_TOKEN) are checked with it.
func BearerAuthorized(h http.Header, secret string) bool {
	return secret != "" && bearer(h, secret) == nil
}

// bearer checks Authorization: Bearer <secret>.
func bearer(h http.Header, secret string) error {
	token, ok := strings.CutPrefix(h.Get("Authorization"), "Bearer ")
	if !ok {
		return errors.New("Authorization is not a bearer token")
	}
	if subtle.ConstantTimeCompare([]byte(strings.TrimSpace(token)), []byte(secret)) != 1 {
		return errors.New("Authorization: bearer token does not match WEBHOOK_SECRET")
	}
	return nil
}

// signature checks the HMAC of body in header: "sha256=<hex>", or with
// anySHA2 also sha384 and sha512 (Flux's providers may use them).
func signature(h http.Header, header string, body []byte, secret string, anySHA2 bool) error {
	algo, sig, _ := strings.Cut(strings.TrimSpace(h.Get(header)), "=")
	var newHash func() hash.Hash
	switch strings.ToLower(algo) {
	case "sha256":
		newHash = sha256.New
	case "sha384":
		newHash = sha512.New384
	case "sha512":
		newHash = sha512.New
	}
	if newHash == nil || !anySHA2 && !strings.EqualFold(algo, "sha256") {
		return errors.New(header + " must be sha256=<hex HMAC of the body>")
	}
	got, err := hex.DecodeString(sig)
	if err != nil {
		return errors.New(header + " is not hex")
	}
	if !hmac.Equal(got, mac(newHash, secret, body)) {
		return errors.New(header + ": signature does not match the body")
	}
	return nil
}
