package rules

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/restorepoint/restorepoint/events"
	"github.com/restorepoint/restorepoint/failure"
	"github.com/restorepoint/restorepoint/handler"
)

const (
	rulesDir   = "../deploy/rules"
	webhookDir = "../testdata/webhooks"
	vault      = "3b5816b5-f29c-4172-9d9a-76c719a659ce"
	server     = "94eba8b2-acc9-4d82-badc-127144cc5526"
	volume     = "c7d9e1f3-4a6b-4c8d-9e0f-5a7b9c1d3e5f"
)

func readRequest(t testing.TB, name string) (http.Header, []byte) {
	t.Helper()
	f, err := os.Open(filepath.Join(webhookDir, name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	req, body, err := handler.ReadRequest(f)
	if err != nil {
		t.Fatal(err)
	}
	return req.Header, body
}

func mustParse(t testing.TB, src string, opts ...Option) *Set {
	t.Helper()
	s, err := Parse("test.yaml", []byte(src), opts...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// run evaluates the rules against a request and builds the trigger.
func run(t *testing.T, s *Set, h http.Header, body []byte) (*Match, events.Trigger, error) {
	t.Helper()
	in := NewInput(h, body)
	m, err := s.Eval(context.Background(), in)
	if err != nil || m == nil {
		return m, events.Trigger{}, err
	}
	tr, err := m.Trigger(in.Base())
	return m, tr, err
}

// TestExampleRules loads every example rule file and evaluates it against
// the sample webhook requests.
func TestExampleRules(t *testing.T) {
	tests := []struct {
		rules, request string
		rule           string // "" for no match
		check          func(*testing.T, events.Trigger)
	}{
		{"github-production.yaml", "github-deployment-no-payload.http", "github-production", func(t *testing.T, tr events.Trigger) {
			want := events.Ref{ID: "github/702918345/1584279200", Source: "github/repositories/702918345",
				Type: events.GitHubTypeDeployment, Subject: "example-org/shop", Delivery: "9a1c44f0-07b1-11ef-8a4e-3f5d2b7c1e90",
				Sender: "rule/github"}
			if tr.Ref != want {
				t.Errorf("Ref %+v, want %+v", tr.Ref, want)
			}
			d := tr.DeployPre
			if tr.Kind != events.KindDeployPre || d.Service != "example-org/shop" || d.VaultID != vault ||
				len(d.Resources) != 1 || d.Resources[0] != (events.ResourceRef{ID: server, Bare: true}) ||
				d.Name != "pre-deploy-shop-1584279200" || !d.Wait || d.Incremental != nil {
				t.Errorf("trigger %+v %+v", tr, d)
			}
		}},
		{"github-production.yaml", "github-deployment-staging.http", "github-other-environments", func(t *testing.T, tr events.Trigger) {
			if tr.Kind != events.KindIgnored || tr.IgnoreReason != "only production deployments are backed up, not staging" ||
				tr.Ref.ID != "1584279300" {
				t.Errorf("trigger %+v", tr)
			}
		}},
		{"github-production.yaml", "github-ping.http", "", nil},
		{"github-production.yaml", "gitlab-deployment-running.http", "", nil},
		{"gitlab-environments.yaml", "gitlab-deployment-running.http", "gitlab-production", func(t *testing.T, tr events.Trigger) {
			d := tr.DeployPre
			if tr.Ref.ID != "b1f3c5a7-2d4e-4f60-8a9b-0c1d2e3f4a5b" || tr.Ref.Source != "gitlab/projects/30" ||
				d.Service != "example-org/shop" || len(d.Resources) != 2 || d.Resources[1].Type != "OS::Cinder::Volume" ||
				d.Description != "Before deploying 279484c0 to production" {
				t.Errorf("trigger %+v %+v", tr, d)
			}
		}},
		{"gitlab-environments.yaml", "gitlab-deployment-success.http", "", nil},
		{"gitlab-environments.yaml", "gitlab-deployment-review.http", "gitlab-review-apps", func(t *testing.T, tr events.Trigger) {
			if tr.Kind != events.KindIgnored || tr.Ref.ID != "15/running" {
				t.Errorf("trigger %+v", tr)
			}
		}},
		{"custom-ci.yaml", "custom-ci-deploy.http", "ci-deploy-started", func(t *testing.T, tr events.Trigger) {
			d := tr.DeployPre
			want := []events.ResourceRef{
				{ID: server, Type: "OS::Nova::Server", Name: "ecs-shop-1"},
				{ID: "b8e5f2a4-1c3d-4e6f-8a0b-9c1d2e3f4a5b", Type: "OS::Nova::Server", Name: "ecs-shop-2"},
				{ID: volume, Bare: true},
			}
			if tr.Ref.ID != "ci/shop/48213" || tr.Ref.Source != DefaultRefSource || d.Service != "shop" ||
				d.Incremental == nil || *d.Incremental || !d.Wait || len(d.Resources) != 3 ||
				d.Description != "Before deploying shop 1.4.2 (pipeline 48213)" {
				t.Errorf("trigger %+v %+v", tr, d)
			}
			for i := range want {
				if i < len(d.Resources) && d.Resources[i] != want[i] {
					t.Errorf("resource %d = %+v, want %+v", i, d.Resources[i], want[i])
				}
			}
		}},
		{"custom-ci.yaml", "custom-ci-finished.http", "ci-other-events", func(t *testing.T, tr events.Trigger) {
			_, body := readRequest(t, "custom-ci-finished.http")
			if tr.Kind != events.KindIgnored || tr.Ref.ID != events.BodyID(body) {
				t.Errorf("trigger %+v", tr)
			}
		}},
		{"flux.yaml", "flux-progressing.http", "flux-shop-progressing", func(t *testing.T, tr events.Trigger) {
			if tr.Kind != events.KindDeployPre || tr.DeployPre.Service != "flux/flux-system/shop" ||
				tr.Ref.Source != "flux/kustomize-controller" {
				t.Errorf("trigger %+v", tr)
			}
		}},
		{"flux.yaml", "flux-kustomization.http", "flux-other", nil},
	}
	for _, tc := range tests {
		t.Run(tc.rules+"/"+tc.request, func(t *testing.T) {
			s, err := Load(filepath.Join(rulesDir, tc.rules))
			if err != nil {
				t.Fatal(err)
			}
			h, body := readRequest(t, tc.request)
			m, tr, err := run(t, s, h, body)
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case m == nil && tc.rule == "":
				return
			case m == nil:
				t.Fatalf("no match, want %s", tc.rule)
			case m.Rule != tc.rule:
				t.Fatalf("matched %s, want %s", m.Rule, tc.rule)
			}
			if tr.Ref.ID == "" || tr.Ref.Source == "" {
				t.Errorf("trigger without key: %+v", tr.Ref)
			}
			if tc.check != nil {
				tc.check(t, tr)
			}
		})
	}
}

func TestIssueExample(t *testing.T) {
	s := mustParse(t, `
rules:
  - name: github-production
    match: 'headers["x-github-event"] == "deployment" && data.deployment.environment == "production"'
    action:
      type: deploy.pre
      id: '"github/" + string(data.repository.id) + "/" + string(data.deployment.id)'
      vault_id: '"3b5816b5-f29c-4172-9d9a-76c719a659ce"'
      resources: '["94eba8b2-acc9-4d82-badc-127144cc5526"]'
      name: '"pre-deploy-" + data.repository.name'
  - name: skip-staging
    match: 'has(data.environment) && data.environment == "staging"'
    action:
      type: ignore
      reason: '"staging is not backed up"'
`)
	if got := s.Names(); len(got) != 2 || got[0] != "github-production" || s.Len() != 2 {
		t.Errorf("Names = %v", got)
	}
	h, body := readRequest(t, "github-deployment.http")
	m, tr, err := run(t, s, h, body)
	if err != nil || m == nil || m.Rule != "github-production" {
		t.Fatalf("match %+v, %v", m, err)
	}
	if tr.Ref.ID != "github/702918345/1584279114" || tr.DeployPre.Name != "pre-deploy-shop" {
		t.Errorf("trigger %+v %+v", tr.Ref, tr.DeployPre)
	}
	m, tr, err = run(t, s, nil, []byte(`{"environment":"staging"}`))
	if err != nil || m == nil || m.Rule != "skip-staging" || tr.IgnoreReason != "staging is not backed up" {
		t.Fatalf("staging: %+v %+v %v", m, tr, err)
	}
	// The first rule fails to evaluate (no header, no data.deployment): no match.
	if m, _, err := run(t, s, nil, []byte(`{"environment":"prod"}`)); m != nil || err != nil {
		t.Errorf("no match expected: %+v, %v", m, err)
	}
}

func TestNumbers(t *testing.T) {
	s := mustParse(t, `
rules:
  - name: numbers
    match: 'string(data.id) == "702918345" && type(data.id) == int && type(data.f) == double && type(data.whole) == double && type(data.big) == double && data.neg == -3'
    action: {type: ignore, reason: 'string(data.id)'}
`)
	m, _, err := run(t, s, nil, []byte(`{"id":702918345,"f":0.5,"whole":2.0,"big":123456789012345678901234567890,"neg":-3}`))
	if err != nil || m == nil || m.Action.Reason != "702918345" {
		t.Fatalf("%+v, %v", m, err)
	}
}

func TestLoadErrors(t *testing.T) {
	src := `
rules:
  - name: typo
    match: 'true'
    action:
      type: deploy.pre
      vaultid: '"x"'
  - name: syntax
    match: 'headers["x" =='
    action: {type: ignore, reason: '"r"'}
  - name: types
    match: '1 + 1'
    action: {type: deploy.pre, vault_id: '1', incremental: '"yes"', resources: '"a"'}
  - name: unknown-type
    match: 'true'
    action: {type: deploy.post}
  - name: missing
    action: {type: ignore}
  - name: not-taken
    match: 'true'
    action: {type: ignore, reason: '"r"', vault_id: '"v"'}
  - match: 'undeclared == 1'
    action: {type: ignore, reason: '"r"'}
  - name: syntax
    match: 'true'
    action: {type: ignore, reason: '"r"'}
  - name: seq
    match: ['a']
    action: {type: ignore, reason: '"r"'}
`
	_, err := Parse("bad.yaml", []byte(src))
	var le *LoadError
	if !errors.As(err, &le) {
		t.Fatalf("error %v (%T), want *LoadError", err, err)
	}
	want := []struct{ rule, field, msg string }{
		{"typo", "", "field vaultid not found in action"},
		{"seq", "", "into a CEL expression"},
		{"syntax", "match", "Syntax error"},
		{"types", "match", "must yield a bool, not int"},
		{"types", "action.vault_id", "must yield a string, not int"},
		{"types", "action.resources", "must yield a list"},
		{"types", "action.incremental", "must yield a bool, not string"},
		{"unknown-type", "action.type", `"deploy.post" is not one of`},
		{"missing", "match", "required"},
		{"missing", "action.reason", "required for type ignore"},
		{"not-taken", "action.vault_id", "not taken by type ignore"},
		{"rules[6]", "name", "required"},
		{"rules[6]", "match", "undeclared reference to 'undeclared'"},
		{"syntax", "name", "duplicate: rules[1]"},
	}
	for _, w := range want {
		found := false
		for _, e := range le.Errors {
			field := fmt.Sprintf("rule %q", w.rule)
			if w.field != "" {
				field += ": " + w.field
			}
			if strings.HasPrefix(e.Field, "line ") && strings.HasSuffix(e.Field, ": "+field) && strings.Contains(e.Rule, w.msg) {
				found = true
			}
		}
		if !found {
			t.Errorf("no problem %+v in:\n%v", w, err)
		}
	}
	if len(le.Errors) != len(want) {
		t.Errorf("%d problems, want %d:\n%v", len(le.Errors), len(want), err)
	}
	if !strings.Contains(err.Error(), `rule "types": action.vault_id: must yield a string`) {
		t.Errorf("message:\n%v", err)
	}

	for name, src := range map[string]string{
		"empty":     ``,
		"no rules":  `rules: []`,
		"bad yaml":  "rules:\n  - name: [\n",
		"top typo":  `rule: []`,
		"not a map": `[1, 2]`,
	} {
		if _, err := Parse(name, []byte(src)); !errors.As(err, &le) || len(le.Errors) == 0 {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := Load("does-not-exist.yaml"); err == nil {
		t.Error("Load of a missing file: no error")
	}
}

func TestEvalErrors(t *testing.T) {
	s := mustParse(t, `
rules:
  - name: r
    match: 'data.kind == "deploy"'
    action:
      type: deploy.pre
      vault_id: 'data.vault'
      resources: 'data.resources'
      name: 'data.name'
`)
	tests := []struct {
		body, field, msg string
		atTrigger        bool
	}{
		{`{"kind":"deploy","resources":[]}`, "action.vault_id", "no such key: vault", false},
		{`{"kind":"deploy","vault":5,"resources":[]}`, "action.vault_id", "must be a string, got int", false},
		{`{"kind":"deploy","vault":"` + vault + `","resources":"x","name":"n"}`, "action.resources", "must be a list", false},
		{`{"kind":"deploy","vault":"` + vault + `","resources":[1],"name":"n"}`, "action.resources[0]", "must be an id string", false},
		{`{"kind":"deploy","vault":"` + vault + `","resources":[{"id":1}],"name":"n"}`, "action.resources[0].id", "must be a string", false},
		{`{"kind":"deploy","vault":"not-a-uuid","resources":[],"name":"n"}`, "action.vault_id", "must be a UUID", true},
		{`{"kind":"deploy","vault":"` + vault + `","resources":["x"],"name":"n"}`, "action.resources[0]", "must be a UUID", true},
		{`{"kind":"deploy","vault":"` + vault + `","resources":[{"id":"` + server + `","type":"OS::Nova::Servers"}],"name":"n"}`,
			"action.resources[0].type", "must be one of", true},
		{`{"kind":"deploy","vault":"` + vault + `","resources":[{"id":"` + server + `"}],"name":"n"}`, "action.resources[0].type", "must be one of", true},
		{`{"kind":"deploy","vault":"` + vault + `","resources":[],"name":"a b"}`, "action.name", "only letters", true},
		{`{"kind":"deploy","vault":"` + vault + `","resources":[],"name":"` + strings.Repeat("a", 65) + `"}`, "action.name", "1-64", true},
	}
	for _, tc := range tests {
		m, _, err := run(t, s, nil, []byte(tc.body))
		var e *failure.FieldError
		if !errors.As(err, &e) || failure.ClassOf(err) != failure.Invalid {
			t.Errorf("%s: match %+v, error %v; want *failure.FieldError", tc.body, m, err)
			continue
		}
		if e.Field != `rule "r": `+tc.field || !strings.Contains(e.Rule, tc.msg) {
			t.Errorf("%s: got %v; want %s: %s", tc.body, err, tc.field, tc.msg)
		}
		if tc.atTrigger != (m != nil) {
			t.Errorf("%s: error at Trigger %v, want %v", tc.body, m != nil, tc.atTrigger)
		}
	}

	// More resources than a trigger takes.
	many := make([]string, events.MaxTriggerResources+1)
	for i := range many {
		many[i] = server
	}
	body, _ := json.Marshal(map[string]any{"kind": "deploy", "vault": vault, "resources": many, "name": "n"})
	if _, _, err := run(t, s, nil, body); err == nil || !strings.Contains(err.Error(), "at most 10000") {
		t.Errorf("too many resources: %v", err)
	}
}

func TestCostLimit(t *testing.T) {
	src := `
rules:
  - name: expensive
    match: 'data.items.all(x, data.items.all(y, x == y || x != y))'
    action: {type: ignore, reason: '"r"'}
`
	items := make([]int, 300)
	body, _ := json.Marshal(map[string]any{"items": items})
	_, _, err := run(t, mustParse(t, src, WithCostLimit(10_000)), nil, body)
	var e *failure.FieldError
	if !errors.As(err, &e) || e.Field != `rule "expensive": match` || !strings.Contains(e.Rule, "cost limit") {
		t.Fatalf("got %v, want a cost limit error", err)
	}
	if m, _, err := run(t, mustParse(t, src), nil, body); err != nil || m == nil {
		t.Fatalf("default limit: %+v, %v", m, err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := mustParse(t, src).Eval(ctx, NewInput(nil, body)); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}

func TestActionTypes(t *testing.T) {
	s := mustParse(t, `
rules:
  - name: tagged
    match: 'data.t == "tagged"'
    action: {type: server.tagged, resources: '[{"id": data.id, "name": "web-1"}]', vault_id: '"`+vault+`"', wait: 'true'}
  - name: requested
    match: 'data.t == "requested"'
    action:
      type: checkpoint.requested
      vault_id: '"`+vault+`"'
      resources: '[data.id, {"id": data.id, "type": "OS::Nova::Server"}]'
      name: '"manual"'
      incremental: 'false'
  - name: requested-whole-vault
    match: 'data.t == "vault"'
    action: {type: checkpoint.requested, vault_id: '"`+vault+`"'}
  - name: tagged-two
    match: 'data.t == "two"'
    action: {type: server.tagged, resources: '[data.id, data.id]'}
`)
	body := func(kind string) []byte { return []byte(`{"t":"` + kind + `","id":"` + server + `"}`) }
	_, tr, err := run(t, s, nil, body("tagged"))
	if err != nil || tr.Kind != events.KindServerTagged ||
		!reflect.DeepEqual(*tr.ServerTagged, events.ServerTagged{ServerID: server, ServerName: "web-1", VaultID: vault, Wait: true}) {
		t.Errorf("tagged: %+v %v", tr, err)
	}
	_, tr, err = run(t, s, nil, body("requested"))
	want := `{"vault_id":"` + vault + `","parameters":{"incremental":false,"name":"manual","resources":["` + server +
		`"],"resource_details":[{"id":"` + server + `","type":"OS::Nova::Server"}]}}`
	if err != nil || tr.Kind != events.KindCheckpointRequested || string(tr.CheckpointRequested.Body) != want {
		t.Errorf("requested: %+v %v\n%s", tr, err, tr.CheckpointRequested.Body)
	}
	// The body must be one the events decoder accepts as checkpoint.requested data.
	if _, err := events.Decode([]byte(`{"specversion":"1.0","id":"1","source":"/s","type":"` + events.TypeCheckpointRequested +
		`","data":` + string(tr.CheckpointRequested.Body) + `}`)); err != nil {
		t.Errorf("events rejects the body: %v", err)
	}
	_, tr, err = run(t, s, nil, body("vault"))
	if err != nil || string(tr.CheckpointRequested.Body) != `{"vault_id":"`+vault+`"}` {
		t.Errorf("whole vault: %+v %v", tr, err)
	}
	if _, _, err := run(t, s, nil, body("two")); err == nil || !strings.Contains(err.Error(), "exactly one server") {
		t.Errorf("two servers: %v", err)
	}
}

func TestCloudEventInput(t *testing.T) {
	s := mustParse(t, `
rules:
  - name: ce
    match: 'attributes.type == "com.example.deployed" && data.env == "prod"'
    action: {type: deploy.pre, subject: 'attributes.source + ":" + data.app'}
`)
	structured := []byte(`{"specversion":"1.0","id":"e-1","source":"/ci","type":"com.example.deployed","subject":"shop",
		"dryrun":"true","traceparent":"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
		"time":"2024-05-01T11:00:00Z","data":{"env":"prod","app":"shop"}}`)
	_, tr, err := run(t, s, nil, structured)
	if err != nil || tr.Ref != (events.Ref{ID: "e-1", Source: "/ci", Type: "com.example.deployed", Subject: "/ci:shop"}) ||
		!tr.DryRun || tr.TraceParent == "" || tr.Time.IsZero() || tr.DeployPre.Service != "/ci:shop" {
		t.Errorf("structured: %+v %v", tr, err)
	}

	h := http.Header{}
	h.Set("Ce-Specversion", "1.0")
	h.Set("Ce-Id", "e-2")
	h.Set("Ce-Source", "/ci")
	h.Set("Ce-Type", "com.example.deployed")
	h.Set("Content-Type", "application/json")
	_, tr, err = run(t, s, h, []byte(`{"env":"prod","app":"shop"}`))
	if err != nil || tr.Ref.ID != "e-2" || tr.Ref.Source != "/ci" || tr.Kind != events.KindDeployPre {
		t.Errorf("binary: %+v %v", tr, err)
	}

	b64 := []byte(`{"specversion":"1.0","id":"e-3","source":"/ci","type":"com.example.deployed","data_base64":"eyJlbnYiOiJwcm9kIiwiYXBwIjoic2hvcCJ9"}`)
	if m, _, err := run(t, s, nil, b64); err != nil || m == nil {
		t.Errorf("data_base64: %+v %v", m, err)
	}
}

func TestDecodeJSON(t *testing.T) {
	for body, want := range map[string]any{
		``:          nil,
		`  `:        nil,
		`"s"`:       "s",
		`12`:        int64(12),
		`1.5`:       1.5,
		`1e2`:       100.0,
		`{} {}`:     "{} {}",
		"\xff":      "\uFFFD",
		`[1,`:       "[1,",
		`null`:      nil,
		`{"a":[1]}`: map[string]any{"a": []any{int64(1)}},
	} {
		got := DecodeJSON([]byte(body))
		gj, _ := json.Marshal(got)
		wj, _ := json.Marshal(want)
		if string(gj) != string(wj) {
			t.Errorf("DecodeJSON(%q) = %#v, want %#v", body, got, want)
		}
	}
	deep := strings.Repeat("[", 20000) + strings.Repeat("]", 20000)
	if _, ok := DecodeJSON([]byte(deep)).(string); !ok {
		t.Error("deep nesting is not a string")
	}
}
