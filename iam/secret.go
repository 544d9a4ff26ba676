package iam

import (
	"fmt"
	"log/slog"

	"github.com/restorepoint/restorepoint/otc"
)

// redacted is what a Secret shows instead of its value.
const redacted = otc.Redacted

// Secret is a string that never prints: fmt (every verb), encoding/json,
// encoding.TextMarshaler users and log/slog all see "[redacted]". Use
// [Secret.Reveal] where the value is really needed.
//
// Its underlying kind is string, so it works as an envconfig or JSON input
// field. Note that fmt cannot call methods on unexported struct fields:
// printing a struct that holds a Secret in an unexported field shows the
// value. Keep such fields exported, or give the struct its own Format method.
type Secret string

// Reveal returns the secret value.
func (s Secret) Reveal() string { return string(s) }

// String returns "[redacted]".
func (s Secret) String() string { return redacted }

// GoString returns "[redacted]", for the %#v verb.
func (s Secret) GoString() string { return redacted }

// Format writes "[redacted]" whatever the verb and flags, so that %x or %q
// cannot reveal the value either.
func (s Secret) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(redacted)) }

// MarshalJSON returns the JSON string "[redacted]".
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }

// MarshalText returns "[redacted]"; slog's text handler and other encoders
// use it.
func (s Secret) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// LogValue returns "[redacted]"; it makes Secret a [slog.LogValuer].
func (s Secret) LogValue() slog.Value { return slog.StringValue(redacted) }
