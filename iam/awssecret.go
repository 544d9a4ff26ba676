package iam

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/restorepoint/restorepoint/failure"
	"github.com/restorepoint/restorepoint/otc"
)

// The AWS Parameters and Secrets Lambda Extension (a Lambda layer) serves
// Secrets Manager secrets on localhost:
//
//	GET http://localhost:<port>/secretsmanager/get?secretId=<id>
//	X-Aws-Parameters-Secrets-Token: <AWS_SESSION_TOKEN>
//
// and answers GetSecretValue's JSON ({"ARN", "Name", "SecretString", …}).
const (
	// DefaultSecretsExtensionPort is the extension's port when
	// PARAMETERS_SECRETS_EXTENSION_HTTP_PORT is not set.
	DefaultSecretsExtensionPort = 2773
	// HeaderSecretsToken carries the Lambda session token to the extension.
	HeaderSecretsToken = "X-Aws-Parameters-Secrets-Token"

	defaultSecretAttempts = 5
	defaultSecretBackoff  = 100 * time.Millisecond
	secretAttemptTimeout  = 5 * time.Second
	maxSecretAnswer       = 1 << 20 // secrets hold at most 64 KiB
	maxQuotedBody         = 200
)

// CredentialKind says which credentials a secret holds.
type CredentialKind string

// The kinds of credentials a secret can hold.
const (
	// CredentialKeys: access_key and secret_key, optionally security_token.
	CredentialKeys CredentialKind = "keys"
	// CredentialPassword: username, password and domain_name.
	CredentialPassword CredentialKind = "password"
	// CredentialToken: token, an IAM token (for trials: it expires in 24 h).
	CredentialToken CredentialKind = "token"
)

// Credentials are what a credentials secret holds. Exactly one kind is set;
// when the JSON holds several, keys win over a password, a password over a
// token. The secrets never print.
type Credentials struct {
	// Kind says which of the fields below are set.
	Kind CredentialKind
	// Keys, for CredentialKeys (from access_key, secret_key, security_token).
	Keys Keys
	// Username, Password and DomainName, for CredentialPassword.
	Username   string
	Password   Secret
	DomainName string
	// Token, for CredentialToken.
	Token Secret
	// WebhookSecret (webhook_secret) is optional with every kind.
	WebhookSecret Secret
}

// Format prints the kind and the names, never a secret.
func (c Credentials) Format(f fmt.State, _ rune) {
	_, _ = fmt.Fprintf(f, "iam.Credentials{Kind: %s, Keys: %v, Username: %q, Password: %s, DomainName: %q, Token: %s, WebhookSecret: %s}",
		c.Kind, c.Keys, c.Username, presence(c.Password), c.DomainName, presence(c.Token), presence(c.WebhookSecret))
}

// SecretsExtensionConfig configures a [SecretsExtension]. The caller reads
// the environment (PARAMETERS_SECRETS_EXTENSION_HTTP_PORT, AWS_SESSION_TOKEN).
type SecretsExtensionConfig struct {
	// SecretID is the secret's name or ARN. Required.
	SecretID string
	// SessionToken is the function's AWS_SESSION_TOKEN, which the extension
	// requires. Required.
	SessionToken Secret
	// Port of the extension on localhost; 0 means
	// DefaultSecretsExtensionPort.
	Port int
	// HTTPClient sends the requests; nil means a client of its own. Each
	// attempt is bounded to 5 seconds besides the caller's context.
	HTTPClient *http.Client
	// Attempts bounds how often one read tries the extension when it
	// answers a transient error (connection refused, 400 during a cold
	// start, 429, 5xx); 0 means 5.
	Attempts int
	// Backoff is the wait after the first failed attempt, doubled after
	// each further one; 0 means 100 ms. The caller's context bounds it.
	Backoff time.Duration
	// MaxAge makes a cached secret be read again after this long; 0 keeps
	// it until Invalidate. The extension caches too (SECRETS_MANAGER_TTL,
	// at most 300 s), so a rotation shows only when both have expired.
	MaxAge time.Duration
	// Now tells the time for MaxAge; nil means time.Now.
	Now func() time.Time
}

// SecretsExtension reads credentials from a Secrets Manager secret through
// the AWS Parameters and Secrets Lambda Extension, caches them, and reads
// them again after Invalidate (call it when the API refuses them, so that a
// rotated secret takes effect without a redeploy). Concurrent callers share
// one read. It is a [KeySource] and a [TokenSource] for secrets of the
// matching kind. It is safe for concurrent use.
type SecretsExtension struct {
	secretID     string
	url          string
	sessionToken Secret
	client       *http.Client
	attempts     int
	backoff      time.Duration
	maxAge       time.Duration
	now          func() time.Time

	sem chan struct{} // held by the one read in flight

	mu      sync.Mutex
	cached  *Credentials
	readAt  time.Time
	invalid bool
}

