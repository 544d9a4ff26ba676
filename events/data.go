package events

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"

	"github.com/restorepoint/restorepoint/otc"
)

// MaxTriggerResources is the most resources one deploy.pre trigger may name.
// The function splits them into requests of at most 256; this bound only
// stops hostile input.
const MaxTriggerResources = 10000

// kindOfType returns the kind of one of restorepoint's own trigger types.
func kindOfType(typ string) (Kind, bool) {
	switch typ {
	case TypeServerTagged:
		return KindServerTagged, true
	case TypeDeployPre:
		return KindDeployPre, true
	case TypeCheckpointRequested:
		return KindCheckpointRequested, true
	case TypeFollow:
		return KindFollow, true
	}
	return "", false
}

// decodeData decodes raw, the data at path of a trigger of the given kind,
// into t. member says raw is a member of an object parseObject accepted
// (see parseMember).
func decodeData(t *Trigger, kind Kind, raw []byte, path string, member bool) error {
	if kind == KindFollow { // a schedule's tick: its data says nothing more
		t.Kind = kind
		return nil
	}
	parse := parseObject
	if member {
		parse = parseMember
	}
	o, err := parse(raw, path)
	if err != nil {
		return err
	}
	switch kind {
	case KindServerTagged:
		t.ServerTagged, err = decodeServerTagged(o)
	case KindDeployPre:
		t.DeployPre, err = decodeDeployPre(o)
		if err == nil {
			t.Gate = t.Gate || t.DeployPre.Gate
		}
	case KindCheckpointRequested:
		t.CheckpointRequested, err = decodeCheckpointRequested(o)
		if err == nil {
			t.Gate = t.Gate || t.CheckpointRequested.Gate
		}
	}
	if err != nil {
		return err
	}
	t.Kind = kind
	return nil
}

func decodeServerTagged(o object) (*ServerTagged, error) {
	var st ServerTagged
	var err error
	if st.ServerID, err = o.uuid("server_id", true); err != nil {
		return nil, err
	}
	if st.ServerName, err = o.text("server_name", otc.MaxResourceName); err != nil {
		return nil, err
	}
	if st.Tags, err = decodeTags(o.raw("tags"), o.at("tags")); err != nil {
		return nil, err
	}
	if st.VaultID, err = o.uuid("vault_id", false); err != nil {
		return nil, err
	}
	if st.Wait, err = o.bool("wait"); err != nil {
		return nil, err
	}
	return &st, nil
}

// decodeTags decodes tags given as an object {"k":"v"} or as a list of
// {"key":"k","value":"v"} objects (the ECS and TMS shape) or "k=v" strings
// (the Nova shape). Values may be strings, numbers or booleans (their text)
// or null (""). Absent tags are nil.
func decodeTags(raw json.RawMessage, path string) (map[string]string, error) {
	if raw == nil {
		return nil, nil
	}
	switch raw[0] {
	case '{':
		o, err := parseMember(raw, path)
		if err != nil {
			return nil, fieldErr(path, "must be an object or a list of {key, value}")
		}
		tags := make(map[string]string, len(o.members))
		// From the last: of a key given twice the last counts, as in
		// encoding/json, and the same error is reported every time.
		for i := len(o.members) - 1; i >= 0; i-- {
			k := o.members[i].key.String()
			if _, ok := tags[k]; ok {
				continue
			}
			if k == "" {
				return nil, fieldErr(path, "keys must not be empty")
			}
			v, ok := scalarText(o.members[i].value)
			if !ok {
				return nil, fieldErr(child(path, k), "must be a string, number, boolean or null")
			}
			tags[k] = v
		}
		return tags, nil
	case '[':
		var list []json.RawMessage
		if json.Unmarshal(raw, &list) != nil {
			return nil, fieldErr(path, "must be an object or a list of {key, value}")
		}
		tags := make(map[string]string, len(list))
		for i, item := range list {
			k, v, err := decodeTag(item, index(path, i))
			if err != nil {
				return nil, err
			}
			tags[k] = v
		}
		return tags, nil
	}
	return nil, fieldErr(path, "must be an object or a list of {key, value}")
}

// decodeTag decodes one tag of a list: {"key":"k","value":"v"} or "k=v".
func decodeTag(raw json.RawMessage, path string) (key, value string, err error) {
	if raw[0] == '"' {
		s, ok := otc.JSONString(raw)
		if !ok {
			return "", "", fieldErr(path, "must be a {key, value} object or a \"key=value\" string")
		}
		key, value, _ = strings.Cut(s, "=")
		if key == "" {
			return "", "", fieldErr(path, "key must not be empty")
		}
		return key, value, nil
	}
	if raw[0] != '{' {
		return "", "", fieldErr(path, "must be a {key, value} object or a \"key=value\" string")
	}
	o, err := parseObject(raw, path)
	if err != nil {
		return "", "", err
	}
	if key, err = o.string("key"); err != nil {
		return "", "", err
	}
	if key == "" {
		return "", "", fieldErr(o.at("key"), "required, a non-empty string")
	}
	value, ok := scalarText(o.value("value"))
	if !ok {
		return "", "", fieldErr(o.at("value"), "must be a string, number, boolean or null")
	}
	return key, value, nil
}

