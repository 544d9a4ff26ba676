//go:build rules

package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/restorepoint/restorepoint/internal/app"
)

func TestRulesCheck(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("..", "..", "deploy", "rules", "*.yaml"))
	if len(files) == 0 {
		t.Fatal("no example rules")
	}
	for _, f := range files {
		out, _, err := runCmd(t, "", "rules", "check", f)
		if err != nil || !strings.Contains(out, "ok") {
			t.Errorf("%s: %s %v", f, out, err)
		}
	}
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	src := "rules:\n  - name: a\n    match: 'data.x +'\n    action: {type: ignore, reason: '\"r\"'}\n" +
		"  - name: b\n    match: 'true'\n    action: {type: deploy.pre, vault_id: '1'}\n"
	if err := os.WriteFile(bad, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	_, _, err := runCmd(t, "", "rules", "check", bad)
	if app.ExitCode(err) != app.ExitUsage {
		t.Fatalf("bad file: %v", err)
	}
	for _, want := range []string{`rule "a": match`, `rule "b": action.vault_id: must yield a string`, "RULES_FILE"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
	// A bad file stops start-up with exit status 2, every problem listed.
	_, _, err = runEnv(t, env{"RULES_FILE": bad, "CBR_PROJECT_ID": "p", "CBR_TOKEN": "t", "PORT": "0"}, "", "serve")
	if app.ExitCode(err) != app.ExitUsage || !strings.Contains(err.Error(), `rule "a"`) || !strings.Contains(err.Error(), `rule "b"`) {
		t.Fatalf("serve with a bad rules file: %v", err)
	}
}

func TestExplainRequestNamesTheRule(t *testing.T) {
	e := env{"RULES_FILE": filepath.Join("..", "..", "deploy", "rules", "github-production.yaml")}
	out, _, err := runEnv(t, e, "", "explain", "--request", webhookFile("github-deployment-no-payload.http"))
	if err != nil {
		t.Fatal(err)
	}
	var got explanation
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatal(err)
	}
	if got.Rule != "github-production" || got.Decoder != "" || got.Outcome != "planned" || len(got.Requests) != 1 ||
		got.Trigger.ID != "github/702918345/1584279200" {
		t.Fatalf("%s", out)
	}
}
