package main

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/restorepoint/restorepoint/cbr/cbrtest"
	"github.com/restorepoint/restorepoint/events"
	"github.com/restorepoint/restorepoint/function"
	"github.com/restorepoint/restorepoint/internal/app"
)

// pruneEnv is an emulator with four restore points of the example server,
// a day apart, and the environment of a prune against it.
func pruneEnv(t *testing.T) (*cbrtest.Server, env) {
	t.Helper()
	srv := cbrtest.NewServer(cbrtest.Options{AvailableAfter: -1})
	t.Cleanup(srv.Close)
	for i := range 4 {
		if _, err := srv.SeedCheckpoints(cbrtest.Seed{VaultID: cbrtest.ExampleVaultID, Resources: []string{cbrtest.ExampleServerID},
			Description: "Before deploying " + markerOf(fmt.Sprint("/ci\x00", i)),
			CreatedAt:   time.Now().Add(-time.Duration(4-i) * 24 * time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	return srv, env{"CBR_ENDPOINT": srv.URL, "CBR_PROJECT_ID": cbrtest.DefaultProjectID, "CBR_TOKEN": cbrtest.DefaultToken,
		"CBR_DEFAULT_VAULT_ID": cbrtest.ExampleVaultID, "RETENTION": "keep_last=2"}
}

func TestPrune(t *testing.T) {
	srv, e := pruneEnv(t)
	out, _, err := runEnv(t, e, "", "prune", "--dry-run")
	if err != nil {
		t.Fatal(err)
	}
	if n := linesStarting(out, "would delete "); n != 2 || !strings.Contains(out, "rule=keep_last=2") ||
		!strings.Contains(out, "age=4d0h") || !strings.Contains(out, "total (dry run): would delete 2, refused 0, spared 0") || len(srv.Backups()) != 4 {
		t.Fatalf("dry run printed\n%s\nand left %d backups", out, len(srv.Backups()))
	}
	out, _, err = runEnv(t, e, "", "prune", "--vault", cbrtest.ExampleVaultID)
	if err != nil {
		t.Fatal(err)
	}
	if n := linesStarting(out, "deleted "); n != 2 || len(srv.Backups()) != 2 ||
		!strings.Contains(out, "resource="+cbrtest.ExampleServerName+"("+cbrtest.ExampleServerID+")") {
		t.Fatalf("prune printed\n%s\nand left %d backups", out, len(srv.Backups()))
	}
}

func TestPruneUsage(t *testing.T) {
	srv, e := pruneEnv(t)
	for name, tc := range map[string]struct {
		env  env
		args []string
		want string
	}{
		"no RETENTION":    {env{"RETENTION": ""}, nil, "RETENTION: not set"},
		"bad RETENTION":   {env{"RETENTION": "keep_last=0"}, nil, "RETENTION: keep_last=0"},
		"bad cap":         {env{"RETENTION_MAX_DELETES": "0"}, nil, "RETENTION_MAX_DELETES: must be at least 1"},
		"argument":        {nil, []string{"vault-1"}, "prune takes no arguments"},
		"unknown flag":    {nil, []string{"--force"}, "flag provided but not defined"},
		"no vault":        {env{"CBR_DEFAULT_VAULT_ID": ""}, nil, "no vault to prune"},
		"vault not an id": {nil, []string{"--vault", "../x"}, `--vault "../x"`},
	} {
		run := env{}
		for k, v := range e {
			run[k] = v
		}
		for k, v := range tc.env {
			run[k] = v
		}
		_, _, err := runEnv(t, run, "", append([]string{"prune"}, tc.args...)...)
		if err == nil || app.ExitCode(err) != app.ExitUsage || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v (exit %d), want exit 2 with %q", name, err, app.ExitCode(err), tc.want)
		}
	}
	if len(srv.Backups()) != 4 {
		t.Errorf("%d backups left after refused commands, want 4", len(srv.Backups()))
	}
	out, errOut, err := runEnv(t, e, "", "prune", "-h")
	if err != nil || out != "" || !strings.Contains(errOut, "Usage: restorepoint prune [--dry-run] [--vault ID]...") {
		t.Errorf("-h: %q %q %v", out, errOut, err)
	}
}

// A list that fails ends the pass with exit status 1, nothing deleted.
func TestPruneListFails(t *testing.T) {
	srv, e := pruneEnv(t)
	srv.Inject(cbrtest.Fault{Method: "GET", Path: "/backups", Status: 500, Times: -1})
	e["CBR_MAX_ATTEMPTS"] = "1"
	out, _, err := runEnv(t, e, "", "prune")
	var ue app.UsageError
	if err == nil || errors.As(err, &ue) || app.ExitCode(err) != 1 || !strings.Contains(err.Error(), "nothing deleted") ||
		!strings.Contains(out, "stopped: listing the backups") || len(srv.Backups()) != 4 {
		t.Fatalf("err = %v, out\n%s", err, out)
	}
}

func TestAgeText(t *testing.T) {
	for s, want := range map[int64]string{0: "0s", 45: "45s", 60: "1m", 3*3600 + 20*60 + 5: "3h20m", 12*86400 + 3*3600 + 59: "12d3h"} {
		if got := ageText(s); got != want {
			t.Errorf("ageText(%d) = %q, want %q", s, got, want)
		}
	}
}

// linesStarting counts the lines of out that start with prefix.
func linesStarting(out, prefix string) int {
	n := 0
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, prefix) {
			n++
		}
	}
	return n
}

// markerOf is the key marker of a trigger with id s, as restorepoint
// writes it at the end of the descriptions it sends.
func markerOf(s string) string { return function.KeyMarker(events.Ref{Source: "test", ID: s}.Digest()) }
