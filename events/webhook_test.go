package events

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/textproto"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/restorepoint/restorepoint/failure"
)

// webhookDir holds sample webhook requests, with the secret "change-me".
const (
	webhookDir    = "../testdata/webhooks"
	webhookSecret = "change-me"
)

// readWebhook reads a request of testdata/webhooks as its sender sent it:
// the headers and the body after the blank line, byte for byte.
func readWebhook(t testing.TB, name string) (Header, []byte) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(webhookDir, name))
	if err != nil {
		t.Fatal(err)
	}
	r := textproto.NewReader(bufio.NewReader(bytes.NewReader(b)))
	if _, err := r.ReadLine(); err != nil { // the request line
		t.Fatalf("%s: %v", name, err)
	}
	h, err := r.ReadMIMEHeader()
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	body, err := io.ReadAll(r.R)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return h, body
}

func TestDecodeWebhookFixtures(t *testing.T) {
	tests := []struct {
		file    string
		kind    Kind
		ref     Ref
		reason  string // substring of IgnoreReason
		deploy  *DeployPre
		when    time.Time
		checkFn func(*testing.T, Trigger)
	}{
		{
			file: "github-deployment.http", kind: KindDeployPre,
			ref: Ref{Sender: SenderGitHub, ID: "1584279114", Source: "github/repositories/702918345", Type: GitHubTypeDeployment,
				Subject: "example-org/shop", Delivery: "72d3162e-cc78-11e3-81ab-4c9367dc0958"},
			deploy: &DeployPre{
				Service: "example-org/shop", Version: "v1.4.2@4f2a9c1e8b7d6a5f4e3d2c1b0a9f8e7d6c5b4a39", Environment: "production",
				Resources: []ResourceRef{
					{ID: "94eba8b2-acc9-4d82-badc-127144cc5526", Bare: true},
					{ID: "c7d9e1f3-4a6b-4c8d-9e0f-5a7b9c1d3e5f", Type: "OS::Cinder::Volume", Name: "db-data"},
				},
				VaultID: "3b5816b5-f29c-4172-9d9a-76c719a659ce", Incremental: new(false), Wait: true,
			},
			when: time.Date(2024, 5, 1, 10, 59, 58, 0, time.UTC),
		},
		{
			file: "github-deployment-no-payload.http", kind: KindIgnored, reason: "has no payload.restorepoint",
			ref: Ref{Sender: SenderGitHub, ID: "1584279200", Source: "github/repositories/702918345", Type: GitHubTypeDeployment,
				Subject: "example-org/shop", Delivery: "9a1c44f0-07b1-11ef-8a4e-3f5d2b7c1e90"},
		},
		{
			file: "github-ping.http", kind: KindIgnored, reason: "ping",
			ref: Ref{Sender: SenderGitHub, ID: "4b9e7a10-cc77-11e3-9b7d-1c6f0e9a2d44", Source: "github/hooks/470051236", Type: GitHubTypePing,
				Delivery: "4b9e7a10-cc77-11e3-9b7d-1c6f0e9a2d44"},
		},
		{
			file: "github-push.http", kind: KindIgnored, reason: `"push" is not handled`,
			ref: Ref{Sender: SenderGitHub, ID: "5c8f6b21-cc77-11e3-8c6e-2d7a1f0b3e55", Source: "github", Type: "com.github.push",
				Delivery: "5c8f6b21-cc77-11e3-8c6e-2d7a1f0b3e55"},
		},
		{
			file: "gitlab-deployment-running.http", kind: KindDeployPre,
			ref: Ref{Sender: SenderGitLab, ID: "b1f3c5a7-2d4e-4f60-8a9b-0c1d2e3f4a5b", Source: "gitlab/projects/30", Type: GitLabTypeDeployment,
				Subject: "example-org/shop", Delivery: "7b2e6c1a-93f0-4d4e-8a1b-2c3d4e5f6a7b"},
			deploy: &DeployPre{Service: "example-org/shop", Version: "279484c0", Environment: "production", Resources: []ResourceRef{}},
			when:   time.Date(2024, 5, 1, 10, 58, 3, 0, time.UTC),
		},
		{
			file: "gitlab-deployment-success.http", kind: KindIgnored, reason: `status "success"`,
			ref: Ref{Sender: SenderGitLab, ID: "15/success", Source: "gitlab/projects/30", Type: GitLabTypeDeployment,
				Subject: "example-org/shop", Delivery: "8c3f7d2b-a4e1-4e5f-9b2c-3d4e5f6a7b8c"},
		},
		{
			file: "flux-kustomization.http", kind: KindIgnored, reason: "only a rule maps it",
			ref:  Ref{Sender: SenderFlux, Source: "flux/kustomize-controller", Type: FluxType, Subject: "Kustomization/flux-system/shop"},
			when: time.Date(2024, 5, 1, 11, 2, 17, 0, time.UTC),
		},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			h, body := readWebhook(t, tc.file)
			got, ok, err := DecodeWebhook(h, body)
			if err != nil || !ok {
				t.Fatalf("DecodeWebhook = ok %v, %v", ok, err)
			}
			if err := consistent(got); err != nil {
				t.Fatalf("inconsistent: %v: %+v", err, got)
			}
			want := tc.ref
			if want.ID == "" {
				want.ID = BodyID(body)
			}
			if got.Ref != want {
				t.Errorf("Ref = %+v, want %+v", got.Ref, want)
			}
			if got.Kind != tc.kind || !strings.Contains(got.IgnoreReason, tc.reason) {
				t.Errorf("Kind %q reason %q, want %q with %q", got.Kind, got.IgnoreReason, tc.kind, tc.reason)
			}
			if tc.deploy != nil {
				checkTrigger(t, got, Trigger{Ref: want, Kind: KindDeployPre, Time: tc.when, DeployPre: tc.deploy})
			}
			if !tc.when.IsZero() && !got.Time.Equal(tc.when) {
				t.Errorf("Time = %v, want %v", got.Time, tc.when)
			}
		})
	}
}

