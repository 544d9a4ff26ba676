package otc

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// The CBR vocabulary: the resource types, the checkpoint name pattern and the
// text limits of the API page "Creating a Restore Point", and the text rule
// restorepoint holds every text to before it reaches CBR. Every package that
// checks or composes such a value (events, rules, function, cbr) asks here.

// Resource types a checkpoint request may name.
const (
	TypeServer   = "OS::Nova::Server"
	TypeVolume   = "OS::Cinder::Volume"
	TypeSFSTurbo = "OS::Sfs::Turbo"
)

// Limits of a create-checkpoint request.
const (
	// MaxResources is the most resource_details one request may carry.
	MaxResources = 256
	// MaxNameLen is the longest checkpoint name, in bytes (the name is ASCII).
	MaxNameLen = 64
	// MaxDescription is the longest checkpoint description, in characters.
	MaxDescription = 255
	// MaxResourceName is the longest resource name, in characters.
	MaxResourceName = 255
)

// Rules, as a failure.FieldError states them.
const (
	// ResourceTypeRule is the rule of a resource type.
	ResourceTypeRule = "must be one of " + TypeServer + ", " + TypeVolume + ", " + TypeSFSTurbo
	// NameRule is the rule of a checkpoint name.
	NameRule = "only letters, digits, _ and - allowed, 1-64 characters"
	// UUIDRule is the rule of a vault or resource id.
	UUIDRule = "must be a UUID"
)

// ValidResourceType reports whether t is one of the resource types the API
// page documents.
func ValidResourceType(t string) bool {
	return t == TypeServer || t == TypeVolume || t == TypeSFSTurbo
}

// ValidName reports whether s matches the checkpoint name pattern of the API
// page, ^[A-Za-z0-9_-]{1,64}$. It is a loop rather than a compiled regexp:
// compiling the {1,64} repetition costs a millisecond of every start.
func ValidName(s string) bool {
	if len(s) < 1 || len(s) > MaxNameLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !nameByte(s[i]) {
			return false
		}
	}
	return true
}

func nameByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-'
}

// NameFrom maps s to the name alphabet [A-Za-z0-9_-]: every run of other
// characters becomes one '-', with none at either end. It does not bound the
// length.
func NameFrom(s string) string {
	var b strings.Builder
	dash := false
	for i := 0; i < len(s); i++ {
		if c := s[i]; nameByte(c) && c != '-' {
			b.WriteByte(c)
			dash = false
			continue
		}
		if !dash && b.Len() > 0 {
			b.WriteByte('-')
			dash = true
		}
	}
	return strings.TrimRight(b.String(), "-")
}

// IsUUID reports whether s has the 8-4-4-4-12 hexadecimal shape of a UUID,
// as vault and resource ids do.
func IsUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
				return false
			}
		}
	}
	return true
}

// TextRule checks a text that goes to CBR (a description, a resource name)
// or into restorepoint's answers (an id): valid UTF-8 of at most max
// characters (no bound when max is 0), without control characters (C0, DEL,
// C1), bidirectional controls (U+202A-U+202E, U+2066-U+2069), or < and >. It
// returns the rule the text breaks, "" when it breaks none.
func TextRule(s string, max int) string {
	n := 0
	for i, r := range s {
		switch {
		case invalidAt(s, i, r):
			return "must be valid UTF-8"
		case forbidden(r):
			return "must not contain control characters, bidirectional controls, < or >"
		}
		n++
	}
	if max > 0 && n > max {
		return "at most " + strconv.Itoa(max) + " characters"
	}
	return ""
}

// Printable reports whether s is valid UTF-8 without control characters or
// bidirectional controls (< and > are allowed): fit for an id in a log line
// or a reply.
func Printable(s string) bool {
	for i, r := range s {
		if invalidAt(s, i, r) || r != '<' && r != '>' && forbidden(r) {
			return false
		}
	}
	return true
}

// CleanText makes a text restorepoint composes itself (from an event's
// values) fit TextRule with the same max: one line, every forbidden
// character or invalid byte a space (< and > dropped), trimmed, cut at max
// characters.
func CleanText(s string, max int) string {
	if TextRule(s, max) == "" {
		return strings.TrimSpace(s)
	}
	var b strings.Builder
	b.Grow(len(s))
	n := 0
	for i, r := range s {
		if max > 0 && n == max {
			break
		}
		switch {
		case r == '<' || r == '>':
			continue
		case invalidAt(s, i, r) || forbidden(r):
			r = ' '
		}
		b.WriteRune(r)
		n++
	}
	return strings.TrimSpace(b.String())
}

// invalidAt reports whether r, ranged over at s[i], stands for an invalid
// byte rather than a U+FFFD that is there.
func invalidAt(s string, i int, r rune) bool {
	return r == utf8.RuneError && !strings.HasPrefix(s[i:], "\uFFFD")
}

// forbidden reports whether r may not appear in a text for CBR.
func forbidden(r rune) bool {
	return r < 0x20 || 0x7f <= r && r <= 0x9f || 0x202a <= r && r <= 0x202e || 0x2066 <= r && r <= 0x2069 ||
		r == '<' || r == '>'
}
