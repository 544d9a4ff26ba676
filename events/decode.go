package events

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/restorepoint/restorepoint/otc"
)

// acceptedTypes lists the event types DecodeEvent accepts, for its errors.
const acceptedTypes = TypeServerTagged + ", " + TypeDeployPre + ", " + TypeCheckpointRequested + ", " + TypeFollow +
	", " + KnativePingType + " (a follow pass), or any type whose data is a CTS record"

// cloudEvent is what the decoder reads of a CloudEvent, whether it came as an
// sdk-go event.Event or as structured JSON.
type cloudEvent struct {
	id, source, typ, subject string
	time                     time.Time
	extensions               map[string]any
	data                     []byte
	// dataMember says data is the data member of a structured event
	// parseObject accepted, and so valid JSON already.
	dataMember bool
}

// DecodeEvent turns a CloudEvent into a Trigger.
//
// The types TypeServerTagged, TypeDeployPre and TypeCheckpointRequested carry
// their JSON data (see ServerTagged, DeployPre, CheckpointRequested).
// TypeFollow, and a Knative PingSource's event (KnativePingType) whose data
// is {"restorepoint":"follow"} (other data is an error), ask for a follow
// pass (KindFollow). An event of any other type whose data is a CTS record,
// {"cts":{...}} or the bare record, is decoded as Decode decodes a CTS
// trigger payload (Event Grid delivers these with source "HC.ECS" and type
// "ECS:CloudTrace:ApiCall"); its Ref stays the CloudEvent's, whose source
// and id Event Grid keeps across redeliveries, and its Subject falls back to
// the tagged server.
//
// Ref comes from the event's id, source, type and subject, Time from its time,
// DryRun from the extension "dryrun" (true, or the string "true" in any case)
// and TraceParent from the extension "traceparent" as it came (the telemetry
// continues the trace, or drops a value that is not a W3C traceparent).
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
		TraceParent: traceParentOf(ce.extensions),
	}
	var err error
	if t.DryRun, err = dryRun(extension(ce.extensions, ExtensionDryRun)); err != nil {
		return Trigger{Ref: t.Ref}, err
	}
	if ce.typ == KnativePingType {
		// A PingSource's tick: its data says what it asks for.
		if o, err := parseObject(ce.data, "data"); err == nil && o.present("restorepoint") {
			if v, _ := o.string("restorepoint"); v == "follow" {
				t.Kind = KindFollow
				return t, nil
			}
		}
		return Trigger{Ref: t.Ref}, fieldErr("data", `a PingSource's data must be {"restorepoint":"follow"}`)
	}
	if kind, ok := kindOfType(ce.typ); ok {
		if err := decodeData(&t, kind, ce.data, "data", ce.dataMember); err != nil {
			return Trigger{Ref: t.Ref}, err
		}
		return t, nil
	}
	raw, path, ok := ctsData(ce.data)
	if !ok {
		return Trigger{Ref: t.Ref}, fieldErr("type", fmt.Sprintf("unknown type %q; must be one of %s", ce.typ, acceptedTypes))
	}
	if err := checkJSON(ce.data, "data"); err != nil {
		return Trigger{Ref: t.Ref}, err
	}
	rec, err := decodeCTSRecord(raw, path)
	if err != nil {
		return Trigger{Ref: t.Ref}, err
	}
	if t.Time.IsZero() {
		t.Time = rec.time
	}
	if err := rec.apply(&t); err != nil {
		return Trigger{Ref: t.Ref}, err
	}
	if ce.subject != "" {
		t.Ref.Subject = ce.subject
	} else if t.Ref.Subject == "" {
		t.Ref.Subject = rec.resourceID
	}
	return t, nil
}

// KnativePingType is the type of a Knative PingSource's events; one whose
// data is {"restorepoint":"follow"} asks for a follow pass.
const KnativePingType = "dev.knative.sources.ping"

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

// traceParentOf returns the traceparent extension when it is a string.
func traceParentOf(ext map[string]any) string {
	s, _ := extension(ext, ExtensionTraceParent).(string)
	return s
}

