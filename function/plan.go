package function

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/restorepoint/restorepoint/cbr"
	"github.com/restorepoint/restorepoint/events"
	"github.com/restorepoint/restorepoint/failure"
	"github.com/restorepoint/restorepoint/otc"
)

// Plan is what a trigger comes to before any API call: the vault, the
// create-checkpoint requests (several when more than 256 resources are asked
// for), or the reason to do nothing.
type Plan struct {
	// VaultID is the vault every request goes to.
	VaultID string
	// Requests are the create-checkpoint bodies, in the order they are sent.
	Requests []cbr.VaultBackup
	// Resources are the resources asked for, de-duplicated; empty means the whole vault.
	Resources []events.ResourceRef
	// Wait asks to poll each checkpoint until it is available.
	Wait bool
	// IgnoreReason is set when the trigger asks for nothing; Requests is then empty.
	IgnoreReason string
	// Marker is the trigger key's marker that every request's description
	// ends with, so that a restore point found by its name can be confirmed
	// as the trigger's (see Function.Handle).
	Marker string
}

// disabledValues are backup tag values that mean "do not back up".
var disabledValues = []string{"false", "no", "off", "none", "disabled"}

// Plan decides what t asks for, without calling any API. Every request
// carries a name CBR can find the restore point by again (ending in a short
// digest of the trigger's source and id, unless the event chose the name)
// and a description ending in the key's marker (Plan.Marker). A trigger that
// cannot be planned (no vault, a vault not allowed, a request the API would
// refuse) gives an error of class failure.Invalid: a *failure.FieldError
// naming the offending field, or failure.FieldErrors from cbr.Validate.
func (f *Function) Plan(t events.Trigger) (Plan, error) {
	switch t.Kind {
	case events.KindIgnored:
		return Plan{IgnoreReason: t.IgnoreReason}, nil
	case events.KindServerTagged:
		if t.ServerTagged != nil {
			return f.planTagged(t)
		}
	case events.KindDeployPre:
		if t.DeployPre != nil {
			return f.planDeploy(t)
		}
	case events.KindCheckpointRequested:
		if t.CheckpointRequested != nil {
			return f.planRequested(t)
		}
	}
	return Plan{}, &failure.FieldError{Field: "type", Rule: fmt.Sprintf("trigger kind %q carries no payload", t.Kind)}
}

func (f *Function) planTagged(t events.Trigger) (Plan, error) {
	s := t.ServerTagged
	backupValue, hasBackup := s.Tags[f.cfg.BackupTag]
	tagVault, hasVaultTag := s.Tags[f.cfg.VaultTag]
	if !hasBackup && !hasVaultTag {
		return Plan{IgnoreReason: fmt.Sprintf("server %s has neither tag %q nor tag %q", s.ServerID, f.cfg.BackupTag, f.cfg.VaultTag)}, nil
	}
	if hasBackup && slices.Contains(disabledValues, strings.ToLower(strings.TrimSpace(backupValue))) {
		return Plan{IgnoreReason: fmt.Sprintf("server %s has tag %s=%s, which disables backups", s.ServerID, f.cfg.BackupTag, backupValue)}, nil
	}

	vault, field := s.VaultID, "data.vault_id"
	if vault == "" && strings.TrimSpace(tagVault) != "" {
		vault, field = strings.TrimSpace(tagVault), "data.tags."+f.cfg.VaultTag
	}
	if vault == "" && hasBackup {
		if routed, ok := f.cfg.VaultRoutes[strings.TrimSpace(backupValue)]; ok {
			vault, field = routed, "CBR_VAULT_ROUTES"
		}
	}
	if vault == "" {
		vault, field = f.cfg.DefaultVaultID, "CBR_DEFAULT_VAULT_ID"
	}
	if vault == "" {
		return Plan{}, &failure.FieldError{Field: "vault_id", Rule: fmt.Sprintf(
			"no vault for server %s: set data.vault_id, tag %q, a route for %s=%q in CBR_VAULT_ROUTES, or CBR_DEFAULT_VAULT_ID",
			s.ServerID, f.cfg.VaultTag, f.cfg.BackupTag, backupValue)}
	}
	if err := f.allowVault(vault, field); err != nil {
		return Plan{}, err
	}

	subject := s.ServerName
	if subject == "" {
		subject = s.ServerID
	}
	res := events.ResourceRef{ID: s.ServerID, Type: otc.TypeServer, Name: s.ServerName}
	param := cbr.CheckpointParam{
		Name:        generatedName("tagged", subject, t),
		Description: otc.CleanText(fmt.Sprintf("Backup of server %s, tagged %s, by %s", subject, formatTags(s.Tags), origin(t)), otc.MaxDescription),
		Incremental: cbr.Bool(!f.cfg.FullBackups),
	}
	return f.finish(t, vault, param, []events.ResourceRef{res}, s.Wait)
}

