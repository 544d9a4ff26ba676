package app

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const project = "4229d7a45436489f8c3dc2b1d35d4987"

func TestConfigChoosesAuth(t *testing.T) {
	dir := t.TempDir()
	skFile, akFile := filepath.Join(dir, "sk"), filepath.Join(dir, "ak")
	if err := os.WriteFile(akFile, []byte("AKEXAMPLE01\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(skFile, []byte("sk-SECRET-1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		env  env
		want string
	}{
		{"keys", env{"CBR_ACCESS_KEY": "AKEXAMPLE01", "CBR_SECRET_KEY": "sk-SECRET-1"}, AuthAKSK},
		{"key file", env{"CBR_ACCESS_KEY": "AKEXAMPLE01", "CBR_SECRET_KEY_FILE": skFile}, AuthAKSK},
		{"both halves in files", env{"CBR_ACCESS_KEY_FILE": akFile, "CBR_SECRET_KEY_FILE": skFile}, AuthAKSK},
		{"secret alone", env{"CBR_CREDENTIALS_SECRET": "restorepoint/otc", "AWS_SESSION_TOKEN": "sess"}, AuthAWSSecret},
		{"password", env{"IAM_USERNAME": "u", "IAM_PASSWORD": "p", "IAM_DOMAIN_NAME": "d", "IAM_ENDPOINT": "https://iam.example.com/v3"}, AuthPassword},
		{"token", env{"CBR_TOKEN": "t"}, AuthToken},
		{"functiongraph with fallback keys", env{"CBR_AUTH": "functiongraph", "CBR_ACCESS_KEY": "AKEXAMPLE01", "CBR_SECRET_KEY": "s"}, AuthFunctionGraph},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.env["CBR_PROJECT_ID"] = project
			cfg, err := Load(tt.env.get)
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Auth != tt.want {
				t.Errorf("CBR_AUTH = %q, want %q", cfg.Auth, tt.want)
			}
			if _, err := New(cfg, NewLogger(cfg, &strings.Builder{}), "test"); err != nil {
				t.Errorf("New: %v", err)
			}
		})
	}
}

func TestConfigKeyProblemsListedTogether(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		env  env
		want []string
	}{
		{"malformed access key, missing secret key file", env{
			"CBR_AUTH": "aksk", "CBR_ACCESS_KEY": "AK/with spaces=SECRET-ish",
			"CBR_SECRET_KEY_FILE": filepath.Join(dir, "missing"), "CBR_SECURITY_TOKEN_FILE": empty,
		}, []string{
			"CBR_ACCESS_KEY: the access key is malformed",
			"CBR_SECRET_KEY_FILE: secret file " + filepath.Join(dir, "missing") + ": no such file",
			"CBR_SECURITY_TOKEN_FILE: secret file " + empty + " is empty",
		}},
		{"nothing but the mode", env{"CBR_AUTH": "aksk"}, []string{
			"CBR_ACCESS_KEY: CBR_ACCESS_KEY or CBR_ACCESS_KEY_FILE required when CBR_AUTH=aksk",
			"CBR_SECRET_KEY: CBR_SECRET_KEY or CBR_SECRET_KEY_FILE required",
		}},
		{"value and file", env{"CBR_ACCESS_KEY": "AK1", "CBR_SECRET_KEY": "sk-SECRET-2", "CBR_SECRET_KEY_FILE": empty}, []string{
			"CBR_SECRET_KEY: set together with CBR_SECRET_KEY_FILE",
		}},
		{"access key value and file, empty access key file", env{"CBR_ACCESS_KEY": "AK1", "CBR_ACCESS_KEY_FILE": empty, "CBR_SECRET_KEY": "sk-SECRET-2"}, []string{
			"CBR_ACCESS_KEY: set together with CBR_ACCESS_KEY_FILE",
		}},
		{"empty access key file", env{"CBR_ACCESS_KEY_FILE": empty, "CBR_SECRET_KEY": "sk-SECRET-2"}, []string{
			"CBR_ACCESS_KEY_FILE: secret file " + empty + " is empty",
		}},
		{"secret without session token", env{"CBR_CREDENTIALS_SECRET": "x", "PARAMETERS_SECRETS_EXTENSION_HTTP_PORT": "70000"}, []string{
			"AWS_SESSION_TOKEN: required when CBR_AUTH=aws-secret",
			"PARAMETERS_SECRETS_EXTENSION_HTTP_PORT: must be between 1 and 65535",
		}},
		{"secret with other credentials", env{"CBR_CREDENTIALS_SECRET": "x", "CBR_TOKEN": "t"}, []string{
			"CBR_AUTH: CBR_CREDENTIALS_SECRET is set together with other credentials",
		}},
		{"explicit secret mode without a secret", env{"CBR_AUTH": "aws-secret", "AWS_SESSION_TOKEN": "s"}, []string{
			"CBR_CREDENTIALS_SECRET: required when CBR_AUTH=aws-secret",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.env["CBR_PROJECT_ID"] = project
			_, err := Load(tt.env.get)
			if err == nil {
				t.Fatal("no error")
			}
			msg := err.Error()
			for _, want := range tt.want {
				if !strings.Contains(msg, want) {
					t.Errorf("error lacks %q:\n%s", want, msg)
				}
			}
			if strings.Contains(msg, "SECRET") && !strings.Contains(msg, "_SECRET") {
				t.Errorf("error shows a secret:\n%s", msg)
			}
			for _, s := range []string{"sk-SECRET", "SECRET-ish"} {
				if strings.Contains(msg, s) {
					t.Errorf("error shows %q:\n%s", s, msg)
				}
			}
		})
	}
}
