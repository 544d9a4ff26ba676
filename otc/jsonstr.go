package otc

// JSON string literals: the event and API decoders read ids, names, types
// and timestamps field by field, a dozen per event.

import (
	"encoding/json"
	"unicode/utf8"
)

// JSONString decodes v if it is a JSON string literal, with the result and
// the verdict of json.Unmarshal into a string (FuzzJSONString holds the two
// together). A literal with nothing to unescape (no backslash, quote or
// control character between its quotes, valid UTF-8) is its own text; only
// the others go through json.Unmarshal, whose set-up (a validating scan, a
// decoder state, reflection) costs more than the copy (docs/benchmarks.md).
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

// plain reports whether b, the inside of a JSON string literal, needs no
// unescaping: valid UTF-8 without a backslash, a quote or a control character.
func plain(b []byte) bool {
	for _, c := range b {
		if c < 0x20 || c == '"' || c == '\\' {
			return false
		}
	}
	return utf8.Valid(b)
}
