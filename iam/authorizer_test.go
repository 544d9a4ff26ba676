package iam_test

import (
	"context"
	"errors"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/restorepoint/restorepoint/cbr"
	"github.com/restorepoint/restorepoint/cbr/cbrtest"
	"github.com/restorepoint/restorepoint/failure"
	"github.com/restorepoint/restorepoint/iam"
	"github.com/restorepoint/restorepoint/iam/iamtest"
)

// These tests authorise CBR calls through cbr.NewAuthorized against the
// emulator, which verifies AK/SK signatures.

const rotatedSecretKey = "rotated-SECRET-key-5c1d"

func backup() cbr.VaultBackup {
	return cbr.VaultBackup{VaultID: cbrtest.ExampleVaultID,
		Parameters: &cbr.CheckpointParam{Resources: []string{cbrtest.ExampleServerID}}}
}

// authorizedClient returns a client of srv that authorises with auth and
// does not wait between attempts.
func authorizedClient(t *testing.T, srv *cbrtest.Server, auth iam.Authorizer) *cbr.Client {
	t.Helper()
	c, err := cbr.New(srv.URL, cbrtest.DefaultProjectID, auth,
		cbr.WithHTTPClient(srv.Client()), cbr.WithBackoff(0, 0))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestSignerAgainstEmulator(t *testing.T) {
	srv := cbrtest.NewServer(cbrtest.Options{AvailableAfter: -1})
	defer srv.Close()
	dir := t.TempDir()
	skFile := filepath.Join(dir, "secret-key")
	writeFile(t, skFile, cbrtest.DemoSecretKey+"\n", time.Now().Add(-time.Hour))
	keys, err := iam.NewAccessKeys(iam.AccessKeysConfig{AccessKey: cbrtest.DemoAccessKey, SecretKeyFile: skFile})
	if err != nil {
		t.Fatal(err)
	}
	c := authorizedClient(t, srv, iam.Signer{Keys: keys})
	ctx := context.Background()
	if _, err := c.CreateCheckpoint(ctx, backup()); err != nil {
		t.Fatalf("signed create: %v", err)
	}
	reqs := srv.Requests()
	last := reqs[len(reqs)-1]
	if last.AccessKey != cbrtest.DemoAccessKey || last.HasToken || last.Header.Get("X-Project-Id") != cbrtest.DefaultProjectID {
		t.Fatalf("request %+v: want signed with the demo key and X-Project-Id", last)
	}
	auth, err := iam.ParseAuthorization(last.Header.Get("Authorization"))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(auth.SignedHeaders, ";"); got != "content-type;host;x-project-id;x-sdk-date" {
		t.Errorf("signed headers %s", got)
	}

	// A rotation: the emulator takes a new secret key, the file is
	// rewritten. The 401 makes the signer re-read it and try once more.
	srv.SetAccessKey(cbrtest.DemoAccessKey, rotatedSecretKey)
	writeFile(t, skFile, rotatedSecretKey, time.Now().Add(-time.Minute))
	before := len(srv.Requests())
	if _, err := c.CreateCheckpoint(ctx, backup()); err != nil {
		t.Fatalf("create after rotation: %v", err)
	}
	if n := len(srv.Requests()) - before; n > 2 {
		t.Errorf("%d requests after rotation, want at most 2", n)
	}

	// A wrong key stays refused: unauthorized, and the secret key is in no
	// error.
	writeFile(t, skFile, "wrong-SECRET-key-0000", time.Now())
	keys.InvalidateKeys("")
	_, err = c.CreateCheckpoint(ctx, backup())
	var apiErr *cbr.APIError
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusUnauthorized || failure.ClassOf(err) != failure.Unauthorized {
		t.Fatalf("wrong key: %v, want an unauthorized 401", err)
	}
	if strings.Contains(err.Error(), "wrong-SECRET") {
		t.Errorf("error shows the secret key: %v", err)
	}
}

func TestSignerSignsEveryAttemptAfresh(t *testing.T) {
	srv := cbrtest.NewServer(cbrtest.Options{AvailableAfter: -1})
	defer srv.Close()
	srv.Inject(cbrtest.Fault{Method: http.MethodPost, Path: "checkpoints", Status: http.StatusServiceUnavailable})
	now := time.Now().Add(-time.Minute)
	clock := func() time.Time { now = now.Add(2 * time.Second); return now }
	keys, _ := iam.NewAccessKeys(iam.AccessKeysConfig{AccessKey: cbrtest.DemoAccessKey, SecretKey: cbrtest.DemoSecretKey})
	c := authorizedClient(t, srv, iam.Signer{Keys: keys, Now: clock})
	if _, err := c.CreateCheckpoint(context.Background(), backup()); err != nil {
		t.Fatal(err)
	}
	reqs := srv.Requests()
	if len(reqs) != 2 {
		t.Fatalf("%d requests, want 2", len(reqs))
	}
	d0, d1 := reqs[0].Header.Get(iam.HeaderSdkDate), reqs[1].Header.Get(iam.HeaderSdkDate)
	if d0 == d1 || reqs[0].Header.Get("Authorization") == reqs[1].Header.Get("Authorization") {
		t.Errorf("the retry was not signed afresh: %s, %s", d0, d1)
	}
}

func TestSignerSkewedClockIsRefused(t *testing.T) {
	srv := cbrtest.NewServer(cbrtest.Options{})
	defer srv.Close()
	keys, _ := iam.NewAccessKeys(iam.AccessKeysConfig{AccessKey: cbrtest.DemoAccessKey, SecretKey: cbrtest.DemoSecretKey})
	skewed := func() time.Time { return time.Now().Add(-20 * time.Minute) }
	_, err := authorizedClient(t, srv, iam.Signer{Keys: keys, Now: skewed}).CreateCheckpoint(context.Background(), backup())
	if failure.ClassOf(err) != failure.Unauthorized || !strings.Contains(err.Error(), "X-Sdk-Date") {
		t.Fatalf("skewed clock: %v, want unauthorized naming X-Sdk-Date", err)
	}
}

func TestRequestCredentials(t *testing.T) {
	srv := cbrtest.NewServer(cbrtest.Options{AvailableAfter: -1})
	defer srv.Close()
	c := authorizedClient(t, srv, iam.RequestCredentials{})
	temporary := http.Header{
		iam.HeaderCFFSecurityAccessKey: {cbrtest.DemoTemporaryAccessKey},
		iam.HeaderCFFSecuritySecretKey: {cbrtest.DemoTemporarySecretKey},
		iam.HeaderCFFSecurityToken:     {cbrtest.DemoSecurityToken},
	}
	customRuntime := http.Header{
		iam.HeaderCFFAccessKey:     {cbrtest.DemoTemporaryAccessKey},
		iam.HeaderCFFSecretKey:     {cbrtest.DemoTemporarySecretKey},
		iam.HeaderCFFSecurityToken: {cbrtest.DemoSecurityToken},
	}
	tests := []struct {
		name      string
		header    http.Header
		wantKey   string
		wantToken bool
	}{
		{"temporary keys", temporary, cbrtest.DemoTemporaryAccessKey, false},
		{"custom runtime names", customRuntime, cbrtest.DemoTemporaryAccessKey, false},
		{"token", http.Header{iam.HeaderCFFAuthToken: {cbrtest.DefaultToken}}, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := iam.RequestContext(context.Background(), tt.header)
			if _, err := c.CreateCheckpoint(ctx, backup()); err != nil {
				t.Fatal(err)
			}
			reqs := srv.Requests()
			last := reqs[len(reqs)-1]
			if last.AccessKey != tt.wantKey || last.HasToken != tt.wantToken {
				t.Errorf("request signed by %q, token %v", last.AccessKey, last.HasToken)
			}
		})
	}
	t.Run("none", func(t *testing.T) {
		_, err := c.CreateCheckpoint(context.Background(), backup())
		var ae *cbr.AuthError
		if !errors.As(err, &ae) || failure.ClassOf(err) != failure.Unauthorized {
			t.Fatalf("err = %v, want an unauthorized *cbr.AuthError", err)
		}
		for _, h := range []string{"X-CFF-Security-Access-Key", "X-CFF-Security-Secret-Key", "X-CFF-Security-Token", "X-CFF-Access-Key", "X-CFF-Secret-Key", "X-CFF-Auth-Token"} {
			if !strings.Contains(err.Error(), h) {
				t.Errorf("error does not name %s: %v", h, err)
			}
		}
	})
	t.Run("wrong temporary secret key", func(t *testing.T) {
		h := temporary.Clone()
		h.Set(iam.HeaderCFFSecuritySecretKey, "wrong-SECRET-temp")
		_, err := c.CreateCheckpoint(iam.RequestContext(context.Background(), h), backup())
		if failure.ClassOf(err) != failure.Unauthorized || strings.Contains(err.Error(), "wrong-SECRET") {
			t.Fatalf("err = %v, want unauthorized without the secret", err)
		}
	})
}