// NewSecretsExtension returns the source configured by cfg, or an error
// naming every problem of cfg. It does not read the secret yet.
func NewSecretsExtension(cfg SecretsExtensionConfig) (*SecretsExtension, error) {
	var problems []string
	if strings.TrimSpace(cfg.SecretID) == "" {
		problems = append(problems, "no secret id")
	}
	if cfg.SessionToken == "" {
		problems = append(problems, "no session token (the extension wants the function's AWS_SESSION_TOKEN)")
	}
	if cfg.Port < 0 || cfg.Port > 65535 {
		problems = append(problems, fmt.Sprintf("port %d is out of range", cfg.Port))
	}
	if cfg.Attempts < 0 || cfg.Backoff < 0 || cfg.MaxAge < 0 {
		problems = append(problems, "negative Attempts, Backoff or MaxAge")
	}
	if len(problems) > 0 {
		return nil, errors.New("iam: invalid secrets extension config: " + strings.Join(problems, "; "))
	}
	s := &SecretsExtension{
		secretID:     cfg.SecretID,
		sessionToken: cfg.SessionToken,
		client:       cfg.HTTPClient,
		attempts:     cfg.Attempts,
		backoff:      cfg.Backoff,
		maxAge:       cfg.MaxAge,
		now:          cfg.Now,
		sem:          make(chan struct{}, 1),
	}
	port := cfg.Port
	if port == 0 {
		port = DefaultSecretsExtensionPort
	}
	s.url = "http://localhost:" + strconv.Itoa(port) + "/secretsmanager/get?secretId=" + url.QueryEscape(cfg.SecretID)
	if s.client == nil {
		s.client = &http.Client{}
	}
	if s.attempts == 0 {
		s.attempts = defaultSecretAttempts
	}
	if s.backoff == 0 {
		s.backoff = defaultSecretBackoff
	}
	if s.now == nil {
		s.now = time.Now
	}
	return s, nil
}

// SecretError is a failed read of a credentials secret: the extension could
// not be reached or refused, or the secret does not hold usable credentials.
// Its message names the secret and what is missing, never a secret value.
type SecretError struct {
	// SecretID is the secret asked for.
	SecretID string
	// StatusCode is the extension's last HTTP status; 0 when it was not
	// reached or answered 200 with an unusable secret.
	StatusCode int
	// Reason says what is wrong.
	Reason string
	// Attempts is how many requests were sent.
	Attempts int
	// Err is the underlying network or context error, if any.
	Err error

	temporary bool
}

// Error returns "iam: secret <id>: <reason>".
func (e *SecretError) Error() string {
	msg := fmt.Sprintf("iam: secret %q: %s", e.SecretID, e.Reason)
	if e.Attempts > 1 {
		msg += fmt.Sprintf(" (after %d attempts)", e.Attempts)
	}
	return msg
}

// Unwrap returns the network or context error, if any.
func (e *SecretError) Unwrap() error { return e.Err }

// FailureClass returns [failure.Unavailable] when reading again later may
// succeed (the extension was unreachable, throttled or failing), else
// [failure.Unauthorized]: a secret without the fields it needs, or an
// extension refusing access.
func (e *SecretError) FailureClass() failure.Class {
	if e.temporary {
		return failure.Unavailable
	}
	return failure.Unauthorized
}

// Credentials returns the secret's credentials, from the cache when it has
// them and Invalidate was not called since (nor MaxAge passed).
func (s *SecretsExtension) Credentials(ctx context.Context) (Credentials, error) {
	if c, ok := s.fresh(); ok {
		return c, nil
	}
	select {
	case s.sem <- struct{}{}:
	case <-ctx.Done():
		return Credentials{}, &SecretError{SecretID: s.secretID, Reason: "waiting for a read: " + ctx.Err().Error(), Err: ctx.Err(), temporary: true}
	}
	defer func() { <-s.sem }()
	if c, ok := s.fresh(); ok { // read by the caller we waited for
		return c, nil
	}
	c, err := s.read(ctx)
	if err != nil {
		return Credentials{}, err
	}
	s.mu.Lock()
	s.cached, s.readAt, s.invalid = &c, s.now(), false
	s.mu.Unlock()
	return c, nil
}

