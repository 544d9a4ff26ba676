package events

import (
	"encoding/json"
	"strconv"

	"github.com/restorepoint/restorepoint/otc"
)

// AppendJSON appends the JSON of c, byte for byte what encoding/json writes
// for it (a test holds the two together), without reflection and without
// compacting the checkpoints again: a created result is encoded for every
// result event and every idempotency record, so this is on every trigger's
// path. Checkpoint and request JSON is written as it is held: compact and
// HTML-escaped, as the CBR client and the idempotency record hold it.
func (c *Created) AppendJSON(b []byte) []byte {
	b = append(b, `{"trigger":`...)
	b = c.Trigger.appendJSON(b)
	b = append(b, `,"vault_id":`...)
	b = otc.AppendJSONString(b, c.VaultID)
	b = append(b, `,"checkpoints":`...)
	b = appendList(b, c.Checkpoints, func(cp Checkpoint, b []byte) []byte {
		if len(cp.JSON) == 0 {
			return append(b, "null"...)
		}
		return append(b, cp.JSON...)
	})
	b = append(b, `,"resources":`...)
	b = appendList(b, c.Resources, ResourceRef.appendJSON)
	b = append(b, `,"skipped_resources":`...)
	b = appendList(b, c.SkippedResources, SkippedResource.appendJSON)
	if len(c.AssociatedResources) > 0 {
		b = append(b, `,"associated_resources":`...)
		b = appendList(b, c.AssociatedResources, ResourceRef.appendJSON)
	}
	b = append(b, `,"duplicate":`...)
	b = strconv.AppendBool(b, c.Duplicate)
	b = append(b, `,"dry_run":`...)
	b = strconv.AppendBool(b, c.DryRun)
	if len(c.Requests) > 0 {
		b = append(b, `,"requests":`...)
		b = appendList(b, c.Requests, func(r json.RawMessage, b []byte) []byte { return append(b, r...) })
	}
	return append(b, '}')
}

func (r Ref) appendJSON(b []byte) []byte {
	b = append(b, `{"id":`...)
	b = otc.AppendJSONString(b, r.ID)
	b = append(b, `,"source":`...)
	b = otc.AppendJSONString(b, r.Source)
	b = append(b, `,"type":`...)
	b = otc.AppendJSONString(b, r.Type)
	if r.Subject != "" {
		b = append(b, `,"subject":`...)
		b = otc.AppendJSONString(b, r.Subject)
	}
	if r.Sender != "" {
		b = append(b, `,"sender":`...)
		b = otc.AppendJSONString(b, r.Sender)
	}
	if r.Delivery != "" {
		b = append(b, `,"delivery":`...)
		b = otc.AppendJSONString(b, r.Delivery)
	}
	return append(b, '}')
}

func (r ResourceRef) appendJSON(b []byte) []byte {
	b = append(b, `{"id":`...)
	b = otc.AppendJSONString(b, r.ID)
	if r.Type != "" {
		b = append(b, `,"type":`...)
		b = otc.AppendJSONString(b, r.Type)
	}
	if r.Name != "" {
		b = append(b, `,"name":`...)
		b = otc.AppendJSONString(b, r.Name)
	}
	return append(b, '}')
}

func (s SkippedResource) appendJSON(b []byte) []byte {
	b = append(b, `{"id":`...)
	b = otc.AppendJSONString(b, s.ID)
	b = append(b, `,"type":`...)
	b = otc.AppendJSONString(b, s.Type)
	b = append(b, `,"name":`...)
	b = otc.AppendJSONString(b, s.Name)
	b = append(b, `,"code":`...)
	b = otc.AppendJSONString(b, s.Code)
	b = append(b, `,"reason":`...)
	b = otc.AppendJSONString(b, s.Reason)
	return append(b, '}')
}

// appendList appends s as a JSON array ("null" for a nil slice, as
// encoding/json writes it).
func appendList[T any](b []byte, s []T, appendOne func(T, []byte) []byte) []byte {
	if s == nil {
		return append(b, "null"...)
	}
	b = append(b, '[')
	for i, v := range s {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendOne(v, b)
	}
	return append(b, ']')
}
