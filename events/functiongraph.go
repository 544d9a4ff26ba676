package events

import (
	"cmp"
	"encoding/json"
	"errors"
	"strings"

	"github.com/restorepoint/restorepoint/failure"
)

// Payloads of FunctionGraph's own triggers: the timer trigger (a Trigger, see
// Decode) and the SMN trigger (an envelope of messages, see DecodeSMN). The
// CTS trigger {"cts":{...}} is Decode's too (cts.go); an Event Grid trigger
// delivers a structured CloudEvent, which is Decode's.

// TimerSourcePrefix starts the Ref.Source of a timer trigger; the trigger's
// name follows it.
const TimerSourcePrefix = "functiongraph/timer/"

// TimerTriggerType is the trigger_type of a FunctionGraph timer trigger.
const TimerTriggerType = "TIMER"

// timerUserEventRule says what a timer's user_event must hold.
const timerUserEventRule = `must be a string holding a structured CloudEvent (with specversion) ` +
	`or a checkpoint.requested body ({"checkpoint":{...}} or {"vault_id","parameters"})`

// decodeTimer decodes the payload of a FunctionGraph timer trigger, parsed
// into o, as Decode describes.
func decodeTimer(o object) (Trigger, error) {
	typ, err := o.string("trigger_type")
	if err != nil {
		return Trigger{}, err
	}
	if typ != TimerTriggerType {
		return Trigger{}, fieldErr("trigger_type", `must be "TIMER"`)
	}
	name, err := o.string("trigger_name")
	if err != nil {
		return Trigger{}, err
	}
	if name == "" {
		return Trigger{}, fieldErr("trigger_name", "required")
	}
	at, err := o.string("time")
	if err != nil {
		return Trigger{}, err
	}
	if at == "" {
		return Trigger{}, fieldErr("time", "required (it tells the timer's ticks apart)")
	}
	when, err := flexTime(o, "time")
	if err != nil {
		return Trigger{}, err
	}
	userEvent, err := o.string("user_event")
	if err != nil {
		return Trigger{}, err
	}
	inner, err := parseObject([]byte(userEvent), "user_event")
	if err != nil {
		return Trigger{}, fieldErr("user_event", timerUserEventRule)
	}
	var t Trigger
	switch {
	case inner.present("specversion"):
		if t, err = decodeStructured(inner); err != nil {
			return Trigger{}, under("user_event", err)
		}
	case isRequestBody(inner):
		if err := decodeRequestBody(&t, inner); err != nil {
			return Trigger{}, err
		}
	default:
		return Trigger{}, fieldErr("user_event", timerUserEventRule)
	}
	t.Ref.Source, t.Ref.ID, t.Ref.Sender = TimerSourcePrefix+name, at, SenderFunctionGraph
	t.Time = when
	return t, nil
}

// isRequestBody reports whether o looks like a bare checkpoint.requested
// body: {"checkpoint":{...}} or {"vault_id","parameters"}.
func isRequestBody(o object) bool { return o.present("checkpoint") || o.present("vault_id") }

// decodeRequestBody decodes the bare checkpoint.requested body o into t.
func decodeRequestBody(t *Trigger, o object) error {
	t.Ref.Type = TypeCheckpointRequested
	return decodeData(t, KindCheckpointRequested, o.src, o.path, true)
}

// under reports a field error of a document nested at path as an error of
// the enclosing payload: its field is prefixed with path, and it no longer
// matches ErrUnrecognized (the payload was recognized).
func under(path string, err error) error {
	var fe *failure.FieldError
	if !errors.As(err, &fe) {
		return err
	}
	field := path
	if fe.Field != "" && fe.Field != rootField {
		field = path + "." + fe.Field
	}
	return &failure.FieldError{Field: field, Rule: fe.Rule}
}

// SMNEvent is the payload of a FunctionGraph SMN trigger: the messages
// published to a topic, one per record.
type SMNEvent struct {
	// Record holds one record per message (SMN sends one).
	Record []SMNRecord `json:"record"`
	// FunctionName is the invoked function, when the platform says.
	FunctionName string `json:"functionname,omitempty"`
	// RequestID is the platform's request ID, when it says.
	RequestID string `json:"requestId,omitempty"`
	// Timestamp is when the event was sent, in the platform's own format.
	Timestamp string `json:"timestamp,omitempty"`
}

// SMNRecord is one record of an SMNEvent.
type SMNRecord struct {
	// EventVersion is the record's version ("1.0").
	EventVersion string `json:"event_version"`
	// SMN is the message.
	SMN SMNMessage `json:"smn"`
	// EventSubscriptionURN is the subscription that delivered the message.
	EventSubscriptionURN string `json:"event_subscription_urn"`
	// EventSource is "smn".
	EventSource string `json:"event_source"`
}

// SMNMessage is a message published to an SMN topic.
type SMNMessage struct {
	// TopicURN is the topic the message was published to.
	TopicURN string `json:"topic_urn"`
	// Timestamp is when the message was published.
	Timestamp string `json:"timestamp"`
	// MessageAttributes are kept as sent: documented as a map, seen as null
	// and as the string "None".
	MessageAttributes json.RawMessage `json:"message_attributes,omitempty"`
	// Message is the message's content: for restorepoint, a trigger payload.
	Message string `json:"message"`
	// Type is the message's type ("notification").
	Type string `json:"type"`
	// MessageID identifies the message.
	MessageID string `json:"message_id"`
	// Subject is the message's subject.
	Subject string `json:"subject"`
}

