package events

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"

	"github.com/restorepoint/restorepoint/otc"
)

// Ref types of triggers decoded from GitHub webhooks: "com.github." and the
// X-GitHub-Event ("com.github.deployment", "com.github.ping", "com.github.push").
const (
	GitHubTypePrefix     = "com.github."
	GitHubTypeDeployment = GitHubTypePrefix + "deployment"
)

// GitHubSourcePrefix prefixes the Ref.Source of a GitHub trigger that names
// a repository: "github/repositories/<repository id>".
const GitHubSourcePrefix = "github/repositories/"

// GitHubPayloadKey is the member of a deployment's payload that carries
// restorepoint's parameters: deployment.payload.restorepoint.
const GitHubPayloadKey = "restorepoint"

// DecodeGitHub decodes a GitHub webhook delivery, given its headers and raw
// body (check its signature first: handler does).
//
//   - X-GitHub-Event "deployment" with action "created" whose
//     deployment.payload.restorepoint is an object becomes a KindDeployPre
//     trigger: Service is repository.full_name, Version deployment.sha
//     ("<ref>@<sha>" when deployment.ref is a branch or tag), Environment
//     deployment.environment, and resources, vault_id, wait, incremental,
//     auto_trigger, name and description come from payload.restorepoint as
//     in a deploy.pre event's data. payload may also be a JSON-encoded string.
//   - A deployment without payload.restorepoint, or with another action, is
//     KindIgnored with the reason (a rule may still map it).
//   - "deployment_protection_rule" (Ref.Type GitHubTypeProtectionRule: a
//     deployment waits for the review of restorepoint's GitHub App) with
//     action "requested" becomes a KindDeployPre trigger as a deployment
//     does, carrying the Review to post once its restore point ended;
//     without payload.restorepoint it is KindIgnored with the Review (the
//     deployment is rejected), with another action KindIgnored. Its Ref.ID
//     is "<deployment.id>/<environment>".
//   - "ping" is KindIgnored with Ref.Type "com.github.ping" and Ref.Source
//     "github/hooks/<X-GitHub-Hook-ID>" ("github" without that header): the
//     webhook is set up; answer 200.
//   - Any other event is KindIgnored with the reason; its body is not read.
//
// The Ref of a deployment is Source "github/repositories/<repository.id>",
// ID deployment.id: the same for every redelivery. Ref.Delivery is
// X-GitHub-Delivery, Ref.Subject repository.full_name, Time
// deployment.created_at. A deployment missing a field it needs is an error
// naming it ("deployment.sha"); errors are
// *failure.FieldError, and come with the Ref as far as it was read (so that
// a failed result names the delivery).
func DecodeGitHub(h Header, body []byte) (Trigger, error) {
	event := strings.ToLower(strings.TrimSpace(h.Get(HeaderGitHubEvent)))
	delivery := headerText(h, HeaderGitHubDelivery)
	if event == "" {
		return Trigger{}, fieldErr("header "+HeaderGitHubEvent, "required")
	}
	if !isPlainName(event) {
		return Trigger{}, fieldErr("header "+HeaderGitHubEvent, "must be a GitHub event name")
	}
	id := delivery
	if id == "" {
		id = BodyID(body)
	}
	t := Trigger{Ref: Ref{ID: id, Source: "github", Type: GitHubTypePrefix + event, Delivery: delivery, Sender: SenderGitHub}}
	switch event {
	case "ping":
		if hook := headerText(h, HeaderGitHubHookID); hook != "" {
			t.Ref.Source = "github/hooks/" + hook
		}
		return ignored(t, "GitHub ping: the webhook is set up"), nil
	case "deployment":
		return decodeGitHubDeployment(t, body)
	case "deployment_protection_rule":
		return decodeGitHubProtectionRule(t, body)
	}
	return ignored(t, fmt.Sprintf("GitHub event %q is not handled (only deployment and deployment_protection_rule)", event)), nil
}

// GitHubTypeProtectionRule is the Ref.Type of a deployment protection rule's
// request: a deployment waits for restorepoint's review.
const GitHubTypeProtectionRule = GitHubTypePrefix + "deployment_protection_rule"

// decodeGitHubProtectionRule decodes a deployment_protection_rule event of
// restorepoint's GitHub App: with action "requested", a deployment to an
// environment waits for the app's review. It becomes a KindDeployPre
// trigger as a deployment's does (from deployment.payload.restorepoint),
// carrying the Review to post once its restore point ended; without
// payload.restorepoint it is KindIgnored with the Review, and the deployment
// is rejected saying what to configure (a rule may map it instead). The Ref
// is Source "github/repositories/<repository.id>", ID "<deployment.id>/<environment>".
func decodeGitHubProtectionRule(t Trigger, body []byte) (Trigger, error) {
	g, err := parseGitHubDeployment(body)
	if err != nil {
		return Trigger{Ref: t.Ref}, err
	}
	env, err := g.o.requiredString("environment")
	if err != nil {
		return Trigger{Ref: t.Ref}, err
	}
	t.Ref.Source, t.Ref.ID, t.Ref.Subject = GitHubSourcePrefix+g.repoID, g.depID+"/"+env, g.repo
	if g.action != "requested" {
		return ignored(t, fmt.Sprintf("GitHub deployment protection rule for %s: action %q is not requested", env, g.action)), nil
	}
	callback, err := g.o.requiredString("deployment_callback_url")
	if err != nil {
		return Trigger{Ref: t.Ref}, err
	}
	inst, err := g.o.requiredMember("installation")
	if err != nil {
		return Trigger{Ref: t.Ref}, err
	}
	instID, err := inst.requiredID("id")
	if err != nil {
		return Trigger{Ref: t.Ref}, err
	}
	n, _ := strconv.ParseInt(instID, 10, 64)
	t.Review = &Review{InstallationID: n, CallbackURL: callback, Environment: env}
	sha, err := g.dep.string("sha")
	if err != nil {
		return Trigger{Ref: t.Ref, Review: t.Review}, err
	}
	return g.deployPre(t, env, sha)
}

