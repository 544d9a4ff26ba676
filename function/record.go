package function

import (
	"encoding/json"
	"fmt"

	"github.com/restorepoint/restorepoint/events"
	"github.com/restorepoint/restorepoint/internal/jsonstr"
)

// storedResult is a created result as the idempotency store keeps it: the
// result event's id and subject, and its data. The trace context is the
// trigger's, and so comes from each delivery.
type storedResult struct {
	ID      string          `json:"id"`
	Subject string          `json:"subject,omitempty"`
	Created *events.Created `json:"created"`
}

// encodeRecord encodes a created result (complete or partial) for the store,
// as the JSON of a storedResult.
func encodeRecord(r events.Result) []byte {
	b := make([]byte, 0, 1024)
	b = append(b, `{"id":`...)
	b = jsonstr.Append(b, r.ID)
	if r.Subject != "" {
		b = append(b, `,"subject":`...)
		b = jsonstr.Append(b, r.Subject)
	}
	b = append(b, `,"created":`...)
	b = r.Created.AppendJSON(b)
	return append(b, '}')
}

// decodeRecord decodes what encodeRecord made.
func decodeRecord(b []byte) (events.Result, error) {
	var s storedResult
	if err := json.Unmarshal(b, &s); err != nil {
		return events.Result{}, fmt.Errorf("decode idempotency record: %w", err)
	}
	if s.Created == nil {
		return events.Result{}, fmt.Errorf("decode idempotency record: no result")
	}
	return events.Result{Type: events.TypeCheckpointCreated, ID: s.ID, Subject: s.Subject, Created: s.Created}, nil
}
