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
	"github.com/restorepoint/restorepoint/internal/app"
)

// env is an environment for run: the variables set, nothing else (the
// process environment is never read).
type env map[string]string

func (e env) get(key string) string { return e[key] }

func runCmd(t *testing.T, stdin string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	return runEnv(t, env{}, stdin, args...)
}

func runEnv(t *testing.T, e env, stdin string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err = run(context.Background(), args, e.get, strings.NewReader(stdin), &out, &errOut)
	return out.String(), errOut.String(), err
}

// The configuration is checked before anything starts: every problem, each
// naming its variable, in one error with exit status 2, also for the values
// only a constructor (cbr.New, iam.NewPassword) used to reject. run reads
// only the getenv it is given: the process environment here holds a valid
// configuration that must not be seen.
func TestServeConfigProblemsExit2(t *testing.T) {
	t.Setenv("CBR_PROJECT_ID", cbrtest.DefaultProjectID)
	t.Setenv("CBR_TOKEN", "process-env-token")
	valid := env{"CBR_PROJECT_ID": cbrtest.DefaultProjectID, "CBR_TOKEN": "tok-SECRET-17", "PORT": "0"}
	with := func(kv ...string) env {
		e := env{}
		for k, v := range valid {
			e[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			e[kv[i]] = kv[i+1]
		}
		return e
	}
	password := func(kv ...string) env {
		e := with("CBR_TOKEN", "", "IAM_USERNAME", "ops", "IAM_PASSWORD", "pw-SECRET-991", "IAM_DOMAIN_NAME", "acme",
			"IAM_ENDPOINT", "https://iam.eu-de.otc.t-systems.com/v3")
		for i := 0; i < len(kv); i += 2 {
			e[kv[i]] = kv[i+1]
		}
		return e
	}
	for _, tc := range []struct {
		name string
		env  env
		want []string // every problem, in order
	}{
		{"nothing set", env{}, []string{
			"CBR_AUTH: no credentials",
			"CBR_PROJECT_ID: required",
		}},
		{"CBR_ENDPOINT with /v3", with("CBR_ENDPOINT", "https://cbr.eu-de.otc.t-systems.com/v3"), []string{
			`CBR_ENDPOINT: must be an http(s) URL such as https://cbr.eu-de.otc.t-systems.com, without /v3, user info, query or fragment: ` +
				`cbr: endpoint "https://cbr.eu-de.otc.t-systems.com/v3": leave out /v3, the client adds it`,
		}},
		{"CBR_ENDPOINT with /v3/", with("CBR_ENDPOINT", "https://cbr.example/v3/"), []string{
			"CBR_ENDPOINT: must be an http(s) URL",
		}},
		{"CBR_ENDPOINT with a query", with("CBR_ENDPOINT", "https://cbr.example/?a=b"), []string{
			"CBR_ENDPOINT: must be an http(s) URL",
		}},
		{"IAM_ENDPOINT not http", password("IAM_ENDPOINT", "ftp://x"), []string{
			`IAM_ENDPOINT: must be an http(s) URL such as https://iam.eu-de.otc.t-systems.com/v3, without user info, query or fragment: "ftp://x" is not an http(s) URL`,
		}},
		{"IAM_ENDPOINT with a fragment", password("IAM_ENDPOINT", "https://iam.example/v3#f"), []string{
			`IAM_ENDPOINT: must be an http(s) URL such as https://iam.eu-de.otc.t-systems.com/v3, without user info, query or fragment: "https://iam.example/v3#f" must not have user info, query or fragment`,
		}},
		{"both endpoints and more", password(
			"CBR_ENDPOINT", "https://cbr.example/v3", "IAM_ENDPOINT", "ftp://x", "IAM_DOMAIN_NAME", " ",
			"PORT", "eighty", "CBR_TIMEOUT", "soon", "CBR_MAX_ATTEMPTS", "0", "RESULT_SINK", "mailto:x@example.com",
			"CBR_VAULT_ROUTES", "daily:abc,weekly", "LOG_LEVEL", "loud"), []string{
			"CBR_ENDPOINT: must be an http(s) URL",
			"CBR_MAX_ATTEMPTS: must be between 1 and 20",
			`CBR_TIMEOUT: cannot parse "soon" as time.Duration`,
			`CBR_VAULT_ROUTES: "weekly" is not value:vault-id`,
			"IAM_DOMAIN_NAME: required when CBR_AUTH=password",
			"IAM_ENDPOINT: must be an http(s) URL",
			"LOG_LEVEL: ",
			`PORT: cannot parse "eighty" as int`,
			"RESULT_SINK: must be an http(s) URL",
		}},
		{"unparsable values all reported", with("PORT", "eighty", "CBR_TIMEOUT", "soon", "DRY_RUN", "maybe"), []string{
			`CBR_TIMEOUT: cannot parse "soon" as time.Duration`,
			`DRY_RUN: cannot parse "maybe" as bool`,
			`PORT: cannot parse "eighty" as int`,
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, cmd := range [][]string{{"serve"}, {}} {
				_, _, err := runEnv(t, tc.env, "", cmd...)
				var ce *app.ConfigError
				if !errors.As(err, &ce) || app.ExitCode(err) != app.ExitUsage {
					t.Fatalf("%v: err = %v (exit %d), want a configuration error, exit 2", cmd, err, app.ExitCode(err))
				}
				if len(ce.Problems) != len(tc.want) {
					t.Fatalf("%v: %d problems, want %d:\n%v", cmd, len(ce.Problems), len(tc.want), err)
				}
				for i, w := range tc.want {
					if !strings.HasPrefix(ce.Problems[i].Error(), w) {
						t.Errorf("%v: problem %d is %q, want %q...", cmd, i, ce.Problems[i], w)
					}
				}
				for _, secret := range []string{"pw-SECRET-991", "tok-SECRET-17", "process-env-token"} {
					if strings.Contains(err.Error(), secret) {
						t.Fatalf("the error shows a secret:\n%v", err)
					}
				}
			}
		})
	}
}

func TestExitCodes(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want int
	}{
		{&app.ConfigError{Problems: []error{errors.New("PORT: x")}}, 2},
		{app.UsageError{Err: errors.New("bad flag")}, 2},
		{errors.New("listen: address in use"), 1},
	} {
		if got := app.ExitCode(tc.err); got != tc.want {
			t.Errorf("app.ExitCode(%v) = %d, want %d", tc.err, got, tc.want)
		}
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
	if n := strings.Count(out, "\n| `"); n < 25 {
		t.Fatalf("only %d variables listed", n)
	}
}

func TestExplain(t *testing.T) {
	e := env{"CBR_DEFAULT_VAULT_ID": cbrtest.ExampleVaultID}
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
			out, _, err := runEnv(t, e, "", "explain", filepath.Join("..", "..", "testdata", "events", tc.file))
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
	out, _, err := runEnv(t, e, `{"specversion":"1.0","id":"1","source":"/x","type":"io.restorepoint.deploy.pre","data":{"version":"1"}}`, "explain", "-")
	var ue app.UsageError
	if !errors.As(err, &ue) || !strings.Contains(out, `"outcome": "invalid"`) || !strings.Contains(out, "data.service") {
		t.Fatalf("invalid: err = %v, out = %s", err, out)
	}
	// Planning needs no credentials, but a bad routing variable is reported.
	_, _, err = runEnv(t, env{"CBR_VAULT_ROUTES": "nocolon"}, "", "explain", filepath.Join("..", "..", "testdata", "events", "deploy-pre.json"))
	var ce *app.ConfigError
	if !errors.As(err, &ce) || len(ce.Problems) != 1 || !strings.HasPrefix(ce.Problems[0].Error(), "CBR_VAULT_ROUTES:") {
		t.Fatalf("explain with bad routes: %v", err)
	}
}

func TestCommandLine(t *testing.T) {
	out, _, err := runCmd(t, "", "version")
	if err != nil || !strings.HasPrefix(out, "restorepoint ") {
		t.Fatalf("version: %q %v", out, err)
	}
	out, _, err = runCmd(t, "", "help")
	if err != nil || !strings.Contains(out, "restorepoint explain") || !strings.Contains(out, "cmd/restorepoint-dev") {
		t.Fatalf("help: %q %v", out, err)
	}
	_, _, err = runCmd(t, "", "frobnicate")
	var ue app.UsageError
	if !errors.As(err, &ue) {
		t.Fatalf("unknown command: %v", err)
	}
	for _, cmd := range []string{"serve", "explain"} {
		_, stderr, err := runCmd(t, "", cmd, "-h")
		if err != nil || !strings.Contains(stderr, "Usage: restorepoint "+cmd) {
			t.Errorf("%s -h: %v %q", cmd, err, stderr)
		}
	}
}
