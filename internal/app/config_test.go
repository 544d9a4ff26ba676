package app

import (
	"bytes"
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/kelseyhightower/envconfig"

	"github.com/restorepoint/restorepoint/cbr/cbrtest"
	"github.com/restorepoint/restorepoint/function"
)

// env is an environment for Load: the variables set, nothing else.
type env map[string]string

func (e env) get(key string) string { return e[key] }

func TestConfigErrorsListedTogether(t *testing.T) {
	_, err := Load(env{
		"CBR_VAULT_ROUTES": "daily:abc,weekly",
		"CBR_TIMEOUT":      "soon",
		"IAM_PASSWORD":     "pw-SECRET-991",
		"WEBHOOK_AUTH":     "open",
		"METRICS_AUTH":     "off",
		"MAX_BATCH_EVENTS": "0",
	}.get)
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
		`WEBHOOK_AUTH: must be none or unset, not "open"`,
		`METRICS_AUTH: must be none or unset, not "off"`,
		"MAX_BATCH_EVENTS: must be at least 1",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q:\n%s", want, msg)
		}
	}
	if strings.Contains(msg, "pw-SECRET-991") {
		t.Fatalf("error shows the password:\n%s", msg)
	}
}

func TestConfigValidAndDefaults(t *testing.T) {
	cfg, err := Load(env{
		"RUNTIME_PROJECT_ID": "4229d7a45436489f8c3dc2b1d35d4987",
		"CBR_TOKEN_FILE":     "/run/secrets/cbr-token",
		"CBR_VAULT_ROUTES":   "daily: " + cbrtest.ExampleVaultID + " , weekly:" + cbrtest.WeeklyVaultID,
		"CBR_INCREMENTAL":    "false",
	}.get)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.ProjectID != "4229d7a45436489f8c3dc2b1d35d4987" || cfg.Auth != AuthTokenFile ||
		cfg.CBREndpoint() != "https://cbr.eu-de.otc.t-systems.com" || cfg.Port != 8080 || cfg.MaxAttempts != 4 {
		t.Fatalf("cfg = %+v", cfg)
	}
	fc := cfg.FunctionConfig()
	if fc.VaultRoutes["daily"] != cbrtest.ExampleVaultID || fc.VaultRoutes["weekly"] != cbrtest.WeeklyVaultID || !fc.FullBackups {
		t.Fatalf("function config = %+v", fc)
	}
	if got := Default(); got.Timeout.String() != "10s" || got.Region != "eu-de" || !got.Incremental || got.MaxBodyBytes != 1<<20 {
		t.Fatalf("Default = %+v", got)
	}
}

// Checking a configuration does not change it: what is derived (the
// project from RUNTIME_PROJECT_ID, the auth mode) is derived by Load, and a
// Config that leaves them empty is reported, not filled in.
func TestCheckDoesNotMutate(t *testing.T) {
	cfg := Default()
	cfg.RuntimeProjectID = cbrtest.DefaultProjectID
	cfg.Token = "tok"
	before := cfg
	err := cfg.Check()
	if !reflect.DeepEqual(cfg, before) {
		t.Fatalf("Check changed the config:\n%+v\nto\n%+v", before, cfg)
	}
	var ce *ConfigError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "CBR_PROJECT_ID: required") || !strings.Contains(err.Error(), "CBR_AUTH: no credentials") {
		t.Fatalf("Check = %v, want the unset project and auth mode reported", err)
	}
	loaded, err := Load(env{"RUNTIME_PROJECT_ID": cbrtest.DefaultProjectID, "CBR_TOKEN": "tok"}.get)
	if err != nil || loaded.ProjectID != cbrtest.DefaultProjectID || loaded.Auth != AuthToken || loaded.Check() != nil {
		t.Fatalf("Load = %+v, %v", loaded, err)
	}
}

