package events

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/restorepoint/restorepoint/otc"
)

// FluxType is the Ref.Type of a trigger decoded from a Flux notification.
const FluxType = "io.fluxcd.event"

// FluxSourcePrefix prefixes the Ref.Source of a Flux trigger:
// "flux/<reportingController>".
const FluxSourcePrefix = "flux/"

// FluxEvent is the event Flux's notification-controller posts with the
// generic and generic-hmac providers.
type FluxEvent struct {
	InvolvedObject      FluxObject        `json:"involvedObject"`
	Severity            string            `json:"severity"`
	Timestamp           time.Time         `json:"timestamp"`
	Message             string            `json:"message"`
	Reason              string            `json:"reason"`
	Metadata            map[string]string `json:"metadata,omitempty"`
	ReportingController string            `json:"reportingController"`
	ReportingInstance   string            `json:"reportingInstance,omitempty"`
}

// FluxObject is the Kubernetes object a Flux event is about.
type FluxObject struct {
	Kind       string `json:"kind"`
	Namespace  string `json:"namespace,omitempty"`
	Name       string `json:"name"`
	UID        string `json:"uid,omitempty"`
	APIVersion string `json:"apiVersion,omitempty"`
}

// ParseFluxEvent decodes a Flux event. involvedObject.kind,
// involvedObject.name and reason are required; errors are
// *failure.FieldError
// naming the field.
func ParseFluxEvent(body []byte) (*FluxEvent, error) {
	o, err := parseObject(body, "")
	if err != nil {
		return nil, err
	}
	var e FluxEvent
	obj, err := o.requiredMember("involvedObject")
	if err != nil {
		return nil, err
	}
	for _, f := range []struct {
		o        object
		key      string
		dst      *string
		required bool
	}{
		{obj, "kind", &e.InvolvedObject.Kind, true},
		{obj, "name", &e.InvolvedObject.Name, true},
		{obj, "namespace", &e.InvolvedObject.Namespace, false},
		{obj, "uid", &e.InvolvedObject.UID, false},
		{obj, "apiVersion", &e.InvolvedObject.APIVersion, false},
		{o, "reason", &e.Reason, true},
		{o, "severity", &e.Severity, false},
		{o, "message", &e.Message, false},
		{o, "reportingController", &e.ReportingController, false},
		{o, "reportingInstance", &e.ReportingInstance, false},
	} {
		if f.required {
			*f.dst, err = f.o.requiredString(f.key)
		} else {
			*f.dst, err = f.o.string(f.key)
		}
		if err != nil {
			return nil, err
		}
	}
	if e.Timestamp, err = flexTime(o, "timestamp"); err != nil {
		return nil, err
	}
	if raw := o.raw("metadata"); raw != nil {
		var m map[string]json.RawMessage
		if raw[0] != '{' || json.Unmarshal(raw, &m) != nil {
			return nil, fieldErr(o.at("metadata"), "must be an object of strings")
		}
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys) // report the same error every time
		e.Metadata = make(map[string]string, len(m))
		for _, k := range keys {
			v, ok := scalarText(m[k])
			if !ok {
				return nil, fieldErr(child(o.at("metadata"), k), "must be a string")
			}
			e.Metadata[k] = v
		}
	}
	return &e, nil
}

// DecodeFlux decodes a Flux notification (check its signature or token
// first: handler does). Flux reports what
// happened, so there is no built-in action: the result is KindIgnored with
// the reason, unless a rule maps the event. The Ref is Source
// "flux/<reportingController>", ID BodyID of the body (a retry sends the same
// bytes), Subject "<kind>/<namespace>/<name>"; Time is timestamp.
func DecodeFlux(h Header, body []byte) (Trigger, error) {
	e, err := ParseFluxEvent(body)
	if err != nil {
		return Trigger{Ref: Ref{ID: BodyID(body), Source: FluxSourcePrefix + "notification-controller", Type: FluxType, Sender: SenderFlux}}, err
	}
	controller := e.ReportingController
	if controller == "" || !otc.Printable(controller) || len(controller) > 253 {
		controller = "notification-controller"
	}
	obj := e.InvolvedObject
	subject := strings.Join([]string{obj.Kind, obj.Namespace, obj.Name}, "/")
	t := Trigger{
		Ref:  Ref{ID: BodyID(body), Source: FluxSourcePrefix + controller, Type: FluxType, Subject: subject, Sender: SenderFlux},
		Time: e.Timestamp,
	}
	return ignored(t, fmt.Sprintf("Flux event %s for %s: Flux reports what happened; only a rule maps it to a backup",
		e.Reason, subject)), nil
}
