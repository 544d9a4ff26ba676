package handler

import "github.com/google/uuid"

// newID returns a fresh result event id.
func newID() string { return uuid.NewString() }
