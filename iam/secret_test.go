package iam_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"testing"

	"github.com/restorepoint/restorepoint/iam"
)

const secretValue = "s3cr3t-VALUE"

// config is a struct like the ones envconfig fills.
type config struct {
	User  string
	Token iam.Secret
}

func TestSecretNeverPrints(t *testing.T) {
	s := iam.Secret(secretValue)
	cfg := config{User: "alice", Token: s}
	values := map[string]any{
		"Secret":          s,
		"*Secret":         &s,
		"struct":          cfg,
		"*struct":         &cfg,
		"slice":           []iam.Secret{s},
		"map":             map[string]iam.Secret{"k": s},
		"PasswordConfig":  iam.PasswordConfig{Username: "alice", Password: s},
		"*PasswordConfig": &iam.PasswordConfig{Username: "alice", Password: s},
	}
	verbs := []string{"%v", "%s", "%q", "%+v", "%#v", "%x", "%X", "%d", "%10.3s", "%T"}
	for name, v := range values {
		for _, verb := range verbs {
			if got := fmt.Sprintf(verb, v); strings.Contains(got, secretValue) {
				t.Errorf("Sprintf(%q, %s) = %q: shows the secret", verb, name, got)
			}
		}
		if got := fmt.Sprint(v); strings.Contains(got, secretValue) {
			t.Errorf("Sprint(%s) = %q: shows the secret", name, got)
		}
		data, err := json.Marshal(v)
		var unsupported *json.UnsupportedTypeError // PasswordConfig.Now is a func
		if err != nil && !errors.As(err, &unsupported) {
			t.Errorf("json.Marshal(%s): %v", name, err)
		}
		if bytes.Contains(data, []byte(secretValue)) {
			t.Errorf("json.Marshal(%s) = %s: shows the secret", name, data)
		}
	}
}

func TestSecretRedactedForms(t *testing.T) {
	s := iam.Secret(secretValue)
	data, _ := json.Marshal(s)
	text, _ := s.MarshalText()
	tests := []struct{ name, got, want string }{
		{"Reveal", s.Reveal(), secretValue},
		{"String", s.String(), "[redacted]"},
		{"GoString", s.GoString(), "[redacted]"},
		{"%v", fmt.Sprintf("%v", s), "[redacted]"},
		{"%x", fmt.Sprintf("%x", s), "[redacted]"},
		{"MarshalJSON", string(data), `"[redacted]"`},
		{"MarshalText", string(text), "[redacted]"},
		{"LogValue", s.LogValue().String(), "[redacted]"},
		{"struct %+v", fmt.Sprintf("%+v", config{User: "a", Token: s}), "{User:a Token:[redacted]}"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s = %q, want %q", tt.name, tt.got, tt.want)
		}
	}
}

func TestSecretInLogs(t *testing.T) {
	s := iam.Secret(secretValue)
	handlers := map[string]func(*bytes.Buffer) slog.Handler{
		"json": func(b *bytes.Buffer) slog.Handler { return slog.NewJSONHandler(b, nil) },
		"text": func(b *bytes.Buffer) slog.Handler { return slog.NewTextHandler(b, nil) },
	}
	for name, newHandler := range handlers {
		var buf bytes.Buffer
		log := slog.New(newHandler(&buf))
		log.Info("token", "secret", s, "config", config{User: "alice", Token: s},
			slog.Any("ptr", &s), slog.Group("g", "secret", s))
		log.Info(fmt.Sprint("message ", s))
		if strings.Contains(buf.String(), secretValue) {
			t.Errorf("%s handler output shows the secret:\n%s", name, buf.String())
		}
		if !strings.Contains(buf.String(), "[redacted]") {
			t.Errorf("%s handler output has no [redacted]:\n%s", name, buf.String())
		}
	}
}

func TestSecretDecodesLikeAString(t *testing.T) {
	if k := reflect.TypeFor[iam.Secret]().Kind(); k != reflect.String {
		t.Fatalf("kind = %v, want string (envconfig sets it with SetString)", k)
	}
	var cfg config
	if err := json.Unmarshal([]byte(`{"User":"a","Token":"`+secretValue+`"}`), &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.Token.Reveal() != secretValue {
		t.Errorf("Token = %q after json.Unmarshal, want %q", cfg.Token.Reveal(), secretValue)
	}
}
