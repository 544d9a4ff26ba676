package iam

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// KeySource gives the access keys to sign a request with. Implementations
// are safe for concurrent use; a caller asks before every attempt, so a
// source can hand out new keys between retries.
type KeySource interface {
	Keys(ctx context.Context) (Keys, error)
}

// KeyInvalidator is implemented by key sources that can read their keys
// again after the API refused them (answered 401): the next Keys call then
// does. accessKey is the refused access key; sources may ignore it.
type KeyInvalidator interface {
	InvalidateKeys(accessKey string)
}

// AccessKeysConfig configures an [AccessKeys] source. The access key, the
// secret key and the security token each come either as a value or from a
// file (a pair rotated in a mounted secret changes both files at once).
type AccessKeysConfig struct {
	// AccessKey (AK). Required unless AccessKeyFile is set.
	AccessKey string
	// AccessKeyFile is a file holding the access key, re-read when it
	// changes.
	AccessKeyFile string
	// SecretKey (SK). Required unless SecretKeyFile is set.
	SecretKey Secret
	// SecretKeyFile is a file holding the secret key, re-read when it
	// changes (like a token [File]).
	SecretKeyFile string
	// SecurityToken makes the keys temporary. Optional.
	SecurityToken Secret
	// SecurityTokenFile is a file holding the security token, re-read when
	// it changes. Optional.
	SecurityTokenFile string
}

// AccessKeys is a [KeySource] of one access key with its secret key and
// optional security token, each given as a value or kept in a file, such as
// a mounted Kubernetes secret. The files are re-read whenever they change
// and after [AccessKeys.InvalidateKeys].
type AccessKeys struct {
	accessKey     string
	accessFile    *File // nil when accessKey is given
	secretKey     Secret
	secretFile    *File // nil when secretKey is given
	securityToken Secret
	tokenFile     *File // nil unless a security token file is given
}

// NewAccessKeys returns the source configured by cfg, or an error naming
// every problem of cfg at once: a missing or malformed access key, no secret
// key, a value and a file for the same thing. It does not read the files:
// call Keys once to check them.
func NewAccessKeys(cfg AccessKeysConfig) (*AccessKeys, error) {
	var problems []string
	switch {
	case cfg.AccessKey != "" && cfg.AccessKeyFile != "":
		problems = append(problems, "both an access key and an access key file (give one)")
	case cfg.AccessKeyFile == "":
		if err := (Keys{AccessKey: cfg.AccessKey, SecretKey: "x"}).Validate(); err != nil {
			problems = append(problems, strings.TrimPrefix(err.Error(), "iam: "))
		}
	}
	switch {
	case cfg.SecretKey == "" && cfg.SecretKeyFile == "":
		problems = append(problems, "no secret key (give the secret key or a secret key file)")
	case cfg.SecretKey != "" && cfg.SecretKeyFile != "":
		problems = append(problems, "both a secret key and a secret key file (give one)")
	case strings.ContainsFunc(cfg.SecretKey.Reveal(), isControl):
		problems = append(problems, "the secret key contains control characters")
	}
	switch {
	case cfg.SecurityToken != "" && cfg.SecurityTokenFile != "":
		problems = append(problems, "both a security token and a security token file (give one)")
	case strings.ContainsFunc(cfg.SecurityToken.Reveal(), isControl):
		problems = append(problems, "the security token contains control characters")
	}
	if len(problems) > 0 {
		return nil, &wrapError{
			msg: "iam: invalid access key config: " + strings.Join(problems, "; "),
			err: ErrInvalidKeys,
		}
	}
	a := &AccessKeys{accessKey: cfg.AccessKey, secretKey: cfg.SecretKey, securityToken: cfg.SecurityToken}
	if cfg.AccessKeyFile != "" {
		a.accessFile = newFile(cfg.AccessKeyFile, "access key")
	}
	if cfg.SecretKeyFile != "" {
		a.secretFile = newFile(cfg.SecretKeyFile, "secret key")
	}
	if cfg.SecurityTokenFile != "" {
		a.tokenFile = newFile(cfg.SecurityTokenFile, "security token")
	}
	return a, nil
}

// Keys returns the keys, reading the files that changed since the last
// call. Errors name the file and what is wrong with it (missing, empty, too
// large, more than one line) but never show its content.
func (a *AccessKeys) Keys(context.Context) (Keys, error) {
	k := Keys{AccessKey: a.accessKey, SecretKey: a.secretKey, SecurityToken: a.securityToken}
	var errs []error
	if a.accessFile != nil {
		ak, err := a.accessFile.secret()
		errs = append(errs, err)
		k.AccessKey = ak.Reveal()
	}
	if a.secretFile != nil {
		sk, err := a.secretFile.secret()
		errs = append(errs, err)
		k.SecretKey = sk
	}
	if a.tokenFile != nil {
		token, err := a.tokenFile.secret()
		errs = append(errs, err)
		k.SecurityToken = token
	}
	if err := errors.Join(errs...); err != nil {
		return Keys{}, err
	}
	if a.accessFile != nil {
		if err := k.Validate(); err != nil {
			return Keys{}, fmt.Errorf("access key file %q: %w", a.accessFile.path, err)
		}
	}
	return k, nil
}

// InvalidateKeys makes the next Keys call read the files again, whatever
// access key was refused.
func (a *AccessKeys) InvalidateKeys(string) {
	if a.accessFile != nil {
		a.accessFile.Invalidate("")
	}
	if a.secretFile != nil {
		a.secretFile.Invalidate("")
	}
	if a.tokenFile != nil {
		a.tokenFile.Invalidate("")
	}
}

// Format prints the access key and where the secrets come from, never
// their values.
func (a *AccessKeys) Format(f fmt.State, _ rune) {
	sk := presence(a.secretKey)
	if a.secretFile != nil {
		sk = fmt.Sprintf("file %q", a.secretFile.path)
	}
	token := presence(a.securityToken)
	if a.tokenFile != nil {
		token = fmt.Sprintf("file %q", a.tokenFile.path)
	}
	ak := fmt.Sprintf("%q", a.accessKey)
	if a.accessFile != nil {
		ak = fmt.Sprintf("file %q", a.accessFile.path)
	}
	_, _ = fmt.Fprintf(f, "iam.AccessKeys{AccessKey: %s, SecretKey: %s, SecurityToken: %s}", ak, sk, token)
}

// compile-time checks
var (
	_ KeySource      = (*AccessKeys)(nil)
	_ KeyInvalidator = (*AccessKeys)(nil)
)