func TestDecodeWebhookErrors(t *testing.T) {
	gh := func(event string) Header {
		h := Header{}
		h.Set(HeaderGitHubEvent, event)
		return h
	}
	gl := Header{}
	gl.Set(HeaderGitLabEvent, "Deployment Hook")
	const repo = `"repository":{"id":7,"full_name":"o/r"}`
	tests := []struct {
		name  string
		h     Header
		body  string
		field string
	}{
		{"github no action", gh("deployment"), `{` + repo + `,"deployment":{"id":1,"sha":"abc"}}`, "action"},
		{"github no repository", gh("deployment"), `{"action":"created","deployment":{"id":1,"sha":"abc"}}`, "repository"},
		{"github repository id float", gh("deployment"), `{"action":"created","repository":{"id":7.5,"full_name":"o/r"},"deployment":{"id":1}}`, "repository.id"},
		{"github no full_name", gh("deployment"), `{"action":"created","repository":{"id":7},"deployment":{"id":1}}`, "repository.full_name"},
		{"github no deployment id", gh("deployment"), `{"action":"created",` + repo + `,"deployment":{"sha":"abc"}}`, "deployment.id"},
		{"github no sha", gh("deployment"), `{"action":"created",` + repo + `,"deployment":{"id":1}}`, "deployment.sha"},
		{"github bad vault", gh("deployment"), `{"action":"created",` + repo + `,"deployment":{"id":1,"sha":"a","payload":{"restorepoint":{"vault_id":"x"}}}}`,
			"deployment.payload.restorepoint.vault_id"},
		{"github bad resource", gh("deployment"), `{"action":"created",` + repo + `,"deployment":{"id":1,"sha":"a","payload":"{\"restorepoint\":{\"resources\":[1]}}"}}`,
			"deployment.payload.restorepoint.resources[0]"},
		{"github restorepoint not object", gh("deployment"), `{"action":"created",` + repo + `,"deployment":{"id":1,"sha":"a","payload":{"restorepoint":true}}}`,
			"deployment.payload.restorepoint"},
		{"github not json", gh("deployment"), `{"action":`, "payload"},
		{"github invalid utf-8", gh("deployment"), "{\"action\":\"created\",\"repository\":{\"id\":7,\"full_name\":\"o/\xff\"}}", "repository.full_name"},
		{"github bad event", gh("dep loy"), `{}`, "header X-GitHub-Event"},
		{"gitlab no status", gl, `{"deployment_id":1,"project":{"id":2,"path_with_namespace":"a/b"},"environment":"e"}`, "status"},
		{"gitlab no project", gl, `{"status":"running","deployment_id":1,"environment":"e"}`, "project"},
		{"gitlab no path", gl, `{"status":"running","deployment_id":1,"project":{"id":2},"environment":"e"}`, "project.path_with_namespace"},
		{"gitlab no environment", gl, `{"status":"running","deployment_id":1,"project":{"id":2,"path_with_namespace":"a/b"}}`, "environment"},
		{"gitlab bad deployment id", gl, `{"status":"running","deployment_id":"x","project":{"id":2,"path_with_namespace":"a/b"},"environment":"e"}`, "deployment_id"},
		{"flux no involvedObject", Header{"Gotk-Component": {"x"}}, `{"reason":"r"}`, "involvedObject"},
		{"flux no reason", Header{"Gotk-Component": {"x"}}, `{"involvedObject":{"kind":"K","name":"n"}}`, "reason"},
		{"flux bad metadata", Header{"Gotk-Component": {"x"}}, `{"involvedObject":{"kind":"K","name":"n"},"reason":"r","metadata":{"a":{}}}`, "metadata.a"},
		{"flux deep nesting", Header{"Gotk-Component": {"x"}}, strings.Repeat("[", 20000) + strings.Repeat("]", 20000), "payload"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, ok, err := DecodeWebhook(tc.h, []byte(tc.body))
			var de *failure.FieldError
			if !ok || !errors.As(err, &de) {
				t.Fatalf("got ok %v, %v; want a *failure.FieldError", ok, err)
			}
			if de.Field != tc.field {
				t.Errorf("field %q (%v), want %q", de.Field, err, tc.field)
			}
		})
	}
	gl.Set(HeaderIdempotencyKey, strings.Repeat("k", 300))
	if _, err := DecodeGitLab(gl, []byte(`{}`)); err == nil || !strings.Contains(err.Error(), HeaderIdempotencyKey) {
		t.Errorf("long Idempotency-Key: %v", err)
	}
	if _, ok, _ := DecodeWebhook(Header{}, nil); ok {
		t.Error("no sender headers: ok")
	}
}