// Load reads the variables as envconfig.Process reads them from the process
// environment: the Config tags are envconfig's, and the two readers agree on
// every value that parses.
func TestLoadReadsAsEnvconfig(t *testing.T) {
	for _, e := range []env{
		{},
		{
			"CBR_ENDPOINT": "http://127.0.0.1:8090", "CBR_REGION": "eu-nl", "CBR_PROJECT_ID": "p-1",
			"RUNTIME_PROJECT_ID": "p-2", "CBR_AUTH": "password", "CBR_TOKEN": "t", "CBR_TOKEN_FILE": "/f",
			"IAM_ENDPOINT": "https://iam.example/v3", "IAM_USERNAME": "u", "IAM_PASSWORD": "pw", "IAM_PASSWORD_FILE": "/p",
			"IAM_DOMAIN_NAME": "d", "CBR_BACKUP_TAG": "b", "CBR_VAULT_TAG": "v", "CBR_VAULT_ROUTES": "a:b",
			"CBR_DEFAULT_VAULT_ID": "dv", "CBR_ALLOWED_VAULTS": "x,y", "RESULT_SOURCE": "rs", "RESULT_SINK": "http://s",
			"K_SINK": "http://k", "WEBHOOK_SECRET": "w", "LOG_LEVEL": "debug", "PORT": "0x1f90", "CBR_TIMEOUT": "1m30s",
			"CBR_MAX_ATTEMPTS": "7", "CBR_INCREMENTAL": "F", "DRY_RUN": "1", "WAIT_FOR_AVAILABLE": "true",
			"IDEMPOTENCY_TTL": "2h", "IDEMPOTENCY_LOCK_TTL": "90s", "IDEMPOTENCY_MAX_RECORDS": "5", "MAX_BODY_BYTES": "4096",
			"FOLLOW_LOOKBACK": "15m",
		},
	} {
		for _, key := range envKeys() {
			if v, ok := e[key]; ok {
				t.Setenv(key, v)
			} else {
				t.Setenv(key, "")
				os.Unsetenv(key)
			}
		}
		var want Config
		if err := envconfig.Process("", &want); err != nil {
			t.Fatal(err)
		}
		got, problems := read(e.get)
		if len(problems) > 0 || !reflect.DeepEqual(got, want) {
			t.Errorf("read = %+v, %v\nenvconfig.Process = %+v", got, problems, want)
		}
	}
}

// PrintEnv prints the table envconfig.Usagef prints from the same tags.
func TestPrintEnvIsEnvconfigUsage(t *testing.T) {
	const tmpl = "| Variable | Default | Meaning |\n|---|---|---|\n" +
		"{{range .}}| `{{usage_key .}}` | {{usage_default .}} | {{usage_description .}} |\n{{end}}"
	var want, got bytes.Buffer
	if err := envconfig.Usagef("", &Config{}, &want, tmpl); err != nil {
		t.Fatal(err)
	}
	if err := PrintEnv(&got); err != nil {
		t.Fatal(err)
	}
	if got.String() != want.String() {
		t.Fatalf("PrintEnv:\n%s\nenvconfig.Usagef:\n%s", got.String(), want.String())
	}
}

// envKeys returns every variable Config reads.
func envKeys() []string {
	var keys []string
	typ := reflect.TypeFor[Config]()
	for i := range typ.NumField() {
		keys = append(keys, typ.Field(i).Tag.Get("envconfig"))
	}
	return keys
}

