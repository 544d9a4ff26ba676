package e2e

import (
	"bytes"
	"context"
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// serveExitsTwo runs `restorepoint serve` with env as its whole
// environment, expects it to exit with status 2 at once, and returns what it
// wrote to stderr.
func serveExitsTwo(t *testing.T, env ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binPath, "serve")
	cmd.Env = env
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 2 {
		t.Fatalf("exit: %v, want status 2\n%s", err, stderr.String())
	}
	return stderr.String()
}

// TestBadConfigurationExitsTwo starts the binary with several configuration
// problems at once: it must list them all, exit with status 2, and not echo
// the secret it was given.
func TestBadConfigurationExitsTwo(t *testing.T) {
	out := serveExitsTwo(t,
		"PATH=/usr/bin:/bin",
		"IAM_PASSWORD="+secretPassword,
		"CBR_VAULT_ROUTES=daily:3b5816b5-f29c-4172-9d9a-76c719a659ce,weekly",
		"CBR_ENDPOINT=ftp://example",
		"PORT=99999",
	)
	for _, want := range []string{
		"CBR_PROJECT_ID: required",
		"CBR_VAULT_ROUTES:",
		"CBR_ENDPOINT: must be an http(s) URL",
		"IAM_ENDPOINT: required",
		"PORT: must be between 0 and 65535",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("stderr lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, secretPassword) {
		t.Fatalf("stderr shows the password:\n%s", out)
	}
}

// TestBadAccessKeyConfigurationExitsTwo: a malformed access key and a
// missing secret key file are known at start: exit 2, both named, no
// secret shown.
func TestBadAccessKeyConfigurationExitsTwo(t *testing.T) {
	out := serveExitsTwo(t,
		"PATH=/usr/bin:/bin",
		"CBR_PROJECT_ID="+"f841e01fd2b14e7fa41b6ae7aa6b0594",
		"CBR_ACCESS_KEY="+secretKey, // a secret key pasted in the wrong place
		"CBR_SECRET_KEY_FILE="+t.TempDir()+"/missing",
		"CBR_SECURITY_TOKEN="+secretToken,
		"CBR_SECURITY_TOKEN_FILE=/also/given",
	)
	for _, want := range []string{
		"CBR_ACCESS_KEY: the access key is malformed",
		"CBR_SECRET_KEY_FILE: ", "no such file",
		"CBR_SECURITY_TOKEN: set together with CBR_SECURITY_TOKEN_FILE",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("stderr lacks %q:\n%s", want, out)
		}
	}
	for _, s := range searchedSecrets {
		if strings.Contains(out, s) {
			t.Fatalf("stderr shows a secret:\n%s", out)
		}
	}
}