// TestGitHubRedelivery checks that a redelivery (a new X-GitHub-Delivery)
// keeps the idempotency key.
func TestGitHubRedelivery(t *testing.T) {
	h, body := readWebhook(t, "github-deployment.http")
	first, err := DecodeGitHub(h, body)
	if err != nil {
		t.Fatal(err)
	}
	h.Set(HeaderGitHubDelivery, "0f0f0f0f-cc78-11e3-81ab-4c9367dc0958")
	again, err := DecodeGitHub(h, body)
	if err != nil {
		t.Fatal(err)
	}
	if first.Ref.Key() != again.Ref.Key() || again.Ref.Delivery == first.Ref.Delivery {
		t.Errorf("keys %q %q, deliveries %q %q", first.Ref.Key(), again.Ref.Key(), first.Ref.Delivery, again.Ref.Delivery)
	}
}

func webhookSeeds(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join(webhookDir, "*.http"))
	for _, name := range files {
		h, body := readWebhook(f, filepath.Base(name))
		f.Add(Sender(h), h.Get(HeaderGitHubEvent)+h.Get(HeaderGitLabEvent), body)
	}
}

func FuzzDecodeWebhook(f *testing.F) {
	webhookSeeds(f)
	f.Add(SenderGitHub, "deployment", []byte(`{"action":"created","repository":{"id":1,"full_name":"a"},"deployment":{"id":2,"sha":"s","payload":"{\"restorepoint\":{}}"}}`))
	f.Fuzz(func(t *testing.T, sender, event string, body []byte) {
		h := Header{}
		switch sender {
		case SenderGitHub:
			h.Set(HeaderGitHubEvent, event)
			h.Set(HeaderGitHubDelivery, event)
		case SenderGitLab:
			h.Set(HeaderGitLabEvent, event)
			h.Set(HeaderIdempotencyKey, event)
		default:
			h.Set(HeaderFluxComponent, event)
		}
		tr, ok, err := DecodeWebhook(h, body)
		if !ok {
			return // an empty header value names no sender
		}
		checkResult(t, tr, err)
	})
}

// A GitHub deployment event with another action, and a deployment
// protection rule's with another action, are ignored saying which action.
func TestGitHubOtherActionsIgnored(t *testing.T) {
	h, body := readWebhook(t, "github-deployment.http")
	body = bytes.Replace(body, []byte(`"action": "created"`), []byte(`"action": "deleted"`), 1)
	got, ok, err := DecodeWebhook(h, body)
	if err != nil || !ok || got.Kind != KindIgnored || !strings.Contains(got.IgnoreReason, `action "deleted" is not created`) {
		t.Errorf("deployment deleted: %+v, %v, %v", got, ok, err)
	}
	h.Set(HeaderGitHubEvent, "deployment_protection_rule")
	rule := []byte(`{"action":"dismissed","environment":"production","deployment_callback_url":"https://api.github.com/x",
		"deployment":{"id":7,"sha":"abc"},"repository":{"id":9,"full_name":"o/r"},"installation":{"id":3}}`)
	got, ok, err = DecodeWebhook(h, rule)
	if err != nil || !ok || got.Kind != KindIgnored || !strings.Contains(got.IgnoreReason, `action "dismissed" is not requested`) ||
		got.Ref.ID != "7/production" || got.Ref.Source != "github/repositories/9" || got.Ref.Subject != "o/r" {
		t.Errorf("protection rule dismissed: %+v, %v, %v", got, ok, err)
	}
	// A required field missing is named.
	_, _, err = DecodeWebhook(h, bytes.Replace(rule, []byte(`"full_name":"o/r"`), []byte(`"name":"r"`), 1))
	if err == nil || !strings.Contains(err.Error(), "repository.full_name") {
		t.Errorf("without repository.full_name: %v", err)
	}
	// A requested review whose deployment is wrong fails with the Review,
	// so that the deployment is rejected saying why rather than left waiting.
	requested := bytes.Replace(rule, []byte(`"dismissed"`), []byte(`"requested"`), 1)
	bad := bytes.Replace(requested, []byte(`"sha":"abc"`), []byte(`"sha":"abc","created_at":"yesterday"`), 1)
	got, _, err = DecodeWebhook(h, bad)
	if err == nil || !strings.Contains(err.Error(), "deployment.created_at") || got.Review == nil || got.Review.InstallationID != 3 {
		t.Errorf("requested with a bad created_at: %+v, %v; want an error naming it, with the Review", got, err)
	}
}
