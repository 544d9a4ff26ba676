package function

import (
	"encoding/json"
	"fmt"

	"github.com/restorepoint/restorepoint/events"
)

// storedResult is a created result as the idempotency store keeps it: the
// result event's id and subject, and its data. The trace context is the
// trigger's, and so comes from each delivery.
type storedResult struct {
	ID      string          `json:"id"`
	Subject string          `json:"subject,omitempty"`
	Created *events.Created `json:"created"`
}

// encodeRecord encodes a created result (complete or partial) for the store.
func encodeRecord(r events.Result) ([]byte, error) {
	b, err := json.Marshal(storedResult{ID: r.ID, Subject: r.Subject, Created: r.Created})
	if err != nil {
		return nil, fmt.Errorf("encode idempotency record: %w", err)
	}
	return b, nil
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