func TestSecretCredentials(t *testing.T) {
	srv := cbrtest.NewServer(cbrtest.Options{AvailableAfter: -1})
	defer srv.Close()
	x := iamtest.NewExtension(sessionToken, secretName,
		`{"access_key":"`+cbrtest.DemoAccessKey+`","secret_key":"`+cbrtest.DemoSecretKey+`","webhook_secret":"hook"}`)
	port, stop := x.Start()
	defer stop()
	ext, err := iam.NewSecretsExtension(iam.SecretsExtensionConfig{SecretID: secretName, SessionToken: sessionToken, Port: port})
	if err != nil {
		t.Fatal(err)
	}
	creds, err := iam.NewSecretCredentials(iam.SecretCredentialsConfig{
		Secret: ext, IAMEndpoint: srv.URL + "/v3", ProjectID: cbrtest.DefaultProjectID, HTTPClient: srv.Client(),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer creds.Close()
	c := authorizedClient(t, srv, creds)
	ctx := context.Background()
	create := func(t *testing.T) cbrtest.Request {
		t.Helper()
		if _, err := c.CreateCheckpoint(ctx, backup()); err != nil {
			t.Fatal(err)
		}
		reqs := srv.Requests()
		return reqs[len(reqs)-1]
	}
	if r := create(t); r.AccessKey != cbrtest.DemoAccessKey {
		t.Fatalf("not signed with the secret's keys: %+v", r)
	}
	if hook, err := creds.WebhookSecret(ctx); err != nil || hook != "hook" {
		t.Fatalf("webhook secret %v, %v", hook, err)
	}

	// Rotated: the emulator wants a new key and the secret holds it. The
	// cached keys are refused once, then the secret is read again.
	srv.SetAccessKey(cbrtest.DemoAccessKey, rotatedSecretKey)
	x.Set(`{"access_key":"` + cbrtest.DemoAccessKey + `","secret_key":"` + rotatedSecretKey + `"}`)
	create(t)
	if n := x.Requests(); n != 2 {
		t.Errorf("extension read %d times, want 2", n)
	}

	// The secret now holds a password: tokens come from the emulator's IAM.
	srv.SetAccessKey("", "")
	x.Set(`{"username":"` + cbrtest.DemoUser + `","password":"` + cbrtest.DemoPassword + `","domain_name":"` + cbrtest.DemoDomain + `"}`)
	if r := create(t); !r.HasToken {
		t.Fatalf("password secret: no token sent: %+v", r)
	}

	// An extension that cannot be reached is unavailable.
	stop()
	ext.Invalidate("")
	if _, err := c.CreateCheckpoint(ctx, backup()); failure.ClassOf(err) != failure.Unavailable {
		t.Errorf("extension down: %v, want unavailable", err)
	}
}
