package events

import (
	"crypto/sha256"
	"encoding/hex"
	"net/textproto"
	"strings"

	"github.com/restorepoint/restorepoint/otc"
)

// Senders whose own identity a trigger's key is derived from (Ref.Sender):
// the webhook senders, as Sender names them, and the platforms' records.
// A CloudEvent's key has no sender: any sender may compose its source and id.
const (
	SenderGitHub        = "github"
	SenderGitLab        = "gitlab"
	SenderFlux          = "flux"
	SenderCTS           = "cts"           // a FunctionGraph CTS trigger's record
	SenderFunctionGraph = "functiongraph" // a FunctionGraph timer's tick
	SenderSMN           = "smn"           // an SMN message without an envelope
	SenderEventBridge   = "eventbridge"   // an AWS EventBridge event
	SenderRule          = "rule"          // a key a rule of RULES_FILE made
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

// Header is the header of a webhook request: the same type as net/http's
// Header (convert one with Header(h)), read by canonical name.
type Header = textproto.MIMEHeader

// Sender returns which webhook sender the headers come from: SenderGitHub
// (X-GitHub-Event), SenderGitLab (X-Gitlab-Event), SenderFlux (Gotk-Component
// or X-Signature), or "" for none of them.
func Sender(h Header) string {
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
func DecodeWebhook(h Header, body []byte) (t Trigger, ok bool, err error) {
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
	sub, err = parseMember(raw, o.at(key))
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
func headerText(h Header, name string) string {
	v := strings.TrimSpace(h.Get(name))
	if len(v) > maxIdempotencyKeyLength || !otc.Printable(v) {
		return ""
	}
	return v
}
