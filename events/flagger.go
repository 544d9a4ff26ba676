package events

import (
	"strings"

	"github.com/restorepoint/restorepoint/otc"
)

// FlaggerType is the Ref.Type of a trigger decoded from a Flagger webhook.
const FlaggerType = "app.flagger.webhook"

// SenderFlagger is the Ref.Sender of a trigger decoded from a Flagger
// webhook: its canary and the checksum of the configuration it rolls out.
const SenderFlagger = "flagger"

// decodeFlagger decodes the payload Flagger posts to a canary's webhooks,
// {"name","namespace","phase","checksum","metadata":{…}}: a confirm-rollout
// webhook holds the rollout until it is answered 2xx, asking again every
// analysis interval. It becomes a gate: a KindDeployPre trigger of service
// "<name>.<namespace>", version the checksum, whose metadata (strings, as
// Flagger's are) may name vault_id, resources (UUIDs separated by commas or
// spaces), name and description. The Ref is Source
// "flagger/<namespace>/<name>", ID the checksum: the same for every ask of
// one rollout, another for the next.
func decodeFlagger(o object) (Trigger, error) {
	name, err := o.requiredString("name")
	if err != nil {
		return Trigger{}, err
	}
	namespace, err := o.requiredString("namespace")
	if err != nil {
		return Trigger{}, err
	}
	checksum, err := o.requiredString("checksum")
	if err != nil {
		return Trigger{}, err
	}
	if _, err := o.string("phase"); err != nil {
		return Trigger{}, err
	}
	t := Trigger{Ref: Ref{ID: checksum, Source: "flagger/" + namespace + "/" + name, Type: FlaggerType,
		Subject: namespace + "/" + name, Sender: SenderFlagger}, Gate: true}
	meta, _, err := o.member("metadata")
	if err != nil {
		return Trigger{Ref: t.Ref}, err
	}
	d := &DeployPre{Service: name + "." + namespace, Version: checksum, Resources: []ResourceRef{}, Gate: true}
	if meta.members != nil {
		if d.VaultID, err = meta.uuid("vault_id", false); err != nil {
			return Trigger{Ref: t.Ref}, err
		}
		list, err := meta.string("resources")
		if err != nil {
			return Trigger{Ref: t.Ref}, err
		}
		for i, id := range strings.FieldsFunc(list, func(r rune) bool { return r == ',' || r == ' ' }) {
			if !otc.IsUUID(id) {
				return Trigger{Ref: t.Ref}, fieldErr(index(meta.at("resources"), i), otc.UUIDRule)
			}
			d.Resources = append(d.Resources, ResourceRef{ID: id, Bare: true})
		}
		if d.Name, err = meta.string("name"); err != nil {
			return Trigger{Ref: t.Ref}, err
		}
		if d.Description, err = meta.text("description", 0); err != nil {
			return Trigger{Ref: t.Ref}, err
		}
	}
	t.Kind, t.DeployPre = KindDeployPre, d
	return t, nil
}