func ignored(t Trigger, reason string) Trigger {
	t.Kind, t.IgnoreReason = KindIgnored, reason
	return t
}

func decodeGitHubDeployment(t Trigger, body []byte) (Trigger, error) {
	g, err := parseGitHubDeployment(body)
	if err != nil {
		return Trigger{Ref: t.Ref}, err
	}
	t.Ref.Source, t.Ref.ID, t.Ref.Subject = GitHubSourcePrefix+g.repoID, g.depID, g.repo
	if g.action != "created" {
		return ignored(t, fmt.Sprintf("GitHub deployment %s of %s: action %q is not created", g.depID, g.repo, g.action)), nil
	}
	sha, err := g.dep.requiredString("sha")
	if err != nil {
		return Trigger{Ref: t.Ref}, err
	}
	ref, err := g.dep.string("ref")
	if err != nil {
		return Trigger{Ref: t.Ref}, err
	}
	env, err := g.dep.string("environment")
	if err != nil {
		return Trigger{Ref: t.Ref}, err
	}
	version := sha
	if ref != "" && ref != sha {
		version = ref + "@" + sha
	}
	return g.deployPre(t, env, version)
}

// githubDeployment is what a deployment event and a deployment protection
// rule's share: the action, the repository and the deployment.
type githubDeployment struct {
	o            object
	action       string
	repoID, repo string // repository.id and repository.full_name
	dep          object // deployment
	depID        string // deployment.id
}

// parseGitHubDeployment reads the fields every deployment event needs,
// naming the first one missing or wrong.
func parseGitHubDeployment(body []byte) (githubDeployment, error) {
	var g githubDeployment
	var repo object
	var err error
	if g.o, err = parseObject(body, ""); err != nil {
		return g, err
	}
	if g.action, err = g.o.requiredString("action"); err != nil {
		return g, err
	}
	if repo, err = g.o.requiredMember("repository"); err != nil {
		return g, err
	}
	if g.repoID, err = repo.requiredID("id"); err != nil {
		return g, err
	}
	if g.repo, err = repo.requiredString("full_name"); err != nil {
		return g, err
	}
	if g.dep, err = g.o.requiredMember("deployment"); err != nil {
		return g, err
	}
	g.depID, err = g.dep.requiredID("id")
	return g, err
}

// deployPre finishes t as the deploy.pre of deployment g to env (may be
// "") at version: its time is deployment.created_at, its parameters
// deployment.payload.restorepoint; without them t is ignored. An error comes
// with t's Ref and Review (a protection rule's deployment is then rejected
// saying why).
func (g githubDeployment) deployPre(t Trigger, env, version string) (Trigger, error) {
	failed := Trigger{Ref: t.Ref, Review: t.Review}
	var err error
	if t.Time, err = flexTime(g.dep, "created_at"); err != nil {
		return failed, err
	}
	params, ok, err := githubParams(g.dep)
	if err != nil {
		return failed, err
	}
	if !ok {
		to := ""
		if env != "" {
			to = " to " + env
		}
		return ignored(t, fmt.Sprintf("GitHub deployment %s of %s%s has no payload.%s and no rule maps it",
			g.depID, g.repo, to, GitHubPayloadKey)), nil
	}
	d, err := decodeDeployParams(params)
	if err != nil {
		return failed, err
	}
	d.Service, d.Environment, d.Version = g.repo, env, version
	t.Kind, t.DeployPre = KindDeployPre, d
	return t, nil
}

// githubParams returns deployment.payload.restorepoint. GitHub keeps a
// deployment's payload as given: an object, or a string holding JSON.
func githubParams(dep object) (object, bool, error) {
	raw := dep.raw("payload")
	path := dep.at("payload")
	if raw == nil {
		return object{}, false, nil
	}
	if raw[0] == '"' {
		s, ok := otc.JSONString(raw)
		if !ok || !strings.HasPrefix(strings.TrimSpace(s), "{") {
			return object{}, false, nil
		}
		raw = []byte(s)
	}
	if t := bytes.TrimSpace(raw); len(t) == 0 || t[0] != '{' {
		return object{}, false, nil
	}
	payload, err := parseObject(raw, path)
	if err != nil {
		return object{}, false, err
	}
	return payload.member(GitHubPayloadKey)
}

// decodeDeployParams decodes the deploy.pre fields a sender's payload may
// carry: resources, vault_id, wait, incremental, auto_trigger, name, description.
func decodeDeployParams(o object) (*DeployPre, error) {
	var d DeployPre
	var err error
	if d.Resources, err = decodeResources(o.raw("resources"), o.at("resources")); err != nil {
		return nil, err
	}
	if d.VaultID, err = o.uuid("vault_id", false); err != nil {
		return nil, err
	}
	if d.Incremental, err = o.optBool("incremental"); err != nil {
		return nil, err
	}
	if d.AutoTrigger, err = o.optBool("auto_trigger"); err != nil {
		return nil, err
	}
	if d.Wait, err = o.bool("wait"); err != nil {
		return nil, err
	}
	if d.Gate, err = o.bool("gate"); err != nil {
		return nil, err
	}
	if d.Name, err = o.string("name"); err != nil {
		return nil, err
	}
	// An event's own description is shortened to leave room for the
	// key marker, so only its text is held to the rule, not its length.
	if d.Description, err = o.text("description", 0); err != nil {
		return nil, err
	}
	return &d, nil
}
