// Package jsonstr decodes and encodes JSON string literals, the common ones
// without encoding/json, with the same results as encoding/json.
package otc

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

// AppendJSONString appends s to b as a JSON string, exactly as encoding/json writes it
// (HTML-safe: <, > and & escaped). Strings of plain printable ASCII, the
// usual case for ids and names, are copied as they are; any other goes
// through encoding/json itself.
func AppendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			quoted, err := json.Marshal(s)
			if err != nil { // cannot happen for a string
				quoted = []byte(`""`)
			}
			return append(b, quoted...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// JSONCompacted reports whether the valid JSON document b is already written as
// encoding/json writes raw JSON inside a larger document (json.Marshal of a
// json.RawMessage): no white space outside strings, and no <, >, &, U+2028
// or U+2029 inside them. Such a document can be copied as it is.
func JSONCompacted(b []byte) bool {
	inString := false
	for i := 0; i < len(b); i++ {
		c := b[i]
		switch {
		case inString:
			switch c {
			case '\\':
				i++ // the escaped character
			case '"':
				inString = false
			case '<', '>', '&':
				return false
			case 0xe2: // U+2028 and U+2029 are e2 80 a8 and e2 80 a9
				if i+2 < len(b) && b[i+1] == 0x80 && (b[i+2] == 0xa8 || b[i+2] == 0xa9) {
					return false
				}
			}
		case c == '"':
			inString = true
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			return false
		}
	}
	return true
}
