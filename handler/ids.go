package handler

import (
	"encoding/json"

	"github.com/google/uuid"
)

// newID returns a fresh result event id.
func newID() string { return uuid.NewString() }

// checkpointID reads the id of a checkpoint as the API returned it.
func checkpointID(raw json.RawMessage) string {
	var cp struct {
		ID string `json:"id"`
	}
	_ = json.Unmarshal(raw, &cp)
	return cp.ID
}