// IsSMN reports whether payload looks like an SMN trigger's payload: a JSON
// object with a "record" member. DecodeSMN says whether it is one.
func IsSMN(payload []byte) bool {
	o, err := parseObject(payload, "")
	return err == nil && o.present("record")
}

// DecodeSMN decodes the payload of a FunctionGraph SMN trigger,
//
//	{"record":[{"event_version":"1.0","smn":{"topic_urn","timestamp",
//	  "message_attributes","message","type","message_id","subject"},
//	  "event_subscription_urn","event_source":"smn"}],...}
//
// Each record's smn.message is a trigger payload of its own (a structured
// CloudEvent, an EventBridge event, a CTS trigger...), to be decoded with
// Decode. Errors are *failure.FieldError: record must be a non-empty list
// whose records have event_source "smn" and a non-empty smn.message.
func DecodeSMN(payload []byte) (SMNEvent, error) {
	o, err := parseObject(payload, "")
	if err != nil {
		return SMNEvent{}, err
	}
	raw := o.raw("record")
	if raw == nil {
		return SMNEvent{}, fieldErr("record", "required, a non-empty list of SMN records")
	}
	var recs []json.RawMessage
	if json.Unmarshal(raw, &recs) != nil || len(recs) == 0 {
		return SMNEvent{}, fieldErr("record", "must be a non-empty list of SMN records")
	}
	ev := SMNEvent{Record: make([]SMNRecord, len(recs))}
	for key, dst := range map[string]*string{"functionname": &ev.FunctionName, "requestId": &ev.RequestID, "timestamp": &ev.Timestamp} {
		if *dst, err = o.string(key); err != nil {
			return SMNEvent{}, err
		}
	}
	for i, raw := range recs {
		path := index("record", i)
		rec, err := parseObject(raw, path)
		if err != nil {
			return SMNEvent{}, err
		}
		r := &ev.Record[i]
		if r.EventSource, err = rec.string("event_source"); err != nil {
			return SMNEvent{}, err
		}
		if !strings.EqualFold(r.EventSource, "smn") {
			return SMNEvent{}, fieldErr(rec.at("event_source"), `must be "smn"`)
		}
		if r.EventVersion, err = rec.string("event_version"); err != nil {
			return SMNEvent{}, err
		}
		if r.EventSubscriptionURN, err = rec.string("event_subscription_urn"); err != nil {
			return SMNEvent{}, err
		}
		msg, err := parseMember(rec.value("smn"), rec.at("smn"))
		if err != nil {
			return SMNEvent{}, err
		}
		m := &r.SMN
		for key, dst := range map[string]*string{
			"topic_urn": &m.TopicURN, "timestamp": &m.Timestamp, "message": &m.Message,
			"type": &m.Type, "message_id": &m.MessageID, "subject": &m.Subject,
		} {
			if *dst, err = msg.string(key); err != nil {
				return SMNEvent{}, err
			}
		}
		m.MessageAttributes = msg.raw("message_attributes")
		if m.Message == "" {
			return SMNEvent{}, fieldErr(msg.at("message"), "required, a trigger payload (a structured CloudEvent, an EventBridge event or a CTS trigger)")
		}
	}
	return ev, nil
}

// smnMessageRule says what an SMN message must hold.
const smnMessageRule = "must be a structured CloudEvent (with specversion), an EventBridge event (with detail-type), " +
	`a CTS trigger (with cts) or a checkpoint.requested body ({"checkpoint":{...}} or {"vault_id","parameters"})`

// DecodeSMNMessage decodes the message of one SMN record: whatever Decode
// accepts, or a bare checkpoint.requested body ({"checkpoint":{...}} or
// {"vault_id","parameters"}), whose Ref is Source = the topic's URN ("smn"
// when it has none), ID = the message's ID, Type = TypeCheckpointRequested
// and Subject = the message's subject.
//
// Errors are *failure.FieldError; one about the message as a whole is
// reported on "smn.message" and says what is expected.
func DecodeSMNMessage(m SMNMessage) (Trigger, error) {
	t, err := Decode([]byte(m.Message))
	if !errors.Is(err, ErrUnrecognized) {
		return t, err
	}
	o, perr := parseObject([]byte(m.Message), "smn.message")
	if perr != nil || !isRequestBody(o) {
		return Trigger{}, fieldErr("smn.message", smnMessageRule)
	}
	if m.MessageID == "" {
		return Trigger{}, fieldErr("smn.message_id", "required with a bare checkpoint.requested body (it is the trigger's id)")
	}
	t = Trigger{Ref: Ref{Source: cmp.Or(m.TopicURN, "smn"), ID: m.MessageID, Subject: m.Subject, Sender: SenderSMN}}
	if err := decodeRequestBody(&t, o); err != nil {
		return Trigger{}, err
	}
	return t, nil
}