func (f *Function) planDeploy(t events.Trigger) (Plan, error) {
	d := t.DeployPre
	vault, field := d.VaultID, "data.vault_id"
	if vault == "" {
		vault, field = f.cfg.DefaultVaultID, "CBR_DEFAULT_VAULT_ID"
	}
	if vault == "" {
		return Plan{}, &failure.FieldError{Field: "vault_id", Rule: fmt.Sprintf(
			"no vault for deployment of %s: set data.vault_id or CBR_DEFAULT_VAULT_ID", d.Service)}
	}
	if err := f.allowVault(vault, field); err != nil {
		return Plan{}, err
	}
	subject := strings.TrimSpace(d.Service + " " + d.Version)
	param := cbr.CheckpointParam{
		Name:        d.Name,
		Description: d.Description,
		Incremental: d.Incremental,
		AutoTrigger: d.AutoTrigger,
	}
	if param.Name == "" {
		param.Name = generatedName("pre-deploy", subject, t)
	}
	if param.Description == "" {
		env := ""
		if d.Environment != "" {
			env = " to " + d.Environment
		}
		param.Description = otc.CleanText(fmt.Sprintf("Before deploying %s%s, by %s", subject, env, origin(t)), otc.MaxDescription)
	}
	if param.Incremental == nil {
		param.Incremental = cbr.Bool(!f.cfg.FullBackups)
	}
	return f.finish(t, vault, param, d.Resources, d.Wait)
}