func decodeDeployPre(o object) (*DeployPre, error) {
	service, err := o.string("service")
	if err != nil {
		return nil, err
	}
	if strings.TrimSpace(service) == "" {
		return nil, fieldErr(o.at("service"), "required, a non-blank string")
	}
	version, err := o.string("version")
	if err != nil {
		return nil, err
	}
	environment, err := o.string("environment")
	if err != nil {
		return nil, err
	}
	d, err := decodeDeployParams(o)
	if err != nil {
		return nil, err
	}
	d.Service, d.Version, d.Environment = service, version, environment
	return d, nil
}

// decodeResources decodes the resources of a deploy.pre trigger: each a
// UUID string or an object {"id","type","name"}. Absent is an empty list
// (the whole vault).
func decodeResources(raw json.RawMessage, path string) ([]ResourceRef, error) {
	refs := []ResourceRef{}
	if raw == nil {
		return refs, nil
	}
	var list []json.RawMessage
	if raw[0] != '[' || json.Unmarshal(raw, &list) != nil {
		return nil, fieldErr(path, "must be a list")
	}
	if len(list) > MaxTriggerResources {
		return nil, fieldErr(path, "must hold at most 10000 resources")
	}
	for i, item := range list {
		p := index(path, i)
		switch item[0] {
		case '"':
			id, ok := otc.JSONString(item)
			if !ok || !otc.IsUUID(id) {
				return nil, fieldErr(p, otc.UUIDRule)
			}
			refs = append(refs, ResourceRef{ID: id, Bare: true})
		case '{':
			o, err := parseObject(item, p)
			if err != nil {
				return nil, err
			}
			var r ResourceRef
			if r.ID, err = o.uuid("id", true); err != nil {
				return nil, err
			}
			if r.Type, err = o.string("type"); err != nil {
				return nil, err
			}
			if !otc.ValidResourceType(r.Type) {
				return nil, fieldErr(o.at("type"), otc.ResourceTypeRule)
			}
			if r.Name, err = o.text("name", otc.MaxResourceName); err != nil {
				return nil, err
			}
			refs = append(refs, r)
		default:
			return nil, fieldErr(p, "must be a resource UUID or an object {id, type, name}")
		}
	}
	return refs, nil
}

// decodeCheckpointRequested accepts the API's request body {"checkpoint":{...}}
// with an optional top-level "wait", or the inner object itself, in which a
// "wait" member is taken out of the body.
func decodeCheckpointRequested(o object) (*CheckpointRequested, error) {
	var c CheckpointRequested
	var err error
	if c.Wait, err = o.bool("wait"); err != nil {
		return nil, err
	}
	if c.Gate, err = o.bool("gate"); err != nil {
		return nil, err
	}
	inner := o
	if o.present("checkpoint") {
		if inner, err = parseMember(o.value("checkpoint"), o.at("checkpoint")); err != nil {
			return nil, err
		}
	}
	vaultID, err := inner.string("vault_id")
	if err != nil {
		return nil, err
	}
	if vaultID == "" {
		return nil, fieldErr(inner.at("vault_id"), "required, a string")
	}
	if o.present("checkpoint") {
		c.Body, err = compact(o.value("checkpoint"))
	} else {
		c.Body, err = compact(o.src, "wait", "gate")
	}
	if err != nil {
		return nil, fieldErr(inner.path, "must be a JSON object")
	}
	return &c, nil
}

// compact returns the JSON object raw without insignificant space and
// without its top-level members named in drop. Member order is kept.
func compact(raw []byte, drop ...string) (json.RawMessage, error) {
	if len(drop) == 0 {
		var buf bytes.Buffer
		if err := json.Compact(&buf, raw); err != nil {
			return nil, err
		}
		return buf.Bytes(), nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	if _, err := dec.Token(); err != nil { // {
		return nil, err
	}
	var buf bytes.Buffer
	buf.WriteByte('{')
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		var value json.RawMessage
		if err := dec.Decode(&value); err != nil {
			return nil, err
		}
		key, _ := tok.(string)
		if slices.Contains(drop, key) {
			continue
		}
		if buf.Len() > 1 {
			buf.WriteByte(',')
		}
		k, _ := json.Marshal(key)
		buf.Write(k)
		buf.WriteByte(':')
		if err := json.Compact(&buf, value); err != nil {
			return nil, err
		}
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}