// fresh returns the cached credentials if they may still be used.
func (s *SecretsExtension) fresh() (Credentials, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cached == nil || s.invalid || s.maxAge > 0 && s.now().Sub(s.readAt) >= s.maxAge {
		return Credentials{}, false
	}
	return *s.cached, true
}

// Invalidate makes the next call read the secret again, whatever was
// refused. The cached credentials are kept until then is done.
func (s *SecretsExtension) Invalidate(string) {
	s.mu.Lock()
	s.invalid = true
	s.mu.Unlock()
}

// InvalidateKeys is Invalidate, for [KeyInvalidator].
func (s *SecretsExtension) InvalidateKeys(accessKey string) { s.Invalidate(accessKey) }

// Keys returns the secret's access keys, or an error when it holds another
// kind of credentials.
func (s *SecretsExtension) Keys(ctx context.Context) (Keys, error) {
	c, err := s.Credentials(ctx)
	if err != nil {
		return Keys{}, err
	}
	if c.Kind != CredentialKeys {
		return Keys{}, &SecretError{SecretID: s.secretID, Reason: fmt.Sprintf("holds a %s, not access keys", c.Kind)}
	}
	return c.Keys, nil
}

// Token returns the secret's token, or an error when it holds another kind
// of credentials.
func (s *SecretsExtension) Token(ctx context.Context) (string, error) {
	c, err := s.Credentials(ctx)
	if err != nil {
		return "", err
	}
	if c.Kind != CredentialToken {
		return "", &SecretError{SecretID: s.secretID, Reason: fmt.Sprintf("holds %s, not a token", kindPhrase(c.Kind))}
	}
	return c.Token.Reveal(), nil
}

// kindPhrase names a kind in a sentence.
func kindPhrase(k CredentialKind) string {
	if k == CredentialKeys {
		return "access keys"
	}
	return "a " + string(k)
}

// Format prints the secret id, never the session token or the secret.
func (s *SecretsExtension) Format(f fmt.State, _ rune) {
	_, _ = fmt.Fprintf(f, "iam.SecretsExtension{SecretID: %q}", s.secretID)
}

// read asks the extension, retrying transient errors.
func (s *SecretsExtension) read(ctx context.Context) (Credentials, error) {
	backoff := s.backoff
	for attempt := 1; ; attempt++ {
		c, err := s.readOnce(ctx)
		if err == nil {
			return c, nil
		}
		err.Attempts = attempt
		if !err.temporary || attempt >= s.attempts {
			return Credentials{}, err
		}
		if otc.Sleep(ctx, backoff) != nil {
			return Credentials{}, err
		}
		backoff *= 2
	}
}

// readOnce sends one request and interprets the answer.
func (s *SecretsExtension) readOnce(ctx context.Context) (Credentials, *SecretError) {
	fail := func(status int, temporary bool, err error, reason string) (Credentials, *SecretError) {
		return Credentials{}, &SecretError{SecretID: s.secretID, StatusCode: status, Reason: reason, Err: err, temporary: temporary}
	}
	ctx, cancel := context.WithTimeout(ctx, secretAttemptTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url, nil)
	if err != nil {
		return fail(0, false, err, "build request: "+err.Error())
	}
	req.Header.Set(HeaderSecretsToken, s.sessionToken.Reveal())
	resp, err := s.client.Do(req)
	if err != nil {
		return fail(0, true, err, "the Parameters and Secrets extension cannot be reached: "+networkReason(err))
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxSecretAnswer+1))
	if err != nil {
		return fail(0, true, err, "read the extension's answer: "+networkReason(err))
	}
	if resp.StatusCode != http.StatusOK {
		reason := fmt.Sprintf("the Parameters and Secrets extension answered %d %s",
			resp.StatusCode, http.StatusText(resp.StatusCode))
		if q := quoteBody(data); q != "" {
			reason += ": " + q
		}
		return fail(resp.StatusCode, transientStatus(resp.StatusCode, data), nil, reason)
	}
	if len(data) > maxSecretAnswer {
		return fail(resp.StatusCode, false, nil, fmt.Sprintf("the extension's answer exceeds %d bytes", maxSecretAnswer))
	}
	var answer struct {
		SecretString *string
	}
	if err := json.Unmarshal(data, &answer); err != nil {
		return fail(resp.StatusCode, true, nil, "the extension's answer is not GetSecretValue JSON")
	}
	if answer.SecretString == nil {
		return fail(0, false, nil, "has no SecretString (binary secrets are not supported)")
	}
	c, reason := parseCredentials(*answer.SecretString)
	if reason != "" {
		return fail(0, false, nil, reason)
	}
	return c, nil
}

