package githubtest_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/restorepoint/restorepoint/events"
	"github.com/restorepoint/restorepoint/githubapp/githubtest"
	"github.com/restorepoint/restorepoint/handler"
)

var update = flag.Bool("update", false, "rewrite testdata/deployment-protection-rule.http")

// The webhook secret of the testdata files, as in testdata/webhooks.
const secret = "change-me"

// golden is the delivery of testdata/deployment-protection-rule.http.
func golden(t *testing.T) githubtest.Webhook {
	t.Helper()
	w, err := githubtest.DeploymentProtectionRuleWebhook(secret, githubtest.DeploymentProtectionRule{
		Delivery:  "9a4d3e70-2b1c-11f0-8f5e-6a2c1b0d9e31",
		CreatedAt: time.Date(2025, 6, 2, 9, 29, 58, 0, time.UTC),
		Payload: json.RawMessage(`{"restorepoint":{"vault_id":"3b5816b5-f29c-4172-9d9a-76c719a659ce",` +
			`"resources":["94eba8b2-acc9-4d82-badc-127144cc5526"]}}`),
	})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func TestDeploymentProtectionRuleWebhookGolden(t *testing.T) {
	got := golden(t).Wire("restorepoint.example.com")
	path := filepath.Join("testdata", "deployment-protection-rule.http")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("delivery differs from %s (go test -run Golden -update rewrites it):\n%s", path, got)
	}
	req, body, err := handler.ReadRequest(bytes.NewReader(want))
	if err != nil {
		t.Fatal(err)
	}
	if got := req.Header.Get(events.HeaderGitHubSignature); got != handler.Sign(secret, body) {
		t.Errorf("signature %q, want the body's", got)
	}
}

func TestDeploymentProtectionRuleWebhook(t *testing.T) {
	srv := githubtest.NewServer(githubtest.Options{AppID: 42, Installations: []int64{99}, PathPrefix: "/api/v3"})
	defer srv.Close()
	w, err := srv.DeploymentProtectionRuleWebhook("s3cret", githubtest.DeploymentProtectionRule{
		InstallationID: 99, Owner: "acme", Repo: "web", RunID: 31, Environment: "staging", Event: "workflow_dispatch",
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := w.Header.Get(events.HeaderGitHubSignature); got != handler.Sign("s3cret", w.Body) || got == handler.Sign("other", w.Body) {
		t.Errorf("signature %q, want the body's under the webhook secret", got)
	}
	for h, want := range map[string]string{
		"X-GitHub-Event": "deployment_protection_rule", "X-GitHub-Hook-Installation-Target-Type": "integration",
		"X-GitHub-Hook-Installation-Target-ID": "42", "Content-Type": "application/json",
	} {
		if got := w.Header.Get(h); got != want {
			t.Errorf("%s = %q, want %q", h, got, want)
		}
	}
	if len(w.Header.Get("X-GitHub-Delivery")) != 36 {
		t.Errorf("X-GitHub-Delivery %q: want a GUID", w.Header.Get("X-GitHub-Delivery"))
	}
	var p struct {
		Action, Environment, Event string
		DeploymentCallbackURL      string `json:"deployment_callback_url"`
		Deployment                 struct {
			ID          int64
			SHA, Ref    string
			Environment string
			Payload     json.RawMessage
		}
		Installation struct{ ID int64 }
		Repository   struct {
			ID       int64
			FullName string `json:"full_name"`
			Name     string
		}
		Sender struct{ Login string }
	}
	if err := json.Unmarshal(w.Body, &p); err != nil {
		t.Fatal(err)
	}
	if p.Action != "requested" || p.Environment != "staging" || p.Event != "workflow_dispatch" ||
		p.DeploymentCallbackURL != srv.CallbackURL("acme", "web", 31) || p.Installation.ID != 99 ||
		p.Deployment.Environment != "staging" || p.Deployment.SHA != githubtest.DefaultSHA || p.Deployment.ID == 0 ||
		string(p.Deployment.Payload) != "{}" || p.Repository.FullName != "acme/web" || p.Repository.Name != "web" || p.Repository.ID == 0 ||
		p.Sender.Login == "" {
		t.Errorf("payload %+v", p)
	}
	req, err := w.Request("http://127.0.0.1:1/hook")
	if err != nil || req.Header.Get("X-Hub-Signature-256") != w.Header.Get("X-Hub-Signature-256") || req.ContentLength != int64(len(w.Body)) {
		t.Errorf("Request = %v, %v", req, err)
	}
}
