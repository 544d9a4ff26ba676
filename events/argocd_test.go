package events

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"text/template"
	"time"

	"gopkg.in/yaml.v3"
)

const argocdDir = "../deploy/argocd"

// renderArgoCD renders the recipe's webhook body for the sample
// Application, as Argo CD's notifications engine does (Go text/template over
// the Application as "app"; the template uses no Sprig function).
func renderArgoCD(t *testing.T, edit func(app map[string]any)) []byte {
	t.Helper()
	cm, err := os.ReadFile(filepath.Join(argocdDir, "argocd-notifications-cm.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var config struct {
		Data map[string]string `yaml:"data"`
	}
	if err := yaml.Unmarshal(cm, &config); err != nil {
		t.Fatal(err)
	}
	var tmpl struct {
		Webhook map[string]struct {
			Method string `yaml:"method"`
			Body   string `yaml:"body"`
		} `yaml:"webhook"`
	}
	if err := yaml.Unmarshal([]byte(config.Data["template.restorepoint-deploy-pre"]), &tmpl); err != nil {
		t.Fatal(err)
	}
	hook, ok := tmpl.Webhook["restorepoint"]
	if !ok || hook.Method != "POST" || config.Data["service.webhook.restorepoint"] == "" {
		t.Fatalf("recipe has no POST to the restorepoint webhook service: %+v", config.Data)
	}
	app, err := os.ReadFile(filepath.Join(argocdDir, "sample-app.json"))
	if err != nil {
		t.Fatal(err)
	}
	var appObj map[string]any
	if err := json.Unmarshal(app, &appObj); err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		edit(appObj)
	}
	body, err := template.New("body").Parse(hook.Body)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := body.Execute(&out, map[string]any{"app": appObj}); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// TestArgoCDRecipe checks that the recipe renders exactly the fixture for
// the sample Application, and that the fixture is a deploy.pre CloudEvent.
func TestArgoCDRecipe(t *testing.T) {
	got := renderArgoCD(t, nil)
	if os.Getenv("UPDATE_ARGOCD") != "" {
		if err := os.WriteFile(filepath.Join(argocdDir, "rendered-deploy-pre.json"), got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(filepath.Join(argocdDir, "rendered-deploy-pre.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("rendered:\n%s\nwant:\n%s", got, want)
	}
	tr, err := Decode(want)
	if err != nil {
		t.Fatal(err)
	}
	checkTrigger(t, tr, Trigger{
		Ref: Ref{ID: "0b6f2c4e-9a1d-4e3b-8c7f-5d2a1b0c9e8f/2024-05-01T11:00:00Z", Source: "argocd/argocd/shop",
			Type: TypeDeployPre, Subject: "shop"},
		Kind: KindDeployPre,
		Time: time.Date(2024, 5, 1, 11, 0, 0, 0, time.UTC),
		DeployPre: &DeployPre{Service: "shop", Version: "4f2a9c1e8b7d6a5f4e3d2c1b0a9f8e7d6c5b4a39", Environment: "shop-production",
			VaultID: "3b5816b5-f29c-4172-9d9a-76c719a659ce", Resources: []ResourceRef{{ID: serverID, Bare: true}}},
	})
}

// TestArgoCDRecipeDefaults renders the recipe for an Application without
// restorepoint annotations: the default vault, the whole vault.
func TestArgoCDRecipeDefaults(t *testing.T) {
	got := renderArgoCD(t, func(app map[string]any) {
		ann := app["metadata"].(map[string]any)["annotations"].(map[string]any)
		delete(ann, "restorepoint.io/vault-id")
		delete(ann, "restorepoint.io/resources")
	})
	tr, err := Decode(got)
	if err != nil {
		t.Fatalf("%v in\n%s", err, got)
	}
	if d := tr.DeployPre; d == nil || d.VaultID != "" || len(d.Resources) != 0 || d.Service != "shop" {
		t.Errorf("trigger %+v", tr)
	}
}
