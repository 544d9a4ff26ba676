package otc

// JSON texts read by hand where encoding/json costs more than the work
// (docs/benchmarks.md): the event and API decoders read ids, names, types and
// timestamps field by field, a dozen per event, and split objects into their
// members.

import (
	"encoding/json"
	"iter"
	"strings"
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

// Key is the key of an object member as it is written: a JSON string
// literal, quotes included.
type Key []byte

// String returns k decoded (as JSONString does).
func (k Key) String() string {
	s, _ := JSONString(k)
	return s
}

// Is reports whether k decoded is name, without decoding a key that has
// nothing to unescape.
func (k Key) Is(name string) bool {
	if inner, ok := k.plain(); ok {
		return string(inner) == name
	}
	return k.String() == name
}

// EqualFold reports whether k decoded is name under simple Unicode
// case-folding (strings.EqualFold), as encoding/json matches keys to fields.
func (k Key) EqualFold(name string) bool {
	if inner, ok := k.plain(); ok {
		return strings.EqualFold(string(inner), name)
	}
	return strings.EqualFold(k.String(), name)
}

// plain returns what is between k's quotes when it has nothing to unescape.
func (k Key) plain() ([]byte, bool) {
	if n := len(k); n >= 2 && k[0] == '"' && k[n-1] == '"' && plain(k[1:n-1]) {
		return k[1 : n-1], true
	}
	return nil, false
}

// Members yields the members of the JSON object data in order: each key as
// it is written (a Key), each value as its bytes within data. data must be
// valid JSON (json.Valid, or decoded first); otherwise what it yields means
// nothing, but it does not panic. A document that is not an object yields
// nothing.
func Members(data []byte) iter.Seq2[Key, []byte] {
	return func(yield func(Key, []byte) bool) {
		i := skipSpace(data, 0)
		if i >= len(data) || data[i] != '{' {
			return
		}
		for i++; ; {
			i = skipSpace(data, i)
			if i >= len(data) || data[i] == '}' {
				return
			}
			if data[i] == ',' {
				i++
				continue
			}
			keyEnd := valueEnd(data, i)
			key := Key(data[i:keyEnd])
			i = skipSpace(data, keyEnd)
			if i >= len(data) || data[i] != ':' {
				return
			}
			i = skipSpace(data, i+1)
			end := valueEnd(data, i)
			if !yield(key, data[i:end]) {
				return
			}
			i = end
		}
	}
}

// valueEnd returns the index just past the JSON value that starts at
// data[i], or len(data) when it does not end.
func valueEnd(data []byte, i int) int {
	depth := 0
	for ; i < len(data); i++ {
		switch c := data[i]; {
		case c == '"':
			for i++; i < len(data) && data[i] != '"'; i++ {
				if data[i] == '\\' {
					i++
				}
			}
			if depth == 0 {
				return min(i+1, len(data))
			}
		case c == '{' || c == '[':
			depth++
		case c == '}' || c == ']':
			if depth == 0 {
				return i // a scalar ended by its container
			}
			if depth--; depth == 0 {
				return i + 1
			}
		case depth == 0 && (c == ',' || isSpace(c)):
			return i // a scalar
		}
	}
	return len(data)
}

func skipSpace(data []byte, i int) int {
	for i < len(data) && isSpace(data[i]) {
		i++
	}
	return i
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }
