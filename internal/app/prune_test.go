package app

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/restorepoint/restorepoint/cbr/cbrtest"
	"github.com/restorepoint/restorepoint/events"
	"github.com/restorepoint/restorepoint/function"
	"github.com/restorepoint/restorepoint/retention"
)

// A RETENTION that does not parse and a RETENTION_MAX_DELETES below 1 are
// reported with the other problems, each naming its variable and rule.
func TestRetentionConfigProblems(t *testing.T) {
	for value, want := range map[string]string{
		"keep_first=3":            `RETENTION: unknown key "keep_first"`,
		"keep_last=0":             "RETENTION: keep_last=0: want a whole number, at least 1",
		"max_age=-1h":             "RETENTION: max_age=-1h: must be positive",
		"rubbish":                 `RETENTION: "rubbish" is not key=value`,
		"keep_last=2,keep_last=3": "RETENTION: keep_last is given twice",
	} {
		_, err := Load(env{"RETENTION": value, "RETENTION_MAX_DELETES": "0", "CBR_TIMEOUT": "soon"}.get)
		var ce *ConfigError
		if !errors.As(err, &ce) {
			t.Fatalf("%s: err = %v, want *ConfigError", value, err)
		}
		for _, w := range []string{want, "RETENTION_MAX_DELETES: must be at least 1", "CBR_TIMEOUT", "CBR_PROJECT_ID"} {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("RETENTION=%s: error lacks %q:\n%s", value, w, err)
			}
		}
		if ExitCode(err) != ExitUsage {
			t.Errorf("exit code %d", ExitCode(err))
		}
	}
	cfg, err := Load(env{"CBR_PROJECT_ID": "p", "CBR_TOKEN": "t", "RETENTION": "keep_last=7,max_age=30d", "CBR_ASSOCIATE": "true"}.get)
	if err != nil || cfg.RetentionMaxDeletes != retention.DefaultMaxDeletes || !cfg.FunctionConfig().Associate {
		t.Fatalf("cfg %+v, %v", cfg, err)
	}
	if d := Default(); d.Associate || d.Retention != "" || d.RetentionMaxDeletes != 50 {
		t.Errorf("defaults: associate %v, retention %q, max deletes %d", d.Associate, d.Retention, d.RetentionMaxDeletes)
	}
}

func TestConfiguredVaults(t *testing.T) {
	cfg := Default()
	cfg.DefaultVaultID = "d"
	cfg.VaultRoutes = "weekly:w, daily:x, monthly:d"
	cfg.AllowedVaults = "a, w ,d"
	if got, want := cfg.FunctionConfig().Vaults(), []string{"d", "x", "w", "a"}; !slices.Equal(got, want) {
		t.Errorf("Vaults = %v, want %v", got, want)
	}
	if got := Default().FunctionConfig().Vaults(); len(got) != 0 {
		t.Errorf("no vaults configured: %v", got)
	}
}

// App.Pruner: without RETENTION, or without any vault, or with a vault not
// allowed, a usage error naming what to set; else a pruner whose pass goes
// through the app's client and delivers to the app's sink.
func TestAppPruner(t *testing.T) {
	srv := cbrtest.NewServer(cbrtest.Options{AvailableAfter: -1})
	defer srv.Close()
	base := env{"CBR_ENDPOINT": srv.URL, "CBR_PROJECT_ID": cbrtest.DefaultProjectID, "CBR_TOKEN": cbrtest.DefaultToken}
	newApp := func(extra env) *App {
		t.Helper()
		e := env{}
		for k, v := range base {
			e[k] = v
		}
		for k, v := range extra {
			e[k] = v
		}
		cfg, err := Load(e.get)
		if err != nil {
			t.Fatal(err)
		}
		a, err := New(cfg, NewLogger(cfg, &strings.Builder{}), "test")
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	for name, tc := range map[string]struct {
		env  env
		opts PruneOptions
		want string
	}{
		"no RETENTION": {env{"CBR_DEFAULT_VAULT_ID": cbrtest.ExampleVaultID}, PruneOptions{}, "RETENTION: not set"},
		"no vault":     {env{"RETENTION": "keep_last=1"}, PruneOptions{}, "no vault to prune: set CBR_DEFAULT_VAULT_ID"},
		"not allowed": {env{"RETENTION": "keep_last=1", "CBR_ALLOWED_VAULTS": cbrtest.ExampleVaultID},
			PruneOptions{Vaults: []string{cbrtest.WeeklyVaultID}}, "not in CBR_ALLOWED_VAULTS"},
		"not an id": {env{"RETENTION": "keep_last=1"}, PruneOptions{Vaults: []string{"a/b"}}, `--vault "a/b"`},
	} {
		_, err := newApp(tc.env).Pruner(tc.opts)
		var ue UsageError
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want a usage error with %q", name, err, tc.want)
		}
		if name == "no RETENTION" && !errors.Is(err, ErrNoRetention) {
			t.Errorf("no RETENTION: %v is not ErrNoRetention", err)
		}
	}

	a := newApp(env{"RETENTION": "keep_last=1", "CBR_DEFAULT_VAULT_ID": cbrtest.ExampleVaultID})
	for i := range 3 {
		if _, err := srv.SeedCheckpoints(cbrtest.Seed{VaultID: cbrtest.ExampleVaultID, Resources: []string{cbrtest.ExampleServerID},
			Description: "x " + markerOf(string(rune('a'+i))), CreatedAt: time.Now().Add(-time.Duration(i+1) * time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	p, err := a.Pruner(PruneOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := p.Pass(context.Background(), a.DeliverResult) // no sink configured: delivered nowhere
	if err != nil || len(rep.Deleted) != 2 || len(srv.Backups()) != 1 {
		t.Fatalf("pass %+v, %v; %d backups left", rep, err, len(srv.Backups()))
	}
}

// markerOf is the key marker of a trigger with id s, as restorepoint
// writes it at the end of the descriptions it sends.
func markerOf(s string) string { return function.KeyMarker(events.Ref{Source: "test", ID: s}.Digest()) }
