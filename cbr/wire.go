package cbr

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/restorepoint/restorepoint/otc"
)

// ParseTimestamp parses a CBR time with or without a zone; a time without a
// zone is UTC.
func ParseTimestamp(s string) (Timestamp, error) {
	t, ok := otc.ParseTime(s)
	if !ok {
		return Timestamp{}, fmt.Errorf("timestamp %q: want RFC 3339 with or without a zone", s)
	}
	return Timestamp{Time: t, raw: s}, nil
}

// NewTimestamp returns a Timestamp for t that encodes as RFC 3339 with a zone.
func NewTimestamp(t time.Time) Timestamp { return Timestamp{Time: t} }

// String returns the time as the API sent it, or as RFC 3339 when made locally.
func (t Timestamp) String() string {
	if t.raw != "" {
		return t.raw
	}
	if t.Time.IsZero() {
		return ""
	}
	return t.Time.Format("2006-01-02T15:04:05.000000Z07:00")
}

// MarshalJSON encodes the time in the form it was decoded from.
func (t Timestamp) MarshalJSON() ([]byte, error) {
	return json.Marshal(t.String())
}

// UnmarshalJSON accepts a string with or without a zone, or null/"" for no time.
func (t *Timestamp) UnmarshalJSON(b []byte) error {
	if bytes.Equal(b, []byte("null")) {
		*t = Timestamp{}
		return nil
	}
	s, ok := otc.JSONString(b)
	if !ok {
		return fmt.Errorf("timestamp: want a string, got %s", abbreviate(b))
	}
	if s == "" {
		*t = Timestamp{}
		return nil
	}
	parsed, err := ParseTimestamp(s)
	if err != nil {
		return err
	}
	*t = parsed
	return nil
}

// Quantity is a size or count the API documents as a string but may send as a
// JSON number (resource_size in the page's own example). It keeps the form it
// arrived in, so it re-encodes unchanged.
type Quantity struct {
	text   string
	quoted bool
}

// NumberQuantity returns a Quantity that encodes as a JSON number.
func NumberQuantity(n int64) *Quantity {
	return &Quantity{text: strconv.FormatInt(n, 10)}
}

// String returns the value as text, without quotes.
func (q Quantity) String() string { return q.text }

// MarshalJSON encodes the value in the form it was decoded from.
func (q Quantity) MarshalJSON() ([]byte, error) {
	if q.quoted {
		return json.Marshal(q.text)
	}
	if q.text == "" {
		return []byte("null"), nil
	}
	return []byte(q.text), nil
}

// UnmarshalJSON accepts a JSON number or string.
func (q *Quantity) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case len(b) > 0 && b[0] == '"':
		s, ok := otc.JSONString(b)
		if !ok {
			var s string
			return json.Unmarshal(b, &s) // the error encoding/json gives
		}
		*q = Quantity{text: s, quoted: true}
	case bytes.Equal(b, []byte("null")):
		*q = Quantity{}
	case len(b) > 0 && (b[0] == '-' || '0' <= b[0] && b[0] <= '9') && json.Valid(b):
		*q = Quantity{text: string(b)} // a JSON number is its own text
	default:
		return fmt.Errorf("quantity: want a number or a string, got %s", abbreviate(b))
	}
	return nil
}

// memberValue returns the value of the member of the JSON object data that
// encoding/json decodes into a struct field named name (the key equals name,
// ignoring case), and how many members match; with more than one, encoding/json
// decodes each in turn and raw is the last. data must be valid JSON.
func memberValue(data []byte, name string) (raw []byte, n int) {
	for key, value := range otc.Members(data) {
		if key.EqualFold(name) {
			raw, n = value, n+1
		}
	}
	return raw, n
}

// abbreviate shortens raw JSON for an error message.
func abbreviate(b []byte) string {
	const max = 40
	if len(b) > max {
		return string(b[:max]) + "..."
	}
	return string(b)
}
