//go:build rules

// The rules wiring: these tests link the rules engine, so they run only with
// -tags rules (make test does).

package handler_test

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/restorepoint/restorepoint/cbr/cbrtest"
	"github.com/restorepoint/restorepoint/events"
	"github.com/restorepoint/restorepoint/handler"
	"github.com/restorepoint/restorepoint/rules"
)

// testRules are the rules the end-to-end tests run: the shipped GitHub
// example first, then rules that go wrong on purpose, and one for payloads
// without headers (SQS, SNS, a bare Lambda invocation).
const testRules = `
rules:
  - name: bad-vault
    match: 'has(data.bad) && data.bad == "vault"'
    action:
      type: deploy.pre
      vault_id: '"not-a-uuid"'
  - name: broken-name
    match: 'has(data.bad) && data.bad == "name"'
    action:
      type: deploy.pre
      name: 'data.missing.field'
  - name: ci-without-headers
    match: 'has(data.event) && data.event == "deploy_started"'
    action:
      type: deploy.pre
      id: '"ci/" + data.app + "/" + string(data.pipeline.id)'
      subject: 'data.app'
      vault_id: '"` + cbrtest.ExampleVaultID + `"'
      resources: '["` + cbrtest.ExampleServerID + `"]'
`

// loadTestRules compiles the shipped GitHub rules followed by testRules.
func loadTestRules(t *testing.T) handler.Rules {
	t.Helper()
	src, err := os.ReadFile(filepath.Join("..", "deploy", "rules", "github-production.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	// Both files are one "rules:" list: join their items.
	all := string(src) + strings.TrimPrefix(strings.TrimSpace(testRules), "rules:") + "\n"
	set, err := rules.Parse("test-rules.yaml", []byte(all))
	if err != nil {
		t.Fatal(err)
	}
	return set
}

func TestRulesOverLoopback(t *testing.T) {
	set := loadTestRules(t)
	signed := func(file string, edit func(map[string]any)) (http.Header, []byte) {
		h, body := webhookRequest(t, file)
		if edit != nil {
			var m map[string]any
			if err := json.Unmarshal(body, &m); err != nil {
				t.Fatal(err)
			}
			edit(m)
			body, _ = json.Marshal(m)
			h.Del("Content-Length")
		}
		h.Set(events.HeaderGitHubSignature, handler.Sign(fixtureSecret, body))
		return h, body
	}
	bad := func(what string) func(map[string]any) { return func(m map[string]any) { m["bad"] = what } }
	for _, tc := range []struct {
		name       string
		file       string
		edit       func(map[string]any)
		wantStatus int
		wantType   string
		creates    int
		inReply    []string
		inLog      string
	}{
		{"rule maps a deployment without payload", "github-deployment-no-payload.http", nil, 200, events.TypeCheckpointCreated, 1,
			[]string{`"id":"github/702918345/1584279200"`, `"delivery":"9a1c44f0-07b1-11ef-8a4e-3f5d2b7c1e90"`}, `"rule":"github-production"`},
		{"rule wins over the built-in payload mapping", "github-deployment.http", nil, 200, events.TypeCheckpointCreated, 1,
			[]string{`"id":"github/702918345/1584279114"`}, `"rule":"github-production"`},
		{"rule ignores with its reason", "github-deployment-staging.http", nil, 200, events.TypeTriggerIgnored, 0,
			[]string{"only production deployments are backed up, not staging"}, `"rule":"github-other-environments"`},
		{"no rule matches: built-in decoder", "github-ping.http", nil, 200, events.TypeTriggerIgnored, 0,
			[]string{"GitHub ping"}, `"outcome":"ignored"`},
		{"rule makes an invalid request: 400 naming rule and field", "github-push.http", bad("vault"), 400, events.TypeCheckpointFailed, 0,
			[]string{`rule \"bad-vault\": action.vault_id: must be a UUID`, `"class":"invalid"`}, `"rule":"bad-vault"`},
		{"rule action fails to evaluate: failed, class invalid", "github-push.http", bad("name"), 400, events.TypeCheckpointFailed, 0,
			[]string{`rule \"broken-name\": action.name`, `"class":"invalid"`}, `"rule":"broken-name"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := webhookFront(t, set)
			h, body := signed(tc.file, tc.edit)
			resp, reply := f.postWebhook(t, h, body)
			if resp.StatusCode != tc.wantStatus || resp.Header.Get("Ce-Type") != tc.wantType {
				t.Fatalf("status %d type %q, want %d %q: %s", resp.StatusCode, resp.Header.Get("Ce-Type"), tc.wantStatus, tc.wantType, reply)
			}
			for _, want := range tc.inReply {
				if !strings.Contains(string(reply), want) {
					t.Errorf("reply lacks %s: %s", want, reply)
				}
			}
			if !strings.Contains(f.logs.String(), tc.inLog) {
				t.Errorf("log lacks %s: %s", tc.inLog, f.logs.String())
			}
			if got := f.emu.CountCreates(); got != tc.creates {
				t.Errorf("creates %d, want %d", got, tc.creates)
			}
		})
	}
}

// TestRulesWithoutHeaders: on Lambda, rules apply to SQS message bodies and
// to bare invocations, which carry no headers; a Function URL request keeps
// its headers.
func TestRulesWithoutHeaders(t *testing.T) {
	_, ci := webhookRequest(t, "custom-ci-deploy.http")
	ciJSON, _ := json.Marshal(string(ci))
	sqs := []byte(`{"Records":[{"messageId":"m1","eventSource":"aws:sqs","body":` + string(ciJSON) + `}]}`)

	rig := newLambdaRigWith(t, fixtureSecret, loadTestRules(t))
	out, err := rig.invoke(t, sqs)
	if err != nil || string(out) != `{"batchItemFailures":[]}` || rig.emu.CountCreates() != 1 {
		t.Fatalf("SQS: %s, %v, creates %d; logs %s", out, err, rig.emu.CountCreates(), rig.logs.String())
	}
	out, err = rig.invoke(t, ci)
	if err != nil {
		t.Fatalf("bare invocation: %v", err)
	}
	if e, c := resultEvent(t, out); e.Type() != events.TypeCheckpointCreated || !c.Duplicate || c.Trigger.ID != "ci/shop/48213" {
		t.Fatalf("bare invocation of the same event: %s", out)
	}
	if !strings.Contains(rig.logs.String(), `"rule":"ci-without-headers"`) {
		t.Errorf("log lacks the rule: %s", rig.logs.String())
	}

	h, body := webhookRequest(t, "github-deployment-no-payload.http")
	out, err = rig.invoke(t, functionURL(t, h, body))
	if err != nil || !strings.Contains(string(out), `"statusCode":200`) || !strings.Contains(string(out), `github/702918345/1584279200`) {
		t.Fatalf("Function URL: %s, %v", out, err)
	}
}

func TestDecodeRequestNamesTheRule(t *testing.T) {
	core := &handler.Core{Rules: loadTestRules(t)}
	h, body := webhookRequest(t, "github-deployment-staging.http")
	d := core.DecodeRequest(t.Context(), h, body)
	if d.Rule != "github-other-environments" || d.Decoder != "" || d.Trigger.Kind != events.KindIgnored {
		t.Fatalf("%+v", d)
	}
}
