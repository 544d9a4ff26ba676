package githubtest

import (
	"bytes"
	"cmp"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/restorepoint/restorepoint/events"
	"github.com/restorepoint/restorepoint/handler"
)

// Defaults of a DeploymentProtectionRule.
const (
	DefaultOwner        = "example-org"
	DefaultRepo         = "shop"
	DefaultRepositoryID = 702918345
	DefaultEnvironment  = "production"
	DefaultEvent        = "push"
	DefaultRunID        = 9876543210
	DefaultDeploymentID = 1584279114
	DefaultSHA          = "4f2a9c1e8b7d6a5f4e3d2c1b0a9f8e7d6c5b4a39"
	DefaultRef          = "main"
	DefaultSender       = "octocat"
	// HookID is the X-GitHub-Hook-ID of the app's webhook.
	HookID = "470051299"
)

// DeploymentProtectionRule is a deployment that waits for the app's
// protection rule: what a deployment_protection_rule webhook says. The zero
// value of each field means its default.
type DeploymentProtectionRule struct {
	// APIURL is the API base URL of the callback and the payload's API
	// links; "" means https://api.github.com. Server's method sets it.
	APIURL string
	// AppID is the X-GitHub-Hook-Installation-Target-ID; 0 means DefaultAppID.
	AppID int64
	// InstallationID is installation.id; 0 means DefaultInstallationID.
	InstallationID int64
	// Owner and Repo name the repository (DefaultOwner, DefaultRepo);
	// RepositoryID is repository.id (DefaultRepositoryID).
	Owner, Repo  string
	RepositoryID int64
	// Environment is the environment waiting for the rule ("production").
	Environment string
	// Event is the event that triggered the workflow run ("push").
	Event string
	// RunID is the workflow run, in the callback URL (DefaultRunID).
	RunID int64
	// DeploymentID, SHA and Ref describe the deployment (DefaultDeploymentID,
	// DefaultSHA, DefaultRef).
	DeploymentID int64
	SHA, Ref     string
	// Payload is deployment.payload, such as
	// {"restorepoint":{"vault_id":…,"resources":[…]}}; nil means {}.
	Payload json.RawMessage
	// Sender is the login of the user who started the run (DefaultSender).
	Sender string
	// Delivery is the X-GitHub-Delivery GUID; "" means a random one.
	Delivery string
	// CreatedAt is the deployment's creation time; zero means now.
	CreatedAt time.Time
}

// Webhook is one webhook delivery as GitHub sends it: its headers and body.
type Webhook struct {
	Header http.Header
	Body   []byte
}

// Request returns the delivery as a POST to target.
func (w Webhook) Request(target string) (*http.Request, error) {
	req, err := http.NewRequest(http.MethodPost, target, bytes.NewReader(w.Body))
	if err != nil {
		return nil, err
	}
	req.Header = w.Header.Clone()
	return req, nil
}

// Wire returns the delivery as it goes over the wire to host: "POST /
// HTTP/1.1", the Host, the headers (sorted, spelt as GitHub does:
// X-GitHub-Hook-ID), Content-Length, a blank line and the body, with CRLF
// line ends: the form of testdata/webhooks/*.http (read with
// handler.ReadRequest).
func (w Webhook) Wire(host string) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "POST / HTTP/1.1\r\nHost: %s\r\n", host)
	for _, name := range slices.Sorted(maps.Keys(w.Header)) {
		if name == "Content-Length" {
			continue
		}
		spelt := strings.Replace(name, "X-Github-", "X-GitHub-", 1)
		if base, ok := strings.CutSuffix(spelt, "-Id"); ok {
			spelt = base + "-ID"
		}
		for _, v := range w.Header[name] {
			fmt.Fprintf(&b, "%s: %s\r\n", spelt, v)
		}
	}
	fmt.Fprintf(&b, "Content-Length: %d\r\n\r\n", len(w.Body))
	b.Write(w.Body)
	return b.Bytes()
}