func (f *Function) planRequested(t events.Trigger) (Plan, error) {
	var body cbr.VaultBackup
	dec := json.NewDecoder(bytes.NewReader(t.CheckpointRequested.Body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		return Plan{}, &failure.FieldError{Field: "data.checkpoint", Rule: "not a create-checkpoint request body: " + err.Error()}
	}
	if err := f.allowVault(body.VaultID, "data.checkpoint.vault_id"); err != nil {
		return Plan{}, err
	}
	var param cbr.CheckpointParam
	var refs []events.ResourceRef
	if body.Parameters != nil {
		param = *body.Parameters
		for _, id := range param.Resources {
			refs = append(refs, events.ResourceRef{ID: id, Bare: true})
		}
		for _, r := range param.ResourceDetails {
			refs = append(refs, events.ResourceRef{ID: r.ID, Type: r.Type, Name: r.Name})
		}
	}
	extra := make(map[string]*cbr.ResourceExtraInfo)
	for _, r := range param.ResourceDetails {
		if r.ExtraInfo != nil {
			extra[r.ID] = r.ExtraInfo
		}
	}
	param.Resources, param.ResourceDetails = nil, nil
	if param.Name == "" {
		param.Name = generatedName("requested", "", t)
	}
	return f.finishWith(t, body.VaultID, param, refs, t.CheckpointRequested.Wait, extra)
}

func (f *Function) allowVault(vault, field string) error {
	if len(f.cfg.AllowedVaults) > 0 && !slices.Contains(f.cfg.AllowedVaults, vault) {
		return &failure.FieldError{Field: field, Rule: fmt.Sprintf("vault %s is not in CBR_ALLOWED_VAULTS", vault)}
	}
	return nil
}

func (f *Function) finish(t events.Trigger, vault string, param cbr.CheckpointParam, refs []events.ResourceRef, wait bool) (Plan, error) {
	return f.finishWith(t, vault, param, refs, wait, nil)
}

// finishWith de-duplicates refs, splits them into requests of at most
// otc.MaxResources each (named name-p1, name-p2, …), ends the description
// with t's key marker, and validates every request as the API would.
func (f *Function) finishWith(t events.Trigger, vault string, param cbr.CheckpointParam, refs []events.ResourceRef, wait bool, extra map[string]*cbr.ResourceExtraInfo) (Plan, error) {
	refs = dedupe(refs)
	plan := Plan{VaultID: vault, Resources: refs, Wait: wait || f.cfg.WaitForAvailable, Marker: KeyMarker(t.Ref.Digest())}
	param.Description = withMarker(param.Description, plan.Marker)
	chunks := slices.Collect(slices.Chunk(refs, otc.MaxResources))
	if len(chunks) == 0 {
		chunks = [][]events.ResourceRef{nil}
	}
	for i, chunk := range chunks {
		p := param
		if len(chunks) > 1 && p.Name != "" {
			p.Name = partName(p.Name, i+1)
		}
		for _, r := range chunk {
			if r.Bare {
				p.Resources = append(p.Resources, r.ID)
				continue
			}
			p.ResourceDetails = append(p.ResourceDetails, cbr.Resource{ID: r.ID, Type: r.Type, Name: r.Name, ExtraInfo: extra[r.ID]})
		}
		req := cbr.VaultBackup{VaultID: vault, Parameters: &p}
		if err := cbr.Validate(req); err != nil {
			return Plan{}, err
		}
		plan.Requests = append(plan.Requests, req)
	}
	return plan, nil
}

// dedupe keeps the first mention of each resource ID; a detailed mention
// replaces an earlier bare one, since it says more.
func dedupe(refs []events.ResourceRef) []events.ResourceRef {
	out := make([]events.ResourceRef, 0, len(refs))
	seen := make(map[string]int, len(refs))
	for _, r := range refs {
		if i, ok := seen[r.ID]; ok {
			if out[i].Bare && !r.Bare {
				out[i] = r
			}
			continue
		}
		seen[r.ID] = len(out)
		out = append(out, r)
	}
	return out
}

// generatedName builds kind-subject-YYYYMMDDTHHMMSSZ-tag from letters,
// digits, _ and -: the stamp is the event's time (left out when the event
// has none, so that every delivery gets the same name), the tag the short
// digest of t's key. The subject is shortened so that the name, with room
// for a part suffix, fits otc.MaxNameLen characters.
func generatedName(kind, subject string, t events.Trigger) string {
	parts := []string{kind}
	stamp, tag := "", nameTag(t.Ref.Digest())
	if !t.Time.IsZero() {
		stamp = t.Time.UTC().Format("20060102T150405Z")
	}
	room := otc.MaxNameLen - maxPartSuffix - len(kind) - len(tag) - 2
	if stamp != "" {
		room -= len(stamp) + 1
	}
	s := otc.NameFrom(subject)
	if len(s) > room {
		s = strings.TrimRight(s[:room], "-")
	}
	if s != "" {
		parts = append(parts, s)
	}
	if stamp != "" {
		parts = append(parts, stamp)
	}
	return strings.Join(append(parts, tag), "-")
}

// partName suffixes a name with the part number (-p2), keeping it within
// the limit; a generated name always has room.
func partName(name string, part int) string {
	suffix := fmt.Sprintf("-p%d", part)
	if len(name)+len(suffix) > otc.MaxNameLen {
		name = name[:otc.MaxNameLen-len(suffix)]
	}
	return name + suffix
}

// formatTags renders tags as k=v pairs in key order.
func formatTags(tags map[string]string) string {
	keys := slices.Sorted(maps.Keys(tags))
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + tags[k]
	}
	return strings.Join(parts, ",")
}

// origin names the event that caused a trigger, for descriptions.
func origin(t events.Trigger) string {
	return t.Ref.Type + " event " + t.Ref.ID + " from " + t.Ref.Source
}
