package events

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
)

// acceptedTypes lists the event types DecodeEvent accepts, for its errors.
const acceptedTypes = TypeServerTagged + ", " + TypeDeployPre + ", " + TypeCheckpointRequested +
	", or any type whose data is a CTS record"

// cloudEvent is what the decoder reads of a CloudEvent, whether it came as an
// sdk-go event.Event or as structured JSON.
type cloudEvent struct {
	id, source, typ, subject string
	time                     time.Time
	extensions               map[string]any
	data                     []byte
}

// DecodeEvent turns a CloudEvent into a Trigger.
//
// The types TypeServerTagged, TypeDeployPre and TypeCheckpointRequested carry
// their JSON data (see ServerTagged, DeployPre, CheckpointRequested). An event
// of any other type whose data is a CTS record, {"cts":{...}} or the bare
// record, is decoded as DecodeCTS does (Event Grid delivers these with source
// "HC.ECS" and type "ECS:CloudTrace:ApiCall"); its Ref stays the CloudEvent's,
// whose source and id Event Grid keeps across redeliveries, and its Subject
// falls back to the tagged server.
//
// Ref comes from the event's id, source, type and subject, Time from its time,
// DryRun from the extension "dryrun" (true, or the string "true" in any case)
// and TraceParent from the extension "traceparent" (dropped when it is not a
// valid W3C traceparent, as the W3C recommends).
//
// Errors are *failure.FieldError (class invalid): an unknown type whose data is no CTS record is
// reported on the field "type"; errors in data on "data.<path>".
func DecodeEvent(e event.Event) (Trigger, error) {
	if e.Context == nil {
		return Trigger{}, fieldErr("specversion", "required")
	}
	return decodeCloudEvent(cloudEvent{
		id:         e.ID(),
		source:     e.Source(),
		typ:        e.Type(),
		subject:    e.Subject(),
		time:       e.Time(),
		extensions: e.Extensions(),
		data:       e.Data(),
	})
}

func decodeCloudEvent(ce cloudEvent) (Trigger, error) {
	if ce.id == "" {
		return Trigger{}, fieldErr("id", "required")
	}
	if ce.source == "" {
		return Trigger{}, fieldErr("source", "required")
	}
	t := Trigger{
		Ref:         Ref{ID: ce.id, Source: ce.source, Type: ce.typ, Subject: ce.subject},
		Time:        ce.time,
		TraceParent: traceParent(extension(ce.extensions, ExtensionTraceParent)),
	}
	var err error
	if t.DryRun, err = dryRun(extension(ce.extensions, ExtensionDryRun)); err != nil {
		return Trigger{}, err
	}
	if kind, ok := kindOfType(ce.typ); ok {
		if err := decodeData(&t, kind, ce.data, "data"); err != nil {
			return Trigger{}, err
		}
		return t, nil
	}
	raw, path, ok := ctsData(ce.data)
	if !ok {
		return Trigger{}, fieldErr("type", fmt.Sprintf("unknown type %q; must be one of %s", ce.typ, acceptedTypes))
	}
	if err := checkJSON(ce.data, "data"); err != nil {
		return Trigger{}, err
	}
	rec, err := decodeCTSRecord(raw, path)
	if err != nil {
		return Trigger{}, err
	}
	if t.Time.IsZero() {
		t.Time = rec.time
	}
	if err := rec.apply(&t); err != nil {
		return Trigger{}, err
	}
	if ce.subject != "" {
		t.Ref.Subject = ce.subject
	} else if t.Ref.Subject == "" {
		t.Ref.Subject = rec.resourceID
	}
	return t, nil
}

// extension returns the extension name, looked up without regard to case.
func extension(ext map[string]any, name string) any {
	if v, ok := ext[name]; ok {
		return v
	}
	for k, v := range ext {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return nil
}

// dryRun reads the dryrun extension: a boolean, or "true"/"false" in any case.
func dryRun(v any) (bool, error) {
	switch v := v.(type) {
	case nil:
		return false, nil
	case bool:
		return v, nil
	case string:
		switch {
		case strings.EqualFold(v, "true"):
			return true, nil
		case strings.EqualFold(v, "false"), v == "":
			return false, nil
		}
	}
	return false, fieldErr(ExtensionDryRun, "must be true or false")
}

// traceParent returns v if it is a W3C traceparent
// (version-traceid-parentid-flags in lower-case hex), else "".
func traceParent(v any) string {
	s, ok := v.(string)
	if !ok || len(s) < 55 || (len(s) > 55 && (s[:2] == "00" || s[55] != '-')) {
		return ""
	}
	for i := 0; i < 55; i++ {
		c := s[i]
		switch i {
		case 2, 35, 52:
			if c != '-' {
				return ""
			}
		default:
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
				return ""
			}
		}
	}
	if s[:2] == "ff" || s[3:35] == strings.Repeat("0", 32) || s[36:52] == strings.Repeat("0", 16) {
		return ""
	}
	return s
}

