package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/restorepoint/restorepoint/cbr"
	"github.com/restorepoint/restorepoint/cbr/cbrtest"
)

// clearEnv unsets every variable the configuration reads, for the test.
func clearEnv(t *testing.T) {
	t.Helper()
	for _, key := range configKeys() {
		t.Setenv(key, "")
		os.Unsetenv(key)
	}
}

func configKeys() []string {
	var buf bytes.Buffer
	_ = printEnv(&buf)
	var keys []string
	for line := range strings.SplitSeq(buf.String(), "\n") {
		if k, ok := strings.CutPrefix(line, "| `"); ok {
			keys = append(keys, k[:strings.Index(k, "`")])
		}
	}
	return keys
}

func runCmd(t *testing.T, stdin string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err = run(context.Background(), args, func(string) string { return "" }, strings.NewReader(stdin), &out, &errOut)
	return out.String(), errOut.String(), err
}

func TestConfigErrorsListedTogether(t *testing.T) {
	clearEnv(t)
	t.Setenv("CBR_VAULT_ROUTES", "daily:abc,weekly")
	t.Setenv("CBR_TIMEOUT", "soon")
	t.Setenv("IAM_PASSWORD", "pw-SECRET-991")
	_, err := loadConfig()
	var ce *ConfigError
	if !errors.As(err, &ce) {
		t.Fatalf("err = %v, want *ConfigError", err)
	}
	msg := err.Error()
	for _, want := range []string{
		"CBR_PROJECT_ID: required",
		`CBR_VAULT_ROUTES: "weekly" is not value:vault-id`,
		`CBR_TIMEOUT: cannot parse "soon"`,
		"IAM_ENDPOINT: required when CBR_AUTH=password",
		"IAM_USERNAME: required",
		"IAM_DOMAIN_NAME: required",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q:\n%s", want, msg)
		}
	}
	if strings.Contains(msg, "pw-SECRET-991") {
		t.Fatalf("error shows the password:\n%s", msg)
	}
	// serve exits with the configuration error (status 2 in main).
	_, _, err = runCmd(t, "", "serve")
	if !errors.As(err, &ce) {
		t.Fatalf("serve: err = %v", err)
	}
}

// Values that do not parse are all reported, each once, and do not make the
// variables read after them look unset (envconfig.Process stops at the first).
func TestConfigUnparsableValuesListedTogether(t *testing.T) {
	clearEnv(t)
	t.Setenv("CBR_PROJECT_ID", cbrtest.DefaultProjectID)
	t.Setenv("CBR_TOKEN", "tok")
	t.Setenv("PORT", "eighty")
	t.Setenv("CBR_TIMEOUT", "soon")
	t.Setenv("DRY_RUN", "maybe")
	_, err := loadConfig()
	var ce *ConfigError
	if !errors.As(err, &ce) {
		t.Fatalf("err = %v, want *ConfigError", err)
	}
	want := []string{
		`CBR_TIMEOUT: cannot parse "soon" as time.Duration`,
		`DRY_RUN: cannot parse "maybe" as bool`,
		`PORT: cannot parse "eighty" as int`,
	}
	if len(ce.Problems) != len(want) {
		t.Fatalf("problems:\n%s\nwant exactly:\n  %s", err, strings.Join(want, "\n  "))
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error lacks %q:\n%s", w, err)
		}
	}
}

func TestConfigValidAndDefaults(t *testing.T) {
	clearEnv(t)
	t.Setenv("RUNTIME_PROJECT_ID", "4229d7a45436489f8c3dc2b1d35d4987")
	t.Setenv("CBR_TOKEN_FILE", "/run/secrets/cbr-token")
	t.Setenv("CBR_VAULT_ROUTES", "daily: "+cbrtest.ExampleVaultID+" , weekly:"+cbrtest.WeeklyVaultID)
	t.Setenv("CBR_INCREMENTAL", "false")
	cfg, err := loadConfig()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.ProjectID != "4229d7a45436489f8c3dc2b1d35d4987" || cfg.Auth != authTokenFile ||
		cfg.endpoint() != "https://cbr.eu-de.otc.t-systems.com" || cfg.Port != 8080 || cfg.MaxAttempts != 4 {
		t.Fatalf("cfg = %+v", cfg)
	}
	fc := cfg.functionConfig()
	if fc.VaultRoutes["daily"] != cbrtest.ExampleVaultID || fc.VaultRoutes["weekly"] != cbrtest.WeeklyVaultID || !fc.FullBackups {
		t.Fatalf("function config = %+v", fc)
	}
	if got := defaultConfig(); got.Timeout.String() != "10s" || got.Region != "eu-de" || !got.Incremental || got.MaxBodyBytes != 1<<20 {
		t.Fatalf("defaultConfig = %+v", got)
	}
}

func TestHelpEnvMatchesREADME(t *testing.T) {
	out, _, err := runCmd(t, "", "help", "env")
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	const start, end = "<!-- env-table:start -->\n", "<!-- env-table:end -->"
	s := string(readme)
	i, j := strings.Index(s, start), strings.Index(s, end)
	if i < 0 || j < i {
		t.Fatal("README has no env-table markers")
	}
	if got := s[i+len(start) : j]; got != out {
		t.Fatalf("README configuration table differs from 'restorepoint help env'; paste its output between the markers.\nhelp env:\n%s\nREADME:\n%s", out, got)
	}
	if len(configKeys()) < 25 {
		t.Fatalf("only %d variables listed", len(configKeys()))
	}
}