func TestConfigFunctionGraphMode(t *testing.T) {
	base := env{"RUNTIME_PROJECT_ID": "4229d7a45436489f8c3dc2b1d35d4987", "CBR_AUTH": "functiongraph"}
	with := func(kv ...string) env {
		e := env{}
		for k, v := range base {
			e[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			e[kv[i]] = kv[i+1]
		}
		return e
	}
	cfg, err := Load(base.get)
	if err != nil || cfg.FunctionGraphMode != ModeHTTP {
		t.Fatalf("default mode %q: %v", cfg.FunctionGraphMode, err)
	}
	cfg, err = Load(with("FUNCTIONGRAPH_MODE", "event", "RUNTIME_API_ADDR", "127.0.0.1:8888", "RUNTIME_TIMEOUT", "30").get)
	if err != nil || cfg.FunctionGraphMode != ModeEvent || cfg.RuntimeTimeout != 30 {
		t.Fatalf("event mode %+v: %v", cfg, err)
	}
	for _, tc := range []struct {
		e    env
		want string
	}{
		{with("FUNCTIONGRAPH_MODE", "event"), "RUNTIME_API_ADDR: required when FUNCTIONGRAPH_MODE=event"},
		{with("FUNCTIONGRAPH_MODE", "lambda"), `FUNCTIONGRAPH_MODE: must be http or event, not "lambda"`},
		{with("FUNCTIONGRAPH_MODE", "event", "RUNTIME_API_ADDR", "http://x/y"), "RUNTIME_API_ADDR: must be host:port"},
		{with("RUNTIME_TIMEOUT", "-3"), "RUNTIME_TIMEOUT: must be a positive"},
		{with("RUNTIME_TIMEOUT", "30s"), `RUNTIME_TIMEOUT: cannot parse "30s"`},
	} {
		_, err := Load(tc.e.get)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want %q", tc.e, err, tc.want)
		}
	}
}

// A bad IDEMPOTENCY_STORE or CBR_DEDUPE is reported with the other
// problems (exit 2), without the store's password; good ones wire through.
func TestStoreAndDedupeConfig(t *testing.T) {
	base := env{"CBR_PROJECT_ID": cbrtest.DefaultProjectID, "CBR_TOKEN": "tok"}
	for _, tc := range []struct {
		store, dedupe, want string
	}{
		{"http://u:pw-SECRET-5@cache:6379/0", "", "IDEMPOTENCY_STORE: must be redis://"},
		{"redis://u:pw-SECRET-5@cache:6379/zero", "", "IDEMPOTENCY_STORE: must be redis://"},
		{"::not a url pw-SECRET-5", "", "IDEMPOTENCY_STORE: must be redis://"},
		{"", "sometimes", `CBR_DEDUPE: must be lookup or off, not "sometimes"`},
	} {
		e := env{"CBR_VAULT_ROUTES": "bad", "IDEMPOTENCY_STORE": tc.store, "CBR_DEDUPE": tc.dedupe}
		for k, v := range base {
			e[k] = v
		}
		_, err := Load(e.get)
		var ce *ConfigError
		if !errors.As(err, &ce) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "CBR_VAULT_ROUTES") {
			t.Errorf("%+v: err = %v, want %q among the problems", tc, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "SECRET") {
			t.Errorf("%+v: error shows the password: %v", tc, err)
		}
	}
	e := env{"IDEMPOTENCY_STORE": "rediss://default:pw-SECRET-5@cache.example:6380/2", "CBR_DEDUPE": "off", "CBR_MAX_ATTEMPTS": "3"}
	for k, v := range base {
		e[k] = v
	}
	cfg, err := Load(e.get)
	if err != nil {
		t.Fatal(err)
	}
	if fc := cfg.FunctionConfig(); fc.Dedupe != "off" || fc.CreateAttempts != 3 {
		t.Errorf("function config %+v", fc)
	}
	var b bytes.Buffer
	a, err := New(cfg, NewLogger(cfg, &b), "test")
	if err != nil {
		t.Fatal(err)
	}
	a.LogStart("serving")
	if !strings.Contains(b.String(), `"idempotency_store":"redis cache.example:6380"`) || strings.Contains(b.String(), "SECRET") {
		t.Errorf("start line %s: want the store's address, not its password", b.String())
	}
	if cfg := Default(); cfg.Dedupe != "lookup" || cfg.Store != "" {
		t.Errorf("defaults: dedupe %q, store set: %v", cfg.Dedupe, cfg.Store != "")
	}
}