// Decode sniffs a raw JSON payload and decodes it: a structured CloudEvent
// (it has "specversion", see DecodeEvent), an AWS EventBridge event (it has
// "detail-type", see DecodeEventBridge), a FunctionGraph CTS trigger
// payload (it has "cts"), a FunctionGraph timer trigger payload (it has
// "trigger_type") or a Flagger webhook (it has "checksum" and "namespace":
// a gate). It serves `restorepoint explain`, the HTTP front door's
// application/json bodies and the Lambda and FunctionGraph front doors.
//
// A structured CloudEvent is decoded as DecodeStructured does.
//
// A CTS trigger payload is {"cts":{...}}. A tag creation on an ECS server
// (trace names createResourceTag, batchCreateResourceTags,
// createServerTags, batchCreateServerTags, in any case, from service ECS or
// TMS) becomes a KindServerTagged trigger whose ServerID is the record's
// resource_id (or, when that is empty, the first server in the request's
// "resources"), whose ServerName is resource_name and whose Tags come from
// the request. Other operations, tag deletions, failed operations (code 400
// or above) and tags on resources other than servers are KindIgnored with an
// IgnoreReason. The Ref is ID = trace_id, Source = "cts/<service_type>" (see
// CTSSource), Type = "cts:<trace_name>", Subject = the server (else
// resource_id). Time is the record's "time", else its "record_time". The
// decoder tolerates the drift seen between CTS sources: time and
// record_time as epoch milliseconds (number or numeric string) or RFC 3339;
// request as an object or a JSON-encoded string; code as a number or a
// string.
//
// A timer trigger payload is
//
//	{"version":"v1.0","time":"2018-06-01T08:30:00+08:00","trigger_type":"TIMER",
//	 "trigger_name":"Timer_001","user_event":"..."}
//
// whose user_event (the "additional information" set on the trigger) is a
// string holding either a structured CloudEvent or a checkpoint.requested
// body ({"checkpoint":{...}} or {"vault_id","parameters"}). Every tick of a
// timer is its own trigger: Ref.Source is TimerSourcePrefix + trigger_name
// and Ref.ID is time as sent, so that a redelivered tick is a duplicate and
// the next tick is not. Ref.Type is the CloudEvent's type
// (TypeCheckpointRequested for a bare body), Ref.Subject the CloudEvent's
// subject; Time is the tick's time. A CloudEvent's dryrun and traceparent
// extensions apply. Errors inside user_event are reported on "user_event"
// or "user_event.<path>".
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
	case o.present("trigger_type"):
		return decodeTimer(o)
	case o.present("checksum") && o.present("namespace"):
		return decodeFlagger(o)
	}
	return Trigger{}, fieldErr(rootField, "must be a CloudEvent (with specversion), "+
		"an EventBridge event (with detail-type), a CTS trigger (with cts), a timer trigger (with trigger_type) "+
		"or a Flagger webhook (with name, namespace and checksum)")
}

