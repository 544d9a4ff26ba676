package iam

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"
)

// SecretCredentialsConfig configures a [SecretCredentials] authorizer.
type SecretCredentialsConfig struct {
	// Secret reads the credentials. Required.
	Secret *SecretsExtension
	// IAMEndpoint is where tokens are asked for when the secret holds a
	// password (see [PasswordConfig.Endpoint]).
	IAMEndpoint string
	// ProjectID scopes password tokens. Required for a password secret.
	ProjectID string
	// HTTPClient sends IAM requests; nil means http.DefaultClient.
	HTTPClient *http.Client
	// Now tells the signing time and token expiry; nil means time.Now.
	Now func() time.Time
}

// SecretCredentials authorises requests with whatever a credentials secret
// holds ([Credentials]): access keys sign each attempt ([Signer]), a password
// gets tokens from IAM ([Password], refreshed in the background), a token is
// sent as it is. When the API refuses the credentials (401), the secret is
// read again on the next request, so a rotated secret takes effect without a
// redeploy. It is safe for concurrent use; Close stops a token refresh.
type SecretCredentials struct {
	cfg SecretCredentialsConfig

	mu       sync.Mutex
	password *Password   // for the password secret last seen
	login    Credentials // the username, password and domain of password
}

// NewSecretCredentials returns the authorizer cfg describes.
func NewSecretCredentials(cfg SecretCredentialsConfig) (*SecretCredentials, error) {
	if cfg.Secret == nil {
		return nil, fmt.Errorf("iam: secret credentials: no secret")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &SecretCredentials{cfg: cfg}, nil
}

// Authorize reads the secret (cached) and authorises req with what it holds.
func (s *SecretCredentials) Authorize(ctx context.Context, req *http.Request, body []byte) (Grant, error) {
	c, err := s.cfg.Secret.Credentials(ctx)
	if err != nil {
		return Grant{}, err
	}
	reread := func() { s.cfg.Secret.Invalidate("") }
	switch c.Kind {
	case CredentialKeys:
		g, err := signWith(c.Keys, req, body, s.cfg.Now())
		g.Refused = reread
		return g, err
	case CredentialToken:
		req.Header.Set("X-Auth-Token", c.Token.Reveal())
		return Grant{Secrets: []string{c.Token.Reveal()}, Refused: reread}, nil
	case CredentialPassword:
		p, err := s.passwordSource(c)
		if err != nil {
			return Grant{}, err
		}
		token, err := p.Token(ctx)
		if err != nil {
			return Grant{}, err
		}
		req.Header.Set("X-Auth-Token", token)
		return Grant{
			Secrets: []string{token, c.Password.Reveal()},
			Refused: func() { p.Invalidate(token); reread() },
		}, nil
	}
	return Grant{}, &SecretError{SecretID: s.cfg.Secret.secretID, Reason: fmt.Sprintf("holds unknown credentials %q", c.Kind)}
}

// passwordSource returns the token source for the login c holds, replacing
// (and closing) the one of an earlier login.
func (s *SecretCredentials) passwordSource(c Credentials) (*Password, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.password != nil && s.login.Username == c.Username && s.login.Password == c.Password && s.login.DomainName == c.DomainName {
		return s.password, nil
	}
	p, err := NewPassword(PasswordConfig{
		Endpoint:   s.cfg.IAMEndpoint,
		Username:   c.Username,
		Password:   c.Password,
		DomainName: c.DomainName,
		ProjectID:  s.cfg.ProjectID,
		HTTPClient: s.cfg.HTTPClient,
		Now:        s.cfg.Now,
	})
	if err != nil {
		return nil, &SecretError{SecretID: s.cfg.Secret.secretID, Reason: "holds a password, but " + err.Error()}
	}
	if s.password != nil {
		go s.password.Close() // a refresh under way ends; nobody waits for it
	}
	s.password, s.login = p, c
	return p, nil
}

// Check reads the secret and reports whether it holds usable credentials
// (for a readiness check); it asks IAM nothing.
func (s *SecretCredentials) Check(ctx context.Context) error {
	_, err := s.cfg.Secret.Credentials(ctx)
	return err
}

// WebhookSecret returns the secret's webhook_secret ("" when it has none).
func (s *SecretCredentials) WebhookSecret(ctx context.Context) (Secret, error) {
	c, err := s.cfg.Secret.Credentials(ctx)
	if err != nil {
		return "", err
	}
	return c.WebhookSecret, nil
}

// Close stops the token refresh of a password secret. It returns nil.
func (s *SecretCredentials) Close() error {
	s.mu.Lock()
	p := s.password
	s.mu.Unlock()
	if p != nil {
		return p.Close()
	}
	return nil
}

// Format prints the secret's name, never a secret.
func (s *SecretCredentials) Format(f fmt.State, _ rune) {
	_, _ = fmt.Fprintf(f, "iam.SecretCredentials{Secret: %v}", s.cfg.Secret)
}

var _ Authorizer = (*SecretCredentials)(nil)
