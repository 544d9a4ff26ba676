package events

import (
	"fmt"
	"strings"
	"time"
)

// Ref types of triggers decoded from GitLab webhooks.
const (
	GitLabTypeDeployment = "com.gitlab.deployment"
	// GitLabTypePrefix prefixes the Ref.Type of other GitLab hooks:
	// "com.gitlab." and the X-Gitlab-Event in lower case, spaces as dashes
	// ("com.gitlab.pipeline-hook").
	GitLabTypePrefix = "com.gitlab."
)

// GitLabSourcePrefix prefixes the Ref.Source of a GitLab deployment trigger:
// "gitlab/projects/<project id>".
const GitLabSourcePrefix = "gitlab/projects/"

// gitlabTimeLayout is GitLab's status_changed_at: "2021-04-28 21:50:00 +0200".
const gitlabTimeLayout = "2006-01-02 15:04:05 -0700"

// DecodeGitLab decodes a GitLab webhook delivery, given its headers and raw
// body (check its token first: handler does).
//
// X-Gitlab-Event "Deployment Hook" with status "running" becomes a
// KindDeployPre trigger: Service is project.path_with_namespace, Version
// short_sha, Environment environment; no resources (the whole vault) and no
// vault (the configured default): a rule maps anything more specific. Other
// statuses (success, failed, canceled...) and other hooks are KindIgnored
// with the reason.
//
// The Ref of a deployment is Source "gitlab/projects/<project.id>" and ID the
// Idempotency-Key header when there is one (GitLab keeps it across retries),
// else "<deployment_id>/<status>". Ref.Delivery is X-Gitlab-Event-UUID,
// Ref.Subject project.path_with_namespace, Time status_changed_at. A
// deployment missing a field it needs is an error naming it
// ("project.path_with_namespace"); errors are
// *failure.FieldError, and come with the Ref as far as it was read.
func DecodeGitLab(h Header, body []byte) (Trigger, error) {
	hook := strings.TrimSpace(h.Get(HeaderGitLabEvent))
	if hook == "" {
		return Trigger{}, fieldErr("header "+HeaderGitLabEvent, "required")
	}
	delivery := headerText(h, HeaderGitLabEventUUID)
	id := delivery
	if id == "" {
		id = BodyID(body)
	}
	if !strings.EqualFold(hook, "Deployment Hook") {
		typ := strings.ReplaceAll(strings.ToLower(hook), " ", "-")
		if !isPlainName(typ) {
			typ = "unknown"
		}
		t := Trigger{Ref: Ref{ID: id, Source: "gitlab", Type: GitLabTypePrefix + typ, Delivery: delivery, Sender: SenderGitLab}}
		return ignored(t, fmt.Sprintf("GitLab %s is not handled (only Deployment Hook)", typ)), nil
	}
	key := ""
	if v := h.Get(HeaderIdempotencyKey); v != "" {
		if key = headerText(h, HeaderIdempotencyKey); key == "" {
			return Trigger{}, fieldErr("header "+HeaderIdempotencyKey, "must be printable text of at most 256 bytes")
		}
	}

	partial := Ref{ID: key, Source: "gitlab", Type: GitLabTypeDeployment, Delivery: delivery, Sender: SenderGitLab}
	if key == "" {
		partial.ID = id
	}
	o, err := parseObject(body, "")
	if err != nil {
		return Trigger{Ref: partial}, err
	}
	status, err := o.requiredString("status")
	if err != nil {
		return Trigger{Ref: partial}, err
	}
	depID, err := o.requiredID("deployment_id")
	if err != nil {
		return Trigger{Ref: partial}, err
	}
	project, err := o.requiredMember("project")
	if err != nil {
		return Trigger{Ref: partial}, err
	}
	projectID, err := project.requiredID("id")
	if err != nil {
		return Trigger{Ref: partial}, err
	}
	path, err := project.requiredString("path_with_namespace")
	if err != nil {
		return Trigger{Ref: partial}, err
	}
	env, err := o.requiredString("environment")
	if err != nil {
		return Trigger{Ref: partial}, err
	}
	sha, err := o.string("short_sha")
	if err != nil {
		return Trigger{Ref: partial}, err
	}
	if key == "" {
		key = depID + "/" + status
	}
	t := Trigger{Ref: Ref{
		ID:       key,
		Source:   GitLabSourcePrefix + projectID,
		Type:     GitLabTypeDeployment,
		Subject:  path,
		Delivery: delivery,
		Sender:   SenderGitLab,
	}}
	if at, err := o.string("status_changed_at"); err == nil && at != "" {
		if ts, err := time.Parse(gitlabTimeLayout, at); err == nil {
			t.Time = ts
		} else if ts, err := time.Parse(time.RFC3339, at); err == nil {
			t.Time = ts
		}
	}
	if status != "running" {
		return ignored(t, fmt.Sprintf("GitLab deployment %s of %s to %s has status %q; backups are taken when it is running",
			depID, path, env, status)), nil
	}
	t.Kind = KindDeployPre
	t.DeployPre = &DeployPre{Service: path, Version: sha, Environment: env, Resources: []ResourceRef{}}
	return t, nil
}