// transientStatus reports extension answers worth asking again: 400 (it
// answers so during cold-start bursts) unless the body names a permanent
// Secrets Manager error, 429 and 5xx.
func transientStatus(status int, body []byte) bool {
	switch {
	case status == http.StatusBadRequest:
		for _, permanent := range []string{"ResourceNotFound", "AccessDenied", "DecryptionFailure", "InvalidParameter", "InvalidRequest", "not authorized"} {
			if strings.Contains(string(body), permanent) {
				return false
			}
		}
		return true
	case status == http.StatusTooManyRequests, status >= 500:
		return true
	}
	return false
}

// networkReason shortens a network error: "connection refused" rather than
// the whole dial chain.
func networkReason(err error) string {
	var opErr *net.OpError
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "timed out"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.As(err, &opErr) && opErr.Err != nil:
		return opErr.Op + ": " + strings.TrimPrefix(opErr.Err.Error(), "connect: ")
	}
	return err.Error()
}

// quoteBody returns a short printable excerpt of an error answer. Error
// answers of the extension name the failure, never a secret value.
func quoteBody(b []byte) string {
	s := strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, strings.TrimSpace(string(b)))
	if len(s) > maxQuotedBody {
		s = s[:maxQuotedBody] + "…"
	}
	return s
}

// parseCredentials decodes a SecretString. It returns the credentials, or
// the reason (naming fields, never values) why they are unusable.
func parseCredentials(secretString string) (Credentials, string) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal([]byte(secretString), &fields); err != nil || fields == nil {
		return Credentials{}, "SecretString is not a JSON object"
	}
	get := func(name string) (string, string) {
		raw, ok := fields[name]
		if !ok || string(raw) == "null" {
			return "", ""
		}
		var v string
		if json.Unmarshal(raw, &v) != nil {
			return "", "field " + name + " is not a string"
		}
		return strings.TrimSpace(v), ""
	}
	names := []string{"access_key", "secret_key", "security_token", "username", "password", "domain_name", "token", "webhook_secret"}
	v := make(map[string]string, len(names))
	for _, name := range names {
		value, problem := get(name)
		if problem != "" {
			return Credentials{}, problem
		}
		v[name] = value
	}
	c := Credentials{WebhookSecret: Secret(v["webhook_secret"])}
	missing := func(group ...string) string {
		var m []string
		for _, name := range group {
			if v[name] == "" {
				m = append(m, name)
			}
		}
		if len(m) == 0 {
			return ""
		}
		return "JSON has " + strings.Join(present(v, group), ", ") + " but no " + strings.Join(m, ", ")
	}
	switch {
	case v["access_key"] != "" || v["secret_key"] != "":
		if reason := missing("access_key", "secret_key"); reason != "" {
			return Credentials{}, reason
		}
		c.Kind = CredentialKeys
		c.Keys = Keys{AccessKey: v["access_key"], SecretKey: Secret(v["secret_key"]), SecurityToken: Secret(v["security_token"])}
		if err := c.Keys.Validate(); err != nil {
			return Credentials{}, strings.TrimPrefix(err.Error(), "iam: ")
		}
	case v["username"] != "" || v["password"] != "" || v["domain_name"] != "":
		if reason := missing("username", "password", "domain_name"); reason != "" {
			return Credentials{}, reason
		}
		c.Kind = CredentialPassword
		c.Username, c.Password, c.DomainName = v["username"], Secret(v["password"]), v["domain_name"]
	case v["token"] != "":
		c.Kind = CredentialToken
		c.Token = Secret(v["token"])
	default:
		return Credentials{}, "JSON has neither access_key/secret_key, username/password/domain_name nor token"
	}
	for _, name := range []string{"password", "token", "webhook_secret"} {
		if strings.ContainsFunc(v[name], isControl) {
			return Credentials{}, "field " + name + " contains control characters"
		}
	}
	return c, ""
}

// present returns the names in group whose values are set.
func present(v map[string]string, group []string) []string {
	var p []string
	for _, name := range group {
		if v[name] != "" {
			p = append(p, name)
		}
	}
	return p
}

// compile-time checks
var (
	_ KeySource        = (*SecretsExtension)(nil)
	_ KeyInvalidator   = (*SecretsExtension)(nil)
	_ TokenSource      = (*SecretsExtension)(nil)
	_ TokenInvalidator = (*SecretsExtension)(nil)
)