func TestDemo(t *testing.T) {
	out, _, err := runCmd(t, "", "demo")
	if err != nil {
		t.Fatalf("demo: %v\n%s", err, out)
	}
	for _, want := range []string{
		"<- HTTP 200  io.restorepoint.checkpoint.created",
		`"code": "BackupService.6135"`,
		`"duplicate": true`,
		"<- HTTP 200  io.restorepoint.trigger.ignored",
		"<- HTTP 400  io.restorepoint.checkpoint.failed",
		`"message": "data.service: required`,
		"The emulator created 2 checkpoints; the result sink received 4 result events.",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("demo output lacks %q", want)
		}
	}
	if strings.Contains(out, cbrtest.DefaultToken) {
		t.Error("demo output shows the token")
	}
}

func TestExplain(t *testing.T) {
	clearEnv(t)
	t.Setenv("CBR_DEFAULT_VAULT_ID", cbrtest.ExampleVaultID)
	tests := []struct {
		file    string
		outcome string
		wantErr bool
		reqs    int
	}{
		{"deploy-pre.json", "planned", false, 1},
		{"server-tagged.json", "planned", false, 1},
		{"checkpoint-requested.json", "planned", false, 1},
		{"cts-create-tag.json", "planned", false, 1},
		{"cts-delete-tag.json", "ignored", false, 0},
		{"eventbridge-deploy-pre.json", "planned", false, 1},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			out, _, err := runCmd(t, "", "explain", filepath.Join("..", "..", "testdata", "events", tc.file))
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v", err)
			}
			var got explanation
			if err := json.Unmarshal([]byte(out), &got); err != nil {
				t.Fatalf("output is not JSON: %v\n%s", err, out)
			}
			if got.Outcome != tc.outcome || len(got.Requests) != tc.reqs {
				t.Fatalf("explain = %+v", got)
			}
			for _, r := range got.Requests {
				if err := cbr.Validate(r.Checkpoint); err != nil {
					t.Errorf("planned request invalid: %v", err)
				}
			}
		})
	}
	// Standard input, and an invalid event: exit status 2 (usageError), the reason printed.
	out, _, err := runCmd(t, `{"specversion":"1.0","id":"1","source":"/x","type":"io.restorepoint.deploy.pre","data":{"version":"1"}}`, "explain", "-")
	var ue usageError
	if !errors.As(err, &ue) || !strings.Contains(out, `"outcome": "invalid"`) || !strings.Contains(out, "data.service") {
		t.Fatalf("invalid: err = %v, out = %s", err, out)
	}
}

func TestCommandLine(t *testing.T) {
	out, _, err := runCmd(t, "", "version")
	if err != nil || !strings.HasPrefix(out, "restorepoint ") {
		t.Fatalf("version: %q %v", out, err)
	}
	out, _, err = runCmd(t, "", "help")
	if err != nil || !strings.Contains(out, "restorepoint emulator") {
		t.Fatalf("help: %q %v", out, err)
	}
	_, _, err = runCmd(t, "", "frobnicate")
	var ue usageError
	if !errors.As(err, &ue) {
		t.Fatalf("unknown command: %v", err)
	}
	for _, cmd := range []string{"serve", "emulator", "explain", "demo"} {
		_, stderr, err := runCmd(t, "", cmd, "-h")
		if err != nil || !strings.Contains(stderr, "Usage: restorepoint "+cmd) {
			t.Errorf("%s -h: %v %q", cmd, err, stderr)
		}
	}
}

func TestEmulatorCommandAnswersPageExample(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	out := &syncWriter{w: &bytes.Buffer{}}
	done := make(chan error, 1)
	go func() { done <- runEmulator(ctx, []string{"--addr", "127.0.0.1:0"}, out, &bytes.Buffer{}) }()
	url := waitForLine(t, out, "CBR + IAM emulator listening on ")
	body, err := os.ReadFile(filepath.Join("..", "..", "cbr", "testdata", "example_request.json"))
	if err != nil {
		t.Fatal(err)
	}
	client, err := cbr.New(url, cbrtest.DefaultProjectID, cbr.StaticToken(cbrtest.DefaultToken))
	if err != nil {
		t.Fatal(err)
	}
	var req cbr.CreateCheckpointRequest
	if err := json.Unmarshal(body, &req); err != nil {
		t.Fatal(err)
	}
	cp, err := client.CreateCheckpoint(ctx, req.Checkpoint)
	if err != nil {
		t.Fatal(err)
	}
	if cp.Status != "protecting" || cp.Vault.Name != "vault-be94" || cp.Vault.Resources[0].Name != "ecs-1f0f-0002" ||
		cp.Vault.Resources[0].ResourceSize.String() != "40" || cp.ExtraInfo.Name != "backup_name" {
		t.Fatalf("checkpoint = %+v", cp)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("emulator stopped with %v", err)
	}
}
