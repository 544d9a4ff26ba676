package function

import (
	"encoding/json"
	"fmt"

	"github.com/restorepoint/restorepoint/events"
)

// storedResult is what the idempotency store keeps of a created result (or
// of the part of a split trigger made so far): the result event's id and the
// checkpoints as the API answered. Everything else in the result is the
// trigger's and its plan's, and is made again for each delivery
// (createdResult), so that a record stays small: it lives for
// IDEMPOTENCY_TTL, in memory or in a shared store.
//
// A result that associated resources with the vault, or skipped any, keeps
// those lists too: a resource the vault refused to associate is in no
// checkpoint's answer (see Function.associate).
type storedResult struct {
	ID          string              `json:"id"`
	Checkpoints []events.Checkpoint `json:"checkpoints"`
	// Associated and Skipped are the result's associated_resources and
	// skipped_resources; absent when empty.
	Associated []events.ResourceRef     `json:"associated,omitempty"`
	Skipped    []events.SkippedResource `json:"skipped,omitempty"`
}

// encodeRecord encodes the storedResult of a created result.
func encodeRecord(r events.Result) ([]byte, error) {
	b, err := json.Marshal(storedResult{ID: r.ID, Checkpoints: r.Created.Checkpoints,
		Associated: r.Created.AssociatedResources, Skipped: r.Created.SkippedResources})
	if err != nil {
		return nil, fmt.Errorf("encode idempotency record: %w", err)
	}
	return b, nil
}

// decodeRecord decodes what encodeRecord made.
func decodeRecord(b []byte) (storedResult, error) {
	var s storedResult
	if err := json.Unmarshal(b, &s); err != nil {
		return storedResult{}, fmt.Errorf("decode idempotency record: %w", err)
	}
	return s, nil
}

// result is the created result of t, planned as plan, that s records.
func (s storedResult) result(t events.Trigger, plan Plan) (events.Result, error) {
	r, err := createdResult(t, plan, s.ID, s.Checkpoints)
	if err != nil {
		return r, err
	}
	if s.Skipped != nil {
		r.Created.SkippedResources = s.Skipped
	}
	r.Created.AssociatedResources = s.Associated
	return r, nil
}

// createdResult is the created result of t, planned as plan, with the
// checkpoints made so far; the skipped resources are those the checkpoints
// report.
func createdResult(t events.Trigger, plan Plan, id string, checkpoints []events.Checkpoint) (events.Result, error) {
	created := &events.Created{
		Trigger:          t.Ref,
		VaultID:          plan.VaultID,
		Checkpoints:      append([]events.Checkpoint{}, checkpoints...),
		Resources:        nonNil(plan.Resources),
		SkippedResources: []events.SkippedResource{},
	}
	for _, cp := range checkpoints {
		var answer struct {
			Vault struct {
				SkippedResources []events.SkippedResource `json:"skipped_resources"`
			} `json:"vault"`
		}
		if err := json.Unmarshal(cp.JSON, &answer); err != nil {
			return events.Result{}, fmt.Errorf("decode idempotency record: checkpoint %s: %w", cp.ID, err)
		}
		created.SkippedResources = append(created.SkippedResources, answer.Vault.SkippedResources...)
	}
	return events.Result{
		Type:        events.TypeCheckpointCreated,
		ID:          id,
		Subject:     plan.VaultID,
		TraceParent: t.TraceParent,
		Created:     created,
	}, nil
}