// DeploymentProtectionRuleWebhook returns the deployment_protection_rule
// delivery (action "requested") for the deployment d, on this server's API:
// its deployment_callback_url points at the server.
func (s *Server) DeploymentProtectionRuleWebhook(secret string, d DeploymentProtectionRule) (Webhook, error) {
	d.APIURL = s.APIURL()
	d.AppID = cmp.Or(d.AppID, s.AppID())
	return DeploymentProtectionRuleWebhook(secret, d)
}

// DeploymentProtectionRuleWebhook returns the deployment_protection_rule
// delivery (action "requested") that GitHub sends the app for d, signed with
// the webhook secret: headers X-GitHub-Event, X-GitHub-Delivery,
// X-GitHub-Hook-ID, X-GitHub-Hook-Installation-Target-Type "integration"
// and -ID (the app id), and X-Hub-Signature-256 "sha256=<hex HMAC-SHA256 of
// the body>"; the body as GitHub documents the event: action, environment,
// event, deployment_callback_url, deployment, pull_requests, repository,
// organization, installation and sender.
func DeploymentProtectionRuleWebhook(secret string, d DeploymentProtectionRule) (Webhook, error) {
	d = withDefaults(d)
	api, err := url.Parse(d.APIURL)
	if err != nil {
		return Webhook{}, fmt.Errorf("githubtest: API URL: %w", err)
	}
	web := "https://github.com"
	if api.Host != "api.github.com" { // GitHub Enterprise Server: the web UI is on the API's host
		web = api.Scheme + "://" + api.Host
	}
	repoAPI := fmt.Sprintf("%s/repos/%s/%s", d.APIURL, d.Owner, d.Repo)
	created := d.CreatedAt.UTC().Format(time.RFC3339)
	owner := account{Login: d.Owner, ID: 98765432, Type: "Organization"}
	sender := account{Login: d.Sender, ID: 583231, Type: "User"}
	body, err := json.MarshalIndent(protectionRuleEvent{
		Action:                "requested",
		Environment:           d.Environment,
		Event:                 d.Event,
		DeploymentCallbackURL: fmt.Sprintf("%s/actions/runs/%d/deployment_protection_rule", repoAPI, d.RunID),
		Deployment: deployment{
			URL:                   fmt.Sprintf("%s/deployments/%d", repoAPI, d.DeploymentID),
			ID:                    d.DeploymentID,
			NodeID:                nodeID("Deployment", d.DeploymentID),
			Task:                  "deploy",
			OriginalEnvironment:   d.Environment,
			Environment:           d.Environment,
			CreatedAt:             created,
			UpdatedAt:             created,
			StatusesURL:           fmt.Sprintf("%s/deployments/%d/statuses", repoAPI, d.DeploymentID),
			RepositoryURL:         repoAPI,
			Creator:               sender,
			SHA:                   d.SHA,
			Ref:                   d.Ref,
			Payload:               d.Payload,
			ProductionEnvironment: d.Environment == DefaultEnvironment,
		},
		PullRequests: []struct{}{},
		Repository: repository{
			ID:            d.RepositoryID,
			NodeID:        nodeID("Repository", d.RepositoryID),
			Name:          d.Repo,
			FullName:      d.Owner + "/" + d.Repo,
			Private:       true,
			Owner:         owner,
			HTMLURL:       web + "/" + d.Owner + "/" + d.Repo,
			URL:           repoAPI,
			DefaultBranch: "main",
		},
		Organization: organization{Login: d.Owner, ID: owner.ID, URL: d.APIURL + "/orgs/" + d.Owner},
		Installation: installation{ID: d.InstallationID, NodeID: nodeID("IntegrationInstallation", d.InstallationID)},
		Sender:       sender,
	}, "", "  ")
	if err != nil {
		return Webhook{}, fmt.Errorf("githubtest: encode webhook: %w", err)
	}
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", "GitHub-Hookshot/044aadd")
	h.Set(events.HeaderGitHubEvent, "deployment_protection_rule")
	h.Set(events.HeaderGitHubDelivery, d.Delivery)
	h.Set(events.HeaderGitHubHookID, HookID)
	h.Set("X-GitHub-Hook-Installation-Target-Type", "integration")
	h.Set("X-GitHub-Hook-Installation-Target-ID", strconv.FormatInt(d.AppID, 10))
	h.Set(events.HeaderGitHubSignature, handler.Sign(secret, body))
	return Webhook{Header: h, Body: body}, nil
}

