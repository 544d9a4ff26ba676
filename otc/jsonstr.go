package otc

// JSON string literals, decoded as encoding/json decodes them: the event
// decoders read ids, names and types field by field, and most are plain.

import (
	"bytes"
	"encoding/json"
	"unicode/utf8"
)

// JSONString decodes v if it is a JSON string literal, with the result and the
// verdict of json.Unmarshal into a string. A literal without escapes, whose
// text is valid UTF-8, is its own text between the quotes and is copied as it
// is; any other goes through encoding/json.
func JSONString(v []byte) (string, bool) {
	if len(v) == 0 || v[0] != '"' {
		return "", false
	}
	if n := len(v); n >= 2 && v[n-1] == '"' && plain(v[1:n-1]) {
		return string(v[1 : n-1]), true
	}
	var s string
	if json.Unmarshal(v, &s) != nil {
		return "", false
	}
	return s, true
}

// plain reports whether b can stand between quotes as it is: no quote, no
// backslash, no control character, valid UTF-8.
func plain(b []byte) bool {
	if bytes.IndexByte(b, '"') >= 0 || bytes.IndexByte(b, '\\') >= 0 {
		return false
	}
	for _, c := range b {
		if c < 0x20 {
			return false
		}
	}
	return utf8.Valid(b)
}
