package events

import (
	"fmt"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
)

// Event renders r as a CloudEvent from source, with the given id and time:
// subject the vault, data JSON, and the trigger's traceparent carried over.
func (r Result) Event(source, id string, at time.Time) (event.Event, error) {
	e := event.New()
	e.SetID(id)
	e.SetSource(source)
	e.SetType(r.Type)
	e.SetTime(at.UTC())
	if r.Subject != "" {
		e.SetSubject(r.Subject)
	}
	if r.TraceParent != "" {
		e.SetExtension(ExtensionTraceParent, r.TraceParent)
	}
	if err := e.SetData(event.ApplicationJSON, r.Data()); err != nil {
		return event.Event{}, fmt.Errorf("result event data: %w", err)
	}
	if err := e.Validate(); err != nil {
		return event.Event{}, fmt.Errorf("result event: %w", err)
	}
	return e, nil
}