// Decode sniffs a raw JSON payload and decodes it: a structured CloudEvent
// (it has "specversion", see DecodeEvent), an AWS EventBridge event (it has
// "detail-type", see DecodeEventBridge) or a FunctionGraph CTS trigger
// payload (it has "cts", see DecodeCTS). It serves `restorepoint explain` and
// the Lambda handler.
//
// A structured CloudEvent must be CloudEvents 1.0 JSON: specversion "1.0",
// id, source and type, optional subject, time, datacontenttype, data or
// data_base64; any other member is an extension. time may be RFC 3339 or, as
// some cloud event buses send it, epoch milliseconds.
func Decode(payload []byte) (Trigger, error) {
	o, err := parseObject(payload, "")
	if err != nil {
		return Trigger{}, err
	}
	switch {
	case o.present("specversion"):
		return decodeStructured(o)
	case o.present("detail-type"):
		return decodeEventBridge(o)
	case o.present("cts"):
		return decodeCTS(o)
	}
	return Trigger{}, fieldErr(rootField, "must be a CloudEvent (with specversion), "+
		"an EventBridge event (with detail-type) or a CTS trigger (with cts)")
}

// decodeStructured decodes a CloudEvent in the structured JSON format.
func decodeStructured(o object) (Trigger, error) {
	var ce cloudEvent
	version, err := o.string("specversion")
	if err != nil {
		return Trigger{}, err
	}
	if version != event.CloudEventsVersionV1 {
		return Trigger{}, fieldErr("specversion", `must be "1.0"`)
	}
	for _, f := range []struct {
		key string
		dst *string
	}{{"id", &ce.id}, {"source", &ce.source}, {"type", &ce.typ}, {"subject", &ce.subject}} {
		if *f.dst, err = o.string(f.key); err != nil {
			return Trigger{}, err
		}
	}
	if ce.typ == "" {
		return Trigger{}, fieldErr("type", "required, one of "+acceptedTypes)
	}
	if ce.time, err = flexTime(o, "time"); err != nil {
		return Trigger{}, err
	}
	contentType, err := o.string("datacontenttype")
	if err != nil {
		return Trigger{}, err
	}
	switch data, data64 := o.raw("data"), o.raw("data_base64"); {
	case data != nil && data64 != nil:
		return Trigger{}, fieldErr("data_base64", "must not be given together with data")
	case data64 != nil:
		s, err := o.string("data_base64")
		if err != nil {
			return Trigger{}, err
		}
		if ce.data, err = base64.StdEncoding.DecodeString(s); err != nil {
			return Trigger{}, fieldErr("data_base64", "must be base64")
		}
	case data != nil && data[0] == '"' && !isJSONMediaType(contentType):
		// Data of a non-JSON media type is written as a JSON string.
		var s string
		if err := json.Unmarshal(data, &s); err != nil {
			return Trigger{}, fieldErr("data", "must be a string")
		}
		ce.data = []byte(s)
	default:
		ce.data = data
	}
	ce.extensions = make(map[string]any)
	for key, raw := range o.fields {
		switch key {
		case "specversion", "id", "source", "type", "subject", "time",
			"datacontenttype", "dataschema", "data", "data_base64":
			continue
		}
		var v any
		if json.Unmarshal(raw, &v) == nil {
			ce.extensions[key] = v
		}
	}
	return decodeCloudEvent(ce)
}

// isJSONMediaType reports whether a datacontenttype is JSON, as the
// CloudEvents JSON format defines it (absent counts as JSON).
func isJSONMediaType(contentType string) bool {
	mt, _, _ := strings.Cut(strings.ToLower(contentType), ";")
	mt = strings.TrimSpace(mt)
	return mt == "" || mt == "application/json" || mt == "text/json" || strings.HasSuffix(mt, "+json")
}

// eventBridgePrefix is the part of restorepoint's event types an EventBridge
// detail-type may leave out.
const eventBridgePrefix = "io.restorepoint."

// DecodeEventBridge decodes an AWS EventBridge event
// {"version","id","detail-type","source","account","time","region","resources","detail"}.
// detail-type is one of the trigger types with or without the
// "io.restorepoint." prefix ("server.tagged" or "io.restorepoint.server.tagged");
// detail holds the data, as in DecodeEvent, and errors in it are reported on
// "detail.<path>". Ref.ID is id, Ref.Source is source and Ref.Type the full
// io.restorepoint.* type; Time is time. EventBridge has no extensions, so
// DryRun is false and TraceParent empty.
func DecodeEventBridge(payload []byte) (Trigger, error) {
	o, err := parseObject(payload, "")
	if err != nil {
		return Trigger{}, err
	}
	return decodeEventBridge(o)
}

func decodeEventBridge(o object) (Trigger, error) {
	var t Trigger
	var err error
	if t.Ref.ID, err = o.string("id"); err != nil {
		return Trigger{}, err
	}
	if t.Ref.ID == "" {
		return Trigger{}, fieldErr("id", "required")
	}
	if t.Ref.Source, err = o.string("source"); err != nil {
		return Trigger{}, err
	}
	if t.Ref.Source == "" {
		return Trigger{}, fieldErr("source", "required")
	}
	detailType, err := o.string("detail-type")
	if err != nil {
		return Trigger{}, err
	}
	t.Ref.Type = eventBridgePrefix + strings.TrimPrefix(detailType, eventBridgePrefix)
	kind, ok := kindOfType(t.Ref.Type)
	if !ok {
		return Trigger{}, fieldErr("detail-type", fmt.Sprintf(
			"must be one of %s, %s, %s (the %q prefix is optional)",
			KindServerTagged, KindDeployPre, KindCheckpointRequested, eventBridgePrefix))
	}
	if t.Time, err = flexTime(o, "time"); err != nil {
		return Trigger{}, err
	}
	if err := decodeData(&t, kind, o.fields["detail"], "detail"); err != nil {
		return Trigger{}, err
	}
	return t, nil
}