// DecodeStructured decodes a CloudEvent in the structured JSON format, as
// the CloudEvents 1.0 JSON format defines it, whatever carried it (HTTP with
// Content-Type application/cloudevents+json or application/json, a batch, a
// Lambda or FunctionGraph payload): specversion "1.0"; id, source and type,
// non-empty strings; optional subject, datacontenttype and dataschema,
// strings; time, an RFC 3339 timestamp; data or data_base64 (base64), not
// both. Every other member is an extension, whose name is lower-case
// letters and digits and whose value a string, a boolean or an integer.
// It then decodes the event as DecodeEvent does. Errors name the attribute.
func DecodeStructured(payload []byte) (Trigger, error) {
	o, err := parseObject(payload, "")
	if err != nil {
		return Trigger{}, err
	}
	if !o.present("specversion") {
		return Trigger{}, fieldErr("specversion", "required: the payload is not a structured CloudEvent")
	}
	return decodeStructured(o)
}

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
	partial := Trigger{Ref: Ref{ID: ce.id, Source: ce.source, Type: ce.typ, Subject: ce.subject}}
	if ce.typ == "" {
		return partial, fieldErr("type", "required, one of "+acceptedTypes)
	}
	if t, err := o.string("time"); err != nil {
		return partial, fieldErr("time", "must be an RFC 3339 timestamp")
	} else if t != "" {
		if ce.time, err = time.Parse(time.RFC3339Nano, t); err != nil {
			return partial, fieldErr("time", "must be an RFC 3339 timestamp")
		}
	}
	contentType, err := o.string("datacontenttype")
	if err != nil {
		return partial, err
	}
	if _, err := o.string("dataschema"); err != nil {
		return partial, err
	}
	switch data, data64 := o.raw("data"), o.raw("data_base64"); {
	case data != nil && data64 != nil:
		return partial, fieldErr("data_base64", "must not be given together with data")
	case data64 != nil:
		s, err := o.string("data_base64")
		if err != nil {
			return partial, err
		}
		if ce.data, err = base64.StdEncoding.DecodeString(s); err != nil {
			return partial, fieldErr("data_base64", "must be base64")
		}
	case data != nil && data[0] == '"' && !isJSONMediaType(contentType):
		// Data of a non-JSON media type is written as a JSON string.
		var s string
		if err := json.Unmarshal(data, &s); err != nil {
			return partial, fieldErr("data", "must be a string")
		}
		ce.data = []byte(s)
	default:
		ce.data, ce.dataMember = data, true
	}
	for _, m := range o.members {
		if slices.ContainsFunc(contextAttributes, m.key.Is) {
			continue
		}
		key, raw := m.key.String(), m.value
		if !extensionName(key) {
			return partial, fieldErr(child("", key), "an extension attribute's name must be lower-case letters and digits")
		}
		v, ok := extensionValue(raw)
		if !ok {
			return partial, fieldErr(key, "an extension attribute must be a string, a boolean or an integer")
		}
		if v == nil {
			delete(ce.extensions, key) // given again as null: the last counts
			continue
		}
		if ce.extensions == nil {
			ce.extensions = make(map[string]any)
		}
		ce.extensions[key] = v
	}
	return decodeCloudEvent(ce)
}

// contextAttributes are the members of a structured CloudEvent that are not
// extensions: the context attributes and the data.
var contextAttributes = []string{"specversion", "id", "source", "type", "subject", "time",
	"datacontenttype", "dataschema", "data", "data_base64"}

// extensionName reports whether s is a CloudEvents attribute name: lower-case
// letters and digits.
func extensionName(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('a' <= c && c <= 'z' || '0' <= c && c <= '9') {
			return false
		}
	}
	return s != ""
}

// extensionValue decodes an extension attribute's JSON value: a string, a
// boolean or an integer (CloudEvents' Integer, 32 bits); null counts as
// absent (nil).
func extensionValue(raw json.RawMessage) (any, bool) {
	switch {
	case raw == nil || isNull(raw):
		return nil, true
	case raw[0] == '"':
		return otc.JSONString(raw)
	case raw[0] == 't' || raw[0] == 'f':
		var b bool
		return b, json.Unmarshal(raw, &b) == nil
	}
	n, err := strconv.ParseInt(string(raw), 10, 32)
	return int32(n), err == nil
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
	t.Ref.Sender = SenderEventBridge
	kind, ok := kindOfType(t.Ref.Type)
	if !ok {
		return Trigger{}, fieldErr("detail-type", fmt.Sprintf(
			"must be one of %s, %s, %s, %s (the %q prefix is optional)",
			KindServerTagged, KindDeployPre, KindCheckpointRequested, KindFollow, eventBridgePrefix))
	}
	if t.Time, err = flexTime(o, "time"); err != nil {
		return Trigger{}, err
	}
	if err := decodeData(&t, kind, o.value("detail"), "detail", true); err != nil {
		return Trigger{}, err
	}
	return t, nil
}
