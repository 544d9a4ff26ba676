package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/restorepoint/restorepoint/internal/app"
)

// webhookFile is a request of testdata/webhooks.
func webhookFile(name string) string { return filepath.Join("..", "..", "testdata", "webhooks", name) }

func TestExplainRequestNamesTheDecoder(t *testing.T) {
	for _, tc := range []struct {
		file, decoder, outcome string
		requests               int
	}{
		{"github-deployment.http", "github", "planned", 1},
		{"github-ping.http", "github", "ignored", 0},
		{"gitlab-deployment-success.http", "gitlab", "ignored", 0},
		{"flux-kustomization.http", "flux", "ignored", 0},
	} {
		out, _, err := runCmd(t, "", "explain", "--request", webhookFile(tc.file))
		if err != nil {
			t.Fatalf("%s: %v", tc.file, err)
		}
		var got explanation
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			t.Fatalf("%s: %v: %s", tc.file, err, out)
		}
		if got.Decoder != tc.decoder || got.Outcome != tc.outcome || len(got.Requests) != tc.requests || got.Trigger == nil {
			t.Errorf("%s: %s", tc.file, out)
		}
	}
	if _, _, err := runCmd(t, "GET\n", "explain", "--request", "-"); app.ExitCode(err) != app.ExitUsage {
		t.Errorf("a malformed request: %v", err)
	}
}

// Without the build tag rules, a RULES_FILE is a configuration problem with
// one line saying how to build, and rules check says the same.
func TestRulesNeedTheBuildTag(t *testing.T) {
	if app.RulesBuiltIn {
		t.Skip("built with rules")
	}
	rulesFile := filepath.Join("..", "..", "deploy", "rules", "github-production.yaml")
	for _, args := range [][]string{
		{"rules", "check", rulesFile},
		{"explain", "--request", webhookFile("github-ping.http")},
		{"serve"},
	} {
		_, _, err := runEnv(t, env{"RULES_FILE": rulesFile, "CBR_PROJECT_ID": "p", "CBR_TOKEN": "t", "PORT": "0"}, "", args...)
		if app.ExitCode(err) != app.ExitUsage || !strings.Contains(err.Error(), "built without rules") || !strings.Contains(err.Error(), "RULES=1") {
			t.Errorf("%v: %v", args, err)
		}
	}
}