// FOLLOW_LOOKBACK is off by default, wires through, and a value that is not
// a duration from 0 to IDEMPOTENCY_TTL is reported with the other problems
// (exit 2).
func TestFollowLookbackConfig(t *testing.T) {
	base := env{"CBR_PROJECT_ID": cbrtest.DefaultProjectID, "CBR_TOKEN": "tok"}
	with := func(extra env) env {
		e := env{}
		for k, v := range base {
			e[k] = v
		}
		for k, v := range extra {
			e[k] = v
		}
		return e
	}
	for value, want := range map[string]time.Duration{"": 0, "0s": 0, "15m": 15 * time.Minute, "1h": time.Hour} {
		cfg, err := Load(with(env{"FOLLOW_LOOKBACK": value}).get)
		if err != nil || cfg.FunctionConfig().FollowLookback != want {
			t.Errorf("FOLLOW_LOOKBACK=%q: %v, %v; want %v", value, cfg.FunctionConfig().FollowLookback, err, want)
		}
	}
	for value, want := range map[string]string{
		"-1m":     "FOLLOW_LOOKBACK: must be 0 (off) or a duration up to IDEMPOTENCY_TTL (1h0m0s), not -1m0s",
		"2h":      "FOLLOW_LOOKBACK: must be 0 (off) or a duration up to IDEMPOTENCY_TTL (1h0m0s), not 2h0m0s",
		"15":      `FOLLOW_LOOKBACK: cannot parse "15"`,
		"a while": `FOLLOW_LOOKBACK: cannot parse "a while"`,
	} {
		_, err := Load(with(env{"FOLLOW_LOOKBACK": value, "CBR_VAULT_ROUTES": "bad"}).get)
		var ce *ConfigError
		if !errors.As(err, &ce) || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "CBR_VAULT_ROUTES") {
			t.Errorf("FOLLOW_LOOKBACK=%q: %v, want %q among the problems", value, err, want)
		}
		if code := ExitCode(err); code != 2 {
			t.Errorf("FOLLOW_LOOKBACK=%q: exit code %d, want 2", value, code)
		}
	}
	if cfg, err := Load(with(env{"FOLLOW_LOOKBACK": "2h", "IDEMPOTENCY_TTL": "3h"}).get); err != nil || cfg.FunctionConfig().FollowLookback != 2*time.Hour {
		t.Errorf("FOLLOW_LOOKBACK=2h with IDEMPOTENCY_TTL=3h: %v, %v", cfg.FunctionConfig().FollowLookback, err)
	}
}

// IDEMPOTENCY_LOCK_TTL defaults to the function's LockTTL, wires through,
// and a value that is not a positive duration is reported with the other
// problems (exit 2).
func TestLockTTLConfig(t *testing.T) {
	base := env{"CBR_PROJECT_ID": cbrtest.DefaultProjectID, "CBR_TOKEN": "tok"}
	cfg, err := Load(base.get)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := cfg.FunctionConfig().LockTTL, function.Defaults().LockTTL; got != want {
		t.Errorf("default lock %v, want the function's default %v", got, want)
	}
	e := env{"IDEMPOTENCY_LOCK_TTL": "90s"}
	for k, v := range base {
		e[k] = v
	}
	if cfg, err = Load(e.get); err != nil || cfg.FunctionConfig().LockTTL != 90*time.Second {
		t.Errorf("IDEMPOTENCY_LOCK_TTL=90s: lock %v, %v", cfg.FunctionConfig().LockTTL, err)
	}
	for value, want := range map[string]string{
		"0s":      "IDEMPOTENCY_LOCK_TTL: must be positive",
		"-1m":     "IDEMPOTENCY_LOCK_TTL: must be positive",
		"15":      `IDEMPOTENCY_LOCK_TTL: cannot parse "15"`,
		"a while": `IDEMPOTENCY_LOCK_TTL: cannot parse "a while"`,
	} {
		e := env{"IDEMPOTENCY_LOCK_TTL": value, "CBR_VAULT_ROUTES": "bad"}
		for k, v := range base {
			e[k] = v
		}
		_, err := Load(e.get)
		var ce *ConfigError
		if !errors.As(err, &ce) || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "CBR_VAULT_ROUTES") {
			t.Errorf("IDEMPOTENCY_LOCK_TTL=%q: %v, want %q among the problems", value, err, want)
		}
		if code := ExitCode(err); code != 2 {
			t.Errorf("IDEMPOTENCY_LOCK_TTL=%q: exit code %d, want 2", value, code)
		}
	}
}