// withDefaults fills the zero fields of d.
func withDefaults(d DeploymentProtectionRule) DeploymentProtectionRule {
	d.APIURL = strings.TrimRight(cmp.Or(d.APIURL, "https://api.github.com"), "/")
	d.AppID = cmp.Or(d.AppID, DefaultAppID)
	d.InstallationID = cmp.Or(d.InstallationID, DefaultInstallationID)
	d.Owner, d.Repo = cmp.Or(d.Owner, DefaultOwner), cmp.Or(d.Repo, DefaultRepo)
	d.RepositoryID = cmp.Or(d.RepositoryID, DefaultRepositoryID)
	d.Environment, d.Event = cmp.Or(d.Environment, DefaultEnvironment), cmp.Or(d.Event, DefaultEvent)
	d.RunID, d.DeploymentID = cmp.Or(d.RunID, DefaultRunID), cmp.Or(d.DeploymentID, DefaultDeploymentID)
	d.SHA, d.Ref = cmp.Or(d.SHA, DefaultSHA), cmp.Or(d.Ref, DefaultRef)
	d.Sender = cmp.Or(d.Sender, DefaultSender)
	if d.Payload == nil {
		d.Payload = json.RawMessage(`{}`)
	}
	if d.Delivery == "" {
		d.Delivery = newGUID()
	}
	if d.CreatedAt.IsZero() {
		d.CreatedAt = time.Now()
	}
	return d
}

// nodeID returns a GitHub global node id of the legacy form: base64 of
// "0<len(kind)>:<kind><id>", such as MDIzOkludGVncmF0aW9uSW5zdGFsbGF0aW9uNDU2Nzg5MDE=.
func nodeID(kind string, id int64) string {
	return base64.StdEncoding.EncodeToString(fmt.Appendf(nil, "%03d:%s%d", len(kind), kind, id))
}

// newGUID returns a random GUID for X-GitHub-Delivery.
func newGUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// The payload of a deployment_protection_rule event, in GitHub's field order.
type (
	protectionRuleEvent struct {
		Action                string       `json:"action"`
		Environment           string       `json:"environment"`
		Event                 string       `json:"event"`
		DeploymentCallbackURL string       `json:"deployment_callback_url"`
		Deployment            deployment   `json:"deployment"`
		PullRequests          []struct{}   `json:"pull_requests"`
		Repository            repository   `json:"repository"`
		Organization          organization `json:"organization"`
		Installation          installation `json:"installation"`
		Sender                account      `json:"sender"`
	}
	deployment struct {
		URL                   string          `json:"url"`
		ID                    int64           `json:"id"`
		NodeID                string          `json:"node_id"`
		Task                  string          `json:"task"`
		OriginalEnvironment   string          `json:"original_environment"`
		Environment           string          `json:"environment"`
		Description           *string         `json:"description"`
		CreatedAt             string          `json:"created_at"`
		UpdatedAt             string          `json:"updated_at"`
		StatusesURL           string          `json:"statuses_url"`
		RepositoryURL         string          `json:"repository_url"`
		Creator               account         `json:"creator"`
		SHA                   string          `json:"sha"`
		Ref                   string          `json:"ref"`
		Payload               json.RawMessage `json:"payload"`
		TransientEnvironment  bool            `json:"transient_environment"`
		ProductionEnvironment bool            `json:"production_environment"`
	}
	repository struct {
		ID            int64   `json:"id"`
		NodeID        string  `json:"node_id"`
		Name          string  `json:"name"`
		FullName      string  `json:"full_name"`
		Private       bool    `json:"private"`
		Owner         account `json:"owner"`
		HTMLURL       string  `json:"html_url"`
		URL           string  `json:"url"`
		DefaultBranch string  `json:"default_branch"`
	}
	organization struct {
		Login string `json:"login"`
		ID    int64  `json:"id"`
		URL   string `json:"url"`
	}
	installation struct {
		ID     int64  `json:"id"`
		NodeID string `json:"node_id"`
	}
	account struct {
		Login string `json:"login"`
		ID    int64  `json:"id"`
		Type  string `json:"type"`
	}
)
